package dev.edgeplane.controlplane.api;

import com.google.protobuf.Any;
import com.google.rpc.Code;
import com.google.rpc.RetryInfo;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;

/** RESOURCE_EXHAUSTED with a google.rpc.RetryInfo: the agent waits that long (its own back-off otherwise). */
public final class RetryLater {
    private RetryLater() {}

    public static StatusRuntimeException resourceExhausted(String message, Duration retryAfter) {
        return StatusProto.toStatusRuntimeException(com.google.rpc.Status.newBuilder()
                .setCode(Code.RESOURCE_EXHAUSTED_VALUE)
                .setMessage(message + "; retry in " + retryAfter.toMillis() + " ms")
                .addDetails(Any.pack(RetryInfo.newBuilder()
                        .setRetryDelay(com.google.protobuf.Duration.newBuilder()
                                .setSeconds(retryAfter.getSeconds()).setNanos(retryAfter.getNano()))
                        .build()))
                .build());
    }
}
