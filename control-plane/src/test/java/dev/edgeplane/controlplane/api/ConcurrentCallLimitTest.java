package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.AppServiceGrpc;
import io.grpc.Attributes;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConcurrentCallLimitTest {
    /** A call that records how it was closed. */
    static final class RecordingCall<Q, R> extends ServerCall<Q, R> {
        final MethodDescriptor<Q, R> method;
        Status closed;
        Metadata trailers;

        RecordingCall(MethodDescriptor<Q, R> method) {
            this.method = method;
        }

        @Override public void request(int n) {}
        @Override public void sendHeaders(Metadata headers) {}
        @Override public void sendMessage(R message) {}
        @Override public void close(Status status, Metadata trailers) {
            this.closed = status;
            this.trailers = trailers;
        }
        @Override public boolean isCancelled() {
            return false;
        }
        @Override public Attributes getAttributes() {
            return Attributes.EMPTY;
        }
        @Override public MethodDescriptor<Q, R> getMethodDescriptor() {
            return method;
        }
    }

    @Test
    void callsPastTheLimitAreRefusedNamingItAndFinishedCallsFreeTheirSlot() {
        ConcurrentCallLimit limit = new ConcurrentCallLimit(2);
        List<ServerCall<?, ?>> started = new ArrayList<>();
        ServerCallHandler<Object, Object> handler = (call, headers) -> {
            started.add(call);
            return new ServerCall.Listener<>() {};
        };
        @SuppressWarnings({"unchecked", "rawtypes"})
        MethodDescriptor<Object, Object> unary = (MethodDescriptor) AppServiceGrpc.getCreateAppMethod();
        RecordingCall<Object, Object> first = new RecordingCall<>(unary);
        RecordingCall<Object, Object> second = new RecordingCall<>(unary);
        RecordingCall<Object, Object> third = new RecordingCall<>(unary);
        limit.interceptCall(first, new Metadata(), handler);
        var secondListener = limit.interceptCall(second, new Metadata(), handler);
        limit.interceptCall(third, new Metadata(), handler);

        assertEquals(2, started.size(), "the third call never reaches the service");
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, third.closed.getCode());
        assertTrue(third.closed.getDescription().contains(ConcurrentCallLimit.SUBJECT), third.closed.getDescription());
        var details = io.grpc.protobuf.StatusProto.fromStatusAndTrailers(third.closed, third.trailers).getDetailsList();
        assertTrue(details.stream().anyMatch(d -> d.is(com.google.rpc.QuotaFailure.class))
                && details.stream().anyMatch(d -> d.is(com.google.rpc.RetryInfo.class)), "QuotaFailure and RetryInfo in " + details);

        // One finishes (closed by the service), one is cancelled by its client: both slots come back once.
        started.get(0).close(Status.OK, new Metadata());
        secondListener.onCancel();
        secondListener.onComplete();
        assertEquals(0, limit.inFlight());
        RecordingCall<Object, Object> fourth = new RecordingCall<>(unary);
        limit.interceptCall(fourth, new Metadata(), handler);
        assertNull(fourth.closed, "admitted again");

        // Streams (watches) are not counted.
        @SuppressWarnings({"unchecked", "rawtypes"})
        MethodDescriptor<Object, Object> watch = (MethodDescriptor) AppServiceGrpc.getWatchAppsMethod();
        for (int i = 0; i < 5; i++) {
            RecordingCall<Object, Object> stream = new RecordingCall<>(watch);
            limit.interceptCall(stream, new Metadata(), handler);
            assertNull(stream.closed);
        }
        assertEquals(1, limit.inFlight());
    }
}
