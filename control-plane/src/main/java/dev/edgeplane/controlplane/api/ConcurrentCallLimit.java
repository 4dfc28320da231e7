package dev.edgeplane.controlplane.api;

import com.google.protobuf.Any;
import com.google.rpc.Code;
import com.google.rpc.QuotaFailure;
import com.google.rpc.RetryInfo;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.spi.Prioritized;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Bounds the public API's unary calls in progress (edgeplane.limits.max-concurrent-calls). Quarkus runs
 * the {@code @Blocking} services on its worker pool (quarkus.thread-pool.max-threads) whose queue has no
 * bound, and a call refused by a full queue would never be answered; so calls past the limit are refused
 * here, on the event loop before any work, with RESOURCE_EXHAUSTED naming the limit and a retry hint.
 * Streaming calls (WatchApps, WatchEvents) hold no worker while they stream and are not counted.
 */
@GlobalInterceptor
@ApplicationScoped
public class ConcurrentCallLimit implements ServerInterceptor, Prioritized {
    static final String SUBJECT = "edgeplane.limits.max-concurrent-calls";

    private final int max;
    private final AtomicInteger inFlight = new AtomicInteger();

    @jakarta.inject.Inject
    public ConcurrentCallLimit(ControlPlaneConfig config) {
        this(config.limits().maxConcurrentCalls());
    }

    ConcurrentCallLimit(int max) {
        this.max = max;
    }

    /** After the call meter (1000), which then counts refusals too, and before the bearer check (0). */
    @Override
    public int getPriority() {
        return 500;
    }

    int inFlight() {
        return inFlight.get();
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        if (call.getMethodDescriptor().getType() != MethodDescriptor.MethodType.UNARY || max <= 0) {
            return next.startCall(call, headers);
        }
        if (inFlight.incrementAndGet() > max) {
            inFlight.decrementAndGet();
            com.google.rpc.Status status = com.google.rpc.Status.newBuilder()
                    .setCode(Code.RESOURCE_EXHAUSTED_VALUE)
                    .setMessage(SUBJECT + ": " + max + " calls in progress; retry shortly")
                    .addDetails(Any.pack(QuotaFailure.newBuilder().addViolations(QuotaFailure.Violation.newBuilder()
                            .setSubject(SUBJECT).setDescription(max + " public API calls are in progress")).build()))
                    .addDetails(Any.pack(RetryInfo.newBuilder()
                            .setRetryDelay(com.google.protobuf.Duration.newBuilder().setNanos(200_000_000)).build()))
                    .build();
            var refused = StatusProto.toStatusRuntimeException(status);
            call.close(refused.getStatus(), refused.getTrailers());
            return new ServerCall.Listener<>() {};
        }
        AtomicBoolean released = new AtomicBoolean();
        Runnable release = () -> {
            if (released.compareAndSet(false, true)) {
                inFlight.decrementAndGet();
            }
        };
        ServerCall<Q, R> counted = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                release.run();
                super.close(status, trailers);
            }
        };
        ServerCall.Listener<Q> listener;
        try {
            listener = next.startCall(counted, headers);
        } catch (RuntimeException e) {
            release.run();
            throw e;
        }
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
            @Override
            public void onCancel() {
                release.run();
                super.onCancel();
            }

            @Override
            public void onComplete() {
                release.run();
                super.onComplete();
            }
        };
    }
}
