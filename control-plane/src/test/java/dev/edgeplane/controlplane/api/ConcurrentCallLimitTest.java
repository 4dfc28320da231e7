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
        ConcurrentCallLimit limit = new ConcurrentCallLimit(2, 0, 0);
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

        // Streams do not count against the unary limit (they have their own).
        @SuppressWarnings({"unchecked", "rawtypes"})
        MethodDescriptor<Object, Object> watch = (MethodDescriptor) AppServiceGrpc.getWatchAppsMethod();
        for (int i = 0; i < 5; i++) {
            RecordingCall<Object, Object> stream = new RecordingCall<>(watch);
            limit.interceptCall(stream, new Metadata(), handler);
            assertNull(stream.closed);
        }
        assertEquals(1, limit.inFlight());
    }

    private static Metadata bearer(String token) {
        Metadata headers = new Metadata();
        headers.put(ConcurrentCallLimit.AUTHORIZATION, "Bearer " + token);
        return headers;
    }

    private static void assertRefusedNaming(RecordingCall<?, ?> call, String subject) {
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, call.closed.getCode());
        assertTrue(call.closed.getDescription().startsWith(subject + ":"), call.closed.getDescription());
        var details = io.grpc.protobuf.StatusProto.fromStatusAndTrailers(call.closed, call.trailers).getDetailsList();
        assertTrue(details.stream().anyMatch(d -> d.is(com.google.rpc.QuotaFailure.class))
                && details.stream().anyMatch(d -> d.is(com.google.rpc.RetryInfo.class)), "QuotaFailure and RetryInfo in " + details);
    }

    @Test
    void streamsPastTheLimitsInAllAndPerCallerAreRefusedNamingTheLimitAndEndedStreamsFreeTheirSlot() {
        ConcurrentCallLimit limit = new ConcurrentCallLimit(1, 3, 2);
        List<ServerCall<?, ?>> started = new ArrayList<>();
        ServerCallHandler<Object, Object> handler = (call, headers) -> {
            started.add(call);
            return new ServerCall.Listener<>() {};
        };
        @SuppressWarnings({"unchecked", "rawtypes"})
        MethodDescriptor<Object, Object> watchApps = (MethodDescriptor) AppServiceGrpc.getWatchAppsMethod();
        @SuppressWarnings({"unchecked", "rawtypes"})
        MethodDescriptor<Object, Object> watchEvents = (MethodDescriptor) dev.edgeplane.api.v1.EventServiceGrpc.getWatchEventsMethod();

        RecordingCall<Object, Object> a1 = new RecordingCall<>(watchApps);
        RecordingCall<Object, Object> a2 = new RecordingCall<>(watchEvents);
        RecordingCall<Object, Object> a3 = new RecordingCall<>(watchApps);
        var a1Listener = limit.interceptCall(a1, bearer("alice"), handler);
        limit.interceptCall(a2, bearer("alice"), handler);
        limit.interceptCall(a3, bearer("alice"), handler);
        assertNull(a1.closed);
        assertNull(a2.closed);
        assertRefusedNaming(a3, ConcurrentCallLimit.STREAMS_PER_CALLER_SUBJECT);

        RecordingCall<Object, Object> b1 = new RecordingCall<>(watchApps);
        RecordingCall<Object, Object> c1 = new RecordingCall<>(watchEvents);
        limit.interceptCall(b1, bearer("bob"), handler);
        limit.interceptCall(c1, bearer("carol"), handler);
        assertNull(b1.closed, "another caller still has room");
        assertRefusedNaming(c1, ConcurrentCallLimit.STREAMS_SUBJECT);
        assertEquals(3, started.size(), "refused streams never reach the service");
        assertEquals(3, limit.streams());
        assertEquals(0, limit.inFlight(), "streams are not unary calls in flight");

        // A client cancels one of alice's watches, the service ends bob's: both slots come back, once each.
        a1Listener.onCancel();
        a1Listener.onComplete();
        started.get(2).close(Status.OK, new Metadata());
        assertEquals(1, limit.streams());
        RecordingCall<Object, Object> a4 = new RecordingCall<>(watchApps);
        RecordingCall<Object, Object> c2 = new RecordingCall<>(watchApps);
        limit.interceptCall(a4, bearer("alice"), handler);
        limit.interceptCall(c2, bearer("carol"), handler);
        assertNull(a4.closed, "alice has room again");
        assertNull(c2.closed, "and so has the server");
    }

    /** A WatchApps that streams nothing and stays open until its client goes away. */
    static final class OpenWatches extends AppServiceGrpc.AppServiceImplBase {
        @Override
        public void watchApps(dev.edgeplane.api.v1.WatchAppsRequest request,
                              io.grpc.stub.StreamObserver<dev.edgeplane.api.v1.AppEvent> responseObserver) {
            ((io.grpc.stub.ServerCallStreamObserver<dev.edgeplane.api.v1.AppEvent>) responseObserver).setOnCancelHandler(() -> {});
        }
    }

    @Test
    void throughARealServerAWatchPastTheLimitIsRefusedAndACancelledWatchFreesItsSlot() throws Exception {
        ConcurrentCallLimit limit = new ConcurrentCallLimit(8, 2, 2);
        io.grpc.Server server = io.grpc.netty.NettyServerBuilder.forAddress(new java.net.InetSocketAddress("127.0.0.1", 0))
                .addService(io.grpc.ServerInterceptors.intercept(new OpenWatches(), limit))
                .build().start();
        io.grpc.ManagedChannel channel = io.grpc.netty.NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        List<io.grpc.Context.CancellableContext> watches = new ArrayList<>();
        try {
            AppServiceGrpc.AppServiceStub stub = AppServiceGrpc.newStub(channel);
            java.util.concurrent.LinkedBlockingQueue<Throwable> errors = new java.util.concurrent.LinkedBlockingQueue<>();
            io.grpc.stub.StreamObserver<dev.edgeplane.api.v1.AppEvent> observer = new io.grpc.stub.StreamObserver<>() {
                @Override public void onNext(dev.edgeplane.api.v1.AppEvent value) {}
                @Override public void onError(Throwable t) {
                    errors.add(t);
                }
                @Override public void onCompleted() {}
            };
            Runnable openOne = () -> {
                io.grpc.Context.CancellableContext context = io.grpc.Context.current().withCancellation();
                watches.add(context);
                context.run(() -> stub.watchApps(dev.edgeplane.api.v1.WatchAppsRequest.getDefaultInstance(), observer));
            };
            openOne.run();
            openOne.run();
            awaitTrue(() -> limit.streams() == 2, "two watches open");
            openOne.run();
            Throwable refused = errors.poll(10, java.util.concurrent.TimeUnit.SECONDS);
            assertTrue(refused != null, "the third watch is refused");
            Status status = Status.fromThrowable(refused);
            assertEquals(Status.Code.RESOURCE_EXHAUSTED, status.getCode());
            assertTrue(status.getDescription().startsWith(ConcurrentCallLimit.STREAMS_SUBJECT + ":")
                    || status.getDescription().startsWith(ConcurrentCallLimit.STREAMS_PER_CALLER_SUBJECT + ":"), status.getDescription());
            var retry = io.grpc.protobuf.StatusProto.fromThrowable(refused).getDetailsList().stream()
                    .filter(d -> d.is(com.google.rpc.RetryInfo.class)).findFirst();
            assertTrue(retry.isPresent(), "with a retry hint");

            watches.get(0).cancel(null);
            awaitTrue(() -> limit.streams() == 1, "a cancelled watch frees its slot");
            openOne.run();
            awaitTrue(() -> limit.streams() == 2, "and another watch takes it");
            // The only error since is the cancelled watch's own CANCELLED: the new one was not refused.
            Throwable since;
            while ((since = errors.poll()) != null) {
                assertEquals(Status.Code.CANCELLED, Status.fromThrowable(since).getCode(), "no refusal: " + since);
            }
        } finally {
            watches.forEach(w -> w.cancel(null));
            channel.shutdownNow();
            server.shutdownNow();
            channel.awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
            server.awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    private static void awaitTrue(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, what);
            Thread.sleep(10);
        }
    }
}
