package dev.edgeplane.agent.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.sun.net.httpserver.HttpServer;
import dev.edgeplane.agent.Await;
import dev.edgeplane.agent.events.EventRecorder;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.ExecAction;
import dev.edgeplane.api.v1.GRPCAction;
import dev.edgeplane.api.v1.HTTPGetAction;
import dev.edgeplane.api.v1.HTTPHeader;
import dev.edgeplane.api.v1.ObjectReference;
import dev.edgeplane.api.v1.Probe;
import dev.edgeplane.api.v1.TCPSocketAction;
import dev.edgeplane.cri.v1.ExecSyncResponse;
import dev.edgeplane.grpchealth.v1.HealthCheckRequest;
import dev.edgeplane.grpchealth.v1.HealthCheckResponse;
import dev.edgeplane.grpchealth.v1.HealthGrpc;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Each kind of check against a real server on loopback, and the manager's verdicts over time. */
class ProberTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final Duration TIMEOUT = Duration.ofMillis(500);
    private HttpServer http;
    private final AtomicInteger httpStatus = new AtomicInteger(200);
    private final AtomicReference<String> lastAgentHeader = new AtomicReference<>();
    private final CountDownLatch hang = new CountDownLatch(1);
    private final AtomicInteger hangs = new AtomicInteger();
    private final Prober prober = new Prober((id, command, timeout) -> ExecSyncResponse.newBuilder()
            .setExitCode(command.get(0).equals("true") ? 0 : 1).setStderr(ByteString.copyFromUtf8("nope")).build());

    @BeforeEach
    void startHttp() throws Exception {
        http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        http.createContext("/healthz", exchange -> {
            lastAgentHeader.set(exchange.getRequestHeaders().getFirst("X-Check"));
            exchange.sendResponseHeaders(httpStatus.get(), -1);
            exchange.close();
        });
        http.createContext("/hang", exchange -> {
            hangs.incrementAndGet();
            try {
                hang.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            exchange.close();
        });
        http.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
        http.start();
    }

    @AfterEach
    void stopHttp() {
        hang.countDown();
        http.stop(0);
    }

    private Probe httpGet(String path) {
        return Probe.newBuilder().setHttpGet(HTTPGetAction.newBuilder().setPath(path).setPort(http.getAddress().getPort())
                .addHttpHeaders(HTTPHeader.newBuilder().setName("X-Check").setValue("yes"))).build();
    }

    @Test
    void httpGetPassesOn2xxAnd3xxAndFailsOtherwiseOrOnTimeout() {
        assertTrue(prober.check(httpGet("/healthz"), "c", TIMEOUT).success());
        assertEquals("yes", lastAgentHeader.get(), "the probe's headers are sent");
        httpStatus.set(302);
        assertTrue(prober.check(httpGet("/healthz"), "c", TIMEOUT).success(), "a redirect counts as success (not followed elsewhere)");
        httpStatus.set(503);
        Prober.Outcome failed = prober.check(httpGet("/healthz"), "c", TIMEOUT);
        assertFalse(failed.success());
        assertTrue(failed.message().contains("503"), failed.message());
        Prober.Outcome hung = prober.check(httpGet("/hang"), "c", TIMEOUT);
        assertFalse(hung.success());
        assertTrue(hung.message().contains("timed out"), hung.message());
    }

    @Test
    void tcpSocketPassesWhenTheConnectionOpens() throws Exception {
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
            assertTrue(prober.check(tcp(port), "c", TIMEOUT).success());
        }
        Prober.Outcome refused = prober.check(tcp(port), "c", TIMEOUT);
        assertFalse(refused.success());
        assertTrue(refused.message().contains("127.0.0.1:" + port), refused.message());
    }

    private static Probe tcp(int port) {
        return Probe.newBuilder().setTcpSocket(TCPSocketAction.newBuilder().setPort(port)).build();
    }

    @Test
    void execPassesOnExitZeroAndSaysWhatTheCommandPrinted() {
        assertTrue(prober.check(Probe.newBuilder().setExec(ExecAction.newBuilder().addCommand("true")).build(), "c", TIMEOUT).success());
        Prober.Outcome failed = prober.check(Probe.newBuilder().setExec(ExecAction.newBuilder().addCommand("false")).build(), "c", TIMEOUT);
        assertEquals("command exited with code 1: nope", failed.message());
    }

    @Test
    void grpcAsksTheStandardHealthService() throws Exception {
        AtomicReference<HealthCheckResponse.ServingStatus> serving = new AtomicReference<>(HealthCheckResponse.ServingStatus.SERVING);
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(new HealthGrpc.HealthImplBase() {
            @Override
            public void check(HealthCheckRequest request, StreamObserver<HealthCheckResponse> response) {
                response.onNext(HealthCheckResponse.newBuilder().setStatus(request.getService().equals("shop")
                        ? serving.get() : HealthCheckResponse.ServingStatus.SERVICE_UNKNOWN).build());
                response.onCompleted();
            }
        }).build().start();
        try {
            Probe probe = Probe.newBuilder().setGrpc(GRPCAction.newBuilder().setPort(server.getPort()).setService("shop")).build();
            assertTrue(prober.check(probe, "c", TIMEOUT).success());
            serving.set(HealthCheckResponse.ServingStatus.NOT_SERVING);
            assertEquals("gRPC health check: NOT_SERVING", prober.check(probe, "c", TIMEOUT).message());
        } finally {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void theManagerTurnsOutcomesIntoVerdictsWithStartupGatingTheOthers() throws Exception {
        List<String> events = new CopyOnWriteArrayList<>();
        EventRecorder recorder = (level, object, reason, message) -> events.add(reason + ": " + message);
        AtomicInteger changes = new AtomicInteger();
        try (ProberManager manager = new ProberManager(prober, 2, recorder, Clock.systemUTC())) {
            manager.addListener(changes::incrementAndGet);
            Probe fast = httpGet("/healthz").toBuilder().setPeriodSeconds(1).setFailureThreshold(2).build();
            Container spec = Container.newBuilder().setName("web").setStartupProbe(fast).setReadinessProbe(fast).setLivenessProbe(fast).build();
            httpStatus.set(503);
            manager.syncPod("ns/web-0", ObjectReference.getDefaultInstance(), List.of(new ProberManager.RunningContainer("c1", spec, Instant.now())));
            assertEquals(new ProberManager.Verdict(false, false, java.util.Optional.empty(), ""), manager.verdict("c1"),
                    "not started, so not ready, and nothing to restart yet");
            Await.until(WAIT, "the startup probe fails twice: restart", () -> manager.verdict("c1").restart().isPresent());
            assertTrue(manager.verdict("c1").restart().get().startsWith("Startup probe failed: HTTP probe failed with status code 503"),
                    manager.verdict("c1").toString());
            assertFalse(manager.verdict("c1").ready());
            assertTrue(events.stream().anyMatch(e -> e.startsWith("Unhealthy: container web: Startup probe failed")), events.toString());

            // The restarted container (a new id) starts over; this time the server answers.
            httpStatus.set(200);
            manager.syncPod("ns/web-0", ObjectReference.getDefaultInstance(), List.of(new ProberManager.RunningContainer("c2", spec, Instant.now())));
            assertEquals(ProberManager.Verdict.NO_PROBES, manager.verdict("c1"), "the old container's probes are gone");
            Await.until(WAIT, "started and ready", () -> manager.verdict("c2").ready());
            assertEquals(2, manager.probes(), "the startup probe stops once it passed");

            httpStatus.set(500);
            // Two probes on their own timers: wait for both verdicts, not the first one in.
            Await.until(WAIT, "liveness fails: restart; readiness fails alongside",
                    () -> manager.verdict("c2").restart().isPresent() && !manager.verdict("c2").ready());
            assertTrue(changes.get() >= 3, "listeners heard every change: " + changes.get());

            manager.removePod("ns/web-0");
            assertEquals(0, manager.probes());
        }
    }

    @Test
    void aHungCheckNeverStacksUpAndIsBoundedByItsTimeout() throws Exception {
        try (ProberManager manager = new ProberManager(prober, 1, EventRecorder.NONE, Clock.systemUTC())) {
            Probe slow = httpGet("/hang").toBuilder().setPeriodSeconds(1).setTimeoutSeconds(3).setFailureThreshold(1).build();
            Container spec = Container.newBuilder().setName("web").setReadinessProbe(slow).build();
            manager.syncPod("ns/web-0", ObjectReference.getDefaultInstance(), List.of(new ProberManager.RunningContainer("c1", spec, Instant.now())));
            Thread.sleep(2_500);
            assertEquals(1, hangs.get(), "one check in flight at a time, though the period is shorter than the timeout");
            Await.until(WAIT, "the timeout fails it", () -> manager.verdict("c1").failure().contains("timed out"));
        }
    }
}
