package dev.edgeplane.tunnel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.Grant;
import dev.edgeplane.api.v1.HttpProxyRequest;
import dev.edgeplane.api.v1.HttpProxyResponse;
import dev.edgeplane.api.v1.OpenTunnel;
import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.PortForwardStart;
import dev.edgeplane.tunnel.client.StreamPipe;
import dev.edgeplane.tunnel.grant.GrantSigner;
import dev.edgeplane.tunnel.hub.HubSettings;
import dev.edgeplane.tunnel.policy.Allowlist;
import com.sun.net.httpserver.HttpServer;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Port-forward, HTTP proxy, refusals and an offline node, through both real ends over loopback HTTP/2. */
class TunnelTest {
    private EchoServer echo;
    private HttpServer metrics;
    private TunnelFixture tunnel;

    @BeforeEach
    void start() throws Exception {
        echo = new EchoServer();
        metrics = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        metrics.createContext("/metrics", exchange -> {
            byte[] body = "up 1\n".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "text/plain");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        metrics.start();
        Allowlist allowlist = new Allowlist(Set.of(echo.port()), Set.of(), false, Set.of(metrics.getAddress().getPort()),
                false, false, 22, true);
        tunnel = new TunnelFixture(allowlist, HubSettings.defaults().withDialTimeout(java.time.Duration.ofSeconds(5)),
                Optional.empty(), Map.of());
    }

    @AfterEach
    void stop() throws Exception {
        tunnel.close();
        metrics.stop(0);
        echo.close();
    }

    private byte[] forward(int port, byte[] payload) throws InterruptedException {
        ByteArrayOutputStream received = new ByteArrayOutputStream();
        StreamPipe.run(tunnel.ops(), StreamPipe.Kind.PORT_FORWARD, PortForwardStart.newBuilder()
                .setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE)).setPort(port).build(),
                new ByteArrayInputStream(payload), received);
        return received.toByteArray();
    }

    @Test
    void portForwardCarriesBytesBothWaysAndHalfCloses() throws Exception {
        byte[] payload = new byte[3 * 1024 * 1024 + 17];
        new Random(7).nextBytes(payload);
        assertArrayEquals(payload, forward(echo.port(), payload));
        assertTrue(tunnel.hubAudit.recent().stream().anyMatch(a -> a.outcome().equals("ok") && a.bytesIn() == payload.length
                && a.bytesOut() == payload.length && a.subject().equals("tester")), () -> "hub audit " + tunnel.hubAudit.recent());
        Poll.until(() -> tunnel.agentAudit.recent().size() == 1, "agent audit record");
        assertEquals(payload.length, tunnel.agentAudit.recent().get(0).bytesIn());
    }

    @Test
    void aSlowOperatorAndABusyTargetLoseNothing() throws Exception {
        // The operator drains its side slowly: the hub stops asking the agent, the agent's stream stops
        // being ready and its socket thread stops reading the target (then resumes on onReady); the
        // target's socket buffers fill on the way in, so writes to it complete in parts.
        byte[] payload = new byte[8 * 1024 * 1024 + 5];
        new Random(11).nextBytes(payload);
        ByteArrayOutputStream received = new ByteArrayOutputStream();
        java.io.OutputStream slow = new java.io.OutputStream() {
            @Override
            public void write(int b) {
                received.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                try {
                    Thread.sleep(3);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                received.write(b, off, len);
            }
        };
        StreamPipe.run(tunnel.ops(), StreamPipe.Kind.PORT_FORWARD, PortForwardStart.newBuilder()
                .setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE)).setPort(echo.port()).build(),
                new ByteArrayInputStream(payload), slow);
        assertArrayEquals(payload, received.toByteArray());
    }

    @Test
    void aPortNobodyListensOnIsUnavailable() throws Exception {
        int closed;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        tunnel.close();
        tunnel = new TunnelFixture(new Allowlist(Set.of(closed), Set.of(), false, Set.of(), false, false, 22, true),
                HubSettings.defaults(), Optional.empty(), Map.of());
        int port = closed;
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> forward(port, new byte[] {1}));
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("cannot connect"), e.getStatus().toString());
        Poll.until(() -> tunnel.agent.activeSessions() == 0 && tunnel.hub.openSessions() == 0, "both ends closed");
    }

    @Test
    void tcpSessionsTakeNoThreadOfTheirOwn() throws Exception {
        java.util.List<java.io.PipedOutputStream> feeds = new java.util.ArrayList<>();
        for (int i = 0; i < 10; i++) {
            java.io.PipedOutputStream feed = new java.io.PipedOutputStream();
            feeds.add(feed);
            openSession(feed, i + 1);
        }
        long sessionThreads = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("tunnel-port_forward")).count();
        long socketThreads = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals("edge-tunnel-io")).count();
        assertEquals(0, sessionThreads);
        assertEquals(1, socketThreads);
        // Idle sessions leave the socket thread asleep (it once spun on a connected socket's OP_CONNECT):
        // a spinning thread gets hundreds of ms of CPU in 2 s even on a busy host, a sleeping one next to none.
        Thread io = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals("edge-tunnel-io")).findFirst().orElseThrow();
        java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
        long cpu = threads.getThreadCpuTime(io.getId());
        Thread.sleep(2_000);
        long idleCpuMs = (threads.getThreadCpuTime(io.getId()) - cpu) / 1_000_000;
        assertTrue(idleCpuMs < 50, "the socket thread used " + idleCpuMs + " ms of CPU in 2 s with idle sessions");
        for (java.io.PipedOutputStream feed : feeds) {
            feed.close();
        }
        Poll.until(() -> tunnel.agent.activeSessions() == 0 && tunnel.hub.openSessions() == 0, "all sessions closed");
    }

    @Test
    void httpProxyReachesAnAllowlistedPort() {
        HttpProxyResponse response = tunnel.opsBlocking().httpProxy(HttpProxyRequest.newBuilder()
                .setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE)).setPort(metrics.getAddress().getPort())
                .setPath("/metrics").build());
        assertEquals(200, response.getStatus());
        assertEquals("up 1\n", response.getBody().toStringUtf8());
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> tunnel.opsBlocking()
                .httpProxy(HttpProxyRequest.newBuilder().setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE))
                        .setPort(echo.port()).setPath("/").build()));
        assertEquals(Status.Code.PERMISSION_DENIED, refused.getStatus().getCode());
    }

    @Test
    void portOutsideTheAllowlistIsRefused() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> forward(metrics.getAddress().getPort(), new byte[1]));
        assertEquals(Status.Code.PERMISSION_DENIED, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("allowlist"), e.getStatus().getDescription());
    }

    @Test
    void execAndShellAreRefusedWhenTheHostDisallowsThem() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> StreamPipe.run(tunnel.ops(), StreamPipe.Kind.SSH,
                PortForwardStart.newBuilder().setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE)).build(),
                new ByteArrayInputStream(new byte[0]), new ByteArrayOutputStream()));
        assertEquals(Status.Code.PERMISSION_DENIED, e.getStatus().getCode());
    }

    @Test
    void aSessionWithoutAGrantIsRefused() {
        tunnel.deliver = open -> open.toBuilder().clearGrant().build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> forward(echo.port(), new byte[1]));
        assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
    }

    @Test
    void aGrantSignedByAnotherKeyIsRefused() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        var foreign = generator.generateKeyPair().getPrivate();
        tunnel.deliver = open -> open.toBuilder().setGrant(GrantSigner.sign(grantOf(open), foreign)).build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> forward(echo.port(), new byte[1]));
        assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
    }

    @Test
    void aTamperedGrantIsRefused() {
        // The signature covers the bytes: widening the port after signing breaks it.
        tunnel.deliver = open -> {
            Grant g = grantOf(open);
            Grant widened = g.toBuilder().setRequest(g.getRequest().toBuilder().setPort(22)).build();
            return open.toBuilder().setGrant(open.getGrant().toBuilder().setGrant(widened.toByteString())).build();
        };
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> forward(echo.port(), new byte[1]));
        assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
    }

    @Test
    void anExpiredGrantIsRefused() {
        tunnel.deliver = open -> {
            Instant past = Instant.now().minusSeconds(300);
            Grant expired = grantOf(open).toBuilder()
                    .setIssuedAt(Timestamp.newBuilder().setSeconds(past.getEpochSecond() - 60))
                    .setExpiresAt(Timestamp.newBuilder().setSeconds(past.getEpochSecond())).build();
            return open.toBuilder().setGrant(GrantSigner.sign(expired, tunnel.caKey.getPrivate())).build();
        };
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> forward(echo.port(), new byte[1]));
        assertEquals(Status.Code.PERMISSION_DENIED, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("expired"), e.getStatus().getDescription());
    }

    @Test
    void aReplayedGrantIsRefused() throws Exception {
        OpenTunnel[] first = new OpenTunnel[1];
        tunnel.deliver = open -> {
            first[0] = open;
            return open;
        };
        assertArrayEquals(new byte[] {1}, forward(echo.port(), new byte[] {1}));
        tunnel.agent.open(first[0]); // the same grant again: refused at the agent, nobody waits for it
        Poll.until(() -> tunnel.agentAudit.recent().stream().anyMatch(a -> a.outcome().contains("already used")), "replay refused");
    }

    @Test
    void aNodeThatIsOfflineFailsFastWithUnavailable() {
        tunnel.online = false;
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> tunnel.opsBlocking()
                .withDeadlineAfter(3, TimeUnit.SECONDS)
                .httpProxy(HttpProxyRequest.newBuilder().setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE))
                        .setPort(metrics.getAddress().getPort()).build()));
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        StatusRuntimeException pf = assertThrows(StatusRuntimeException.class, () -> forward(echo.port(), new byte[1]));
        assertEquals(Status.Code.UNAVAILABLE, pf.getStatus().getCode());
        assertEquals(0, tunnel.hub.openSessions());
    }

    @Test
    void aReplicaTargetThatIsNotAssignedIsNotFound() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> tunnel.opsBlocking()
                .httpProxy(HttpProxyRequest.newBuilder().setTarget(OpsTarget.newBuilder().setNamespace("default").setReplica("nope"))
                        .setPort(80).build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    }

    /** A port-forward session whose local side stays open (and silent) until the test ends it. */
    private java.util.concurrent.CompletableFuture<Status> openSession(java.io.PipedOutputStream feed) throws Exception {
        return openSession(feed, 1);
    }

    /** The same, waiting until the agent serves {@code open} sessions. */
    private java.util.concurrent.CompletableFuture<Status> openSession(java.io.PipedOutputStream feed, int open) throws Exception {
        java.io.PipedInputStream in = new java.io.PipedInputStream(feed);
        java.util.concurrent.CompletableFuture<Status> result = new java.util.concurrent.CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                StreamPipe.run(tunnel.ops(), StreamPipe.Kind.PORT_FORWARD, PortForwardStart.newBuilder()
                        .setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE)).setPort(echo.port()).build(),
                        in, new ByteArrayOutputStream());
                result.complete(Status.OK);
            } catch (StatusRuntimeException e) {
                result.complete(e.getStatus());
            } catch (InterruptedException e) {
                result.complete(Status.CANCELLED);
            }
        });
        t.setDaemon(true);
        t.start();
        Poll.until(() -> tunnel.agent.activeSessions() == open, open + " sessions open on the agent");
        return result;
    }

    @Test
    void aDeadAgentConnectionEndsTheOperatorsSession() throws Exception {
        java.io.PipedOutputStream feed = new java.io.PipedOutputStream();
        var result = openSession(feed);
        tunnel.agentChannel.shutdownNow(); // the edge host's link dies
        assertEquals(Status.Code.UNAVAILABLE, result.get(15, TimeUnit.SECONDS).getCode());
        Poll.until(() -> tunnel.hub.openSessions() == 0 && tunnel.agent.activeSessions() == 0, "both ends closed");
        feed.close();
    }

    @Test
    void anOperatorThatGoesAwayEndsTheAgentsSession() throws Exception {
        java.io.PipedOutputStream feed = new java.io.PipedOutputStream();
        var result = openSession(feed);
        tunnel.operatorChannel.shutdownNow(); // the operator's link dies
        result.get(15, TimeUnit.SECONDS);
        Poll.until(() -> tunnel.agent.activeSessions() == 0 && tunnel.hub.openSessions() == 0, "both ends closed");
        assertTrue(tunnel.agentAudit.recent().get(0).outcome().contains("cancelled"), tunnel.agentAudit.recent().toString());
        feed.close();
    }

    @Test
    void anIdleSessionIsClosed() throws Exception {
        tunnel.close();
        tunnel = new TunnelFixture(new Allowlist(Set.of(echo.port()), Set.of(), false, Set.of(), false, false, 22, true),
                HubSettings.defaults().withIdleTimeout(java.time.Duration.ofMillis(600)), Optional.empty(), Map.of());
        java.io.PipedOutputStream feed = new java.io.PipedOutputStream();
        var result = openSession(feed);
        assertEquals(Status.Code.DEADLINE_EXCEEDED, result.get(15, TimeUnit.SECONDS).getCode());
        Poll.until(() -> tunnel.agent.activeSessions() == 0, "the agent's side closed");
        feed.close();
    }

    private static Grant grantOf(OpenTunnel open) {
        try {
            return Grant.parseFrom(open.getGrant().getGrant());
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
    }
}
