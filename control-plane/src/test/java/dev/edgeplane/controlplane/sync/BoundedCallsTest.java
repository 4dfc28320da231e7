package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.rpc.RetryInfo;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.JoinRequest;
import dev.edgeplane.api.v1.JoinResponse;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/** The agent endpoint's bounded call pool, saturated: new calls are refused with a RetryInfo, admitted ones finish. */
class BoundedCallsTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    private static void await(String what, BooleanSupplier condition) {
        TestApi.await(what, WAIT, condition);
    }

    @Test
    void theRetryHintFollowsTheBacklogWithinItsBounds() {
        try (BoundedCalls calls = new BoundedCalls(2, 10)) {
            assertEquals(Duration.ofMillis(100), calls.retryAfter(0), "never less than 100 ms");
            for (int i = 0; i < 20; i++) {
                Duration hint = calls.retryAfter(2_000); // 2,000 tasks of ~1 ms on 2 threads: ~1 s, spread over [1x, 2x)
                assertTrue(hint.compareTo(Duration.ofMillis(999)) >= 0 && hint.compareTo(Duration.ofMillis(2000)) <= 0, hint.toString());
            }
            assertEquals(Duration.ofSeconds(30), calls.retryAfter(100_000_000), "never more than 30 s");
        }
    }

    /** Join that waits for {@code release} before answering: it holds its pool thread. */
    private static final class SlowJoin extends AgentServiceGrpc.AgentServiceImplBase {
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicInteger started = new AtomicInteger();

        @Override
        public void join(JoinRequest request, StreamObserver<JoinResponse> responseObserver) {
            started.incrementAndGet();
            try {
                release.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            responseObserver.onNext(JoinResponse.newBuilder().setNodeName(request.getNodeName()).build());
            responseObserver.onCompleted();
        }
    }

    @Test
    void aSaturatedPoolRefusesNewCallsWithRetryInfoAndServesTheAdmittedOnes() throws Exception {
        SlowJoin service = new SlowJoin();
        // One thread, a backlog of 2: one call runs, two wait, the fourth is refused.
        try (BoundedCalls calls = new BoundedCalls(1, 2)) {
            Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                    .directExecutor().intercept(calls).addService(service).build().start();
            // directExecutor: answers are observed in the order they arrive on the connection (on the
            // default executor, two answers could be handed to two threads and overtake each other).
            ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext()
                    .directExecutor().build();
            try {
                AgentServiceGrpc.AgentServiceStub stub = AgentServiceGrpc.newStub(channel);
                LinkedBlockingQueue<String> answered = new LinkedBlockingQueue<>();
                LinkedBlockingQueue<Throwable> failed = new LinkedBlockingQueue<>();
                StreamObserver<JoinResponse> observer = new StreamObserver<>() {
                    @Override public void onNext(JoinResponse value) {
                        answered.add(value.getNodeName());
                    }
                    @Override public void onError(Throwable t) {
                        failed.add(t);
                    }
                    @Override public void onCompleted() {}
                };
                List<String> admitted = new ArrayList<>();
                for (int i = 1; i <= 3; i++) {
                    stub.join(JoinRequest.newBuilder().setNodeName("n" + i).build(), observer);
                    admitted.add("n" + i);
                    int started = i;
                    // Deterministic order: the first runs, the next ones are queued behind it before the next is sent.
                    await("call " + i + " in", () -> service.started.get() == 1 && (started == 1 || queued(calls) >= started - 1));
                }
                stub.join(JoinRequest.newBuilder().setNodeName("n4").build(), observer);
                Throwable refused = failed.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
                assertNotNull(refused, "the fourth call is refused");
                Status status = Status.fromThrowable(refused);
                assertEquals(Status.Code.RESOURCE_EXHAUSTED, status.getCode());
                assertTrue(status.getDescription().contains("edgeplane.agent.max-queued-tasks=2"), status.getDescription());
                RetryInfo retry = StatusProto.fromThrowable(refused).getDetailsList().stream()
                        .filter(d -> d.is(RetryInfo.class)).findFirst().orElseThrow().unpack(RetryInfo.class);
                long retryMs = retry.getRetryDelay().getSeconds() * 1000 + retry.getRetryDelay().getNanos() / 1_000_000;
                assertTrue(retryMs >= 100 && retryMs <= 30_000, "a retry hint the agent can honour: " + retryMs + " ms");
                assertEquals(1, calls.refusedCalls());

                service.release.countDown();
                List<String> done = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    String name = answered.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
                    assertNotNull(name, "every admitted call is answered");
                    done.add(name);
                }
                assertEquals(admitted, done, "in order, none lost");
                assertNull(failed.poll(), "no other call failed");

                // Drained: new calls are admitted again. An answered call may still have its completion
                // callback queued (the client can see the answer first), and that counts as backlog: wait it
                // out. One can still be queued after that (the server hears of the completion later), so a
                // refusal now is retried after its hint, as an agent does; what must not happen is refusing for good.
                await("the backlog drained", () -> queued(calls) == 0);
                long deadline = System.nanoTime() + WAIT.toNanos();
                String fifth = null;
                while (fifth == null) {
                    stub.join(JoinRequest.newBuilder().setNodeName("n5").build(), observer);
                    Throwable again = null;
                    while (fifth == null && again == null) {
                        assertTrue(System.nanoTime() < deadline, "n5 neither answered nor refused in " + WAIT);
                        fifth = answered.poll(50, TimeUnit.MILLISECONDS);
                        again = fifth == null ? failed.poll() : null;
                    }
                    if (again != null) {
                        assertEquals(Status.Code.RESOURCE_EXHAUSTED, Status.fromThrowable(again).getCode(), again.toString());
                        assertTrue(System.nanoTime() < deadline, "n5 still refused after " + WAIT);
                        Thread.sleep(100);
                    }
                }
                assertEquals("n5", fifth);
            } finally {
                service.release.countDown();
                channel.shutdownNow();
                server.shutdownNow();
                channel.awaitTermination(5, TimeUnit.SECONDS);
                server.awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    private static int queued(BoundedCalls calls) {
        return calls.backlog();
    }
}
