package dev.edgeplane.tunnel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.PortForwardStart;
import dev.edgeplane.tunnel.client.StreamPipe;
import dev.edgeplane.tunnel.hub.HubSettings;
import dev.edgeplane.tunnel.policy.Allowlist;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * 1,000 sessions opened and closed (8 at a time): afterwards no session, stream, thread, socket or
 * file descriptor is left over on either end.
 */
class SessionLeakTest {
    private static final int SESSIONS = 1_000;
    private static final int PARALLEL = 8;

    @Test
    void thousandSessionsLeaveNothingBehind() throws Exception {
        try (EchoServer echo = new EchoServer();
             TunnelFixture tunnel = new TunnelFixture(new Allowlist(Set.of(echo.port()), Set.of(), false, Set.of(), false, false, 22, true),
                     HubSettings.defaults(), Optional.empty(), Map.of())) {
            ExecutorService pool = Executors.newFixedThreadPool(PARALLEL);
            try {
                run(tunnel, echo, pool, 50); // warm up: channels connected, pools filled
                int threadsBefore = threads();
                long sessionThreadsBefore = sessionThreads();
                long fdsBefore = fds();
                run(tunnel, echo, pool, SESSIONS);
                Poll.until(() -> tunnel.hub.openSessions() == 0 && tunnel.agent.activeSessions() == 0, "all sessions closed");
                // Session threads end with their sessions; gRPC's and Netty's own pools are bounded
                // (they may have grown to the parallelism used, not to the number of sessions).
                Poll.until(() -> sessionThreads() <= sessionThreadsBefore, "session threads gone (now " + sessionThreads() + ")");
                Poll.until(() -> threads() <= threadsBefore + PARALLEL, "threads back near " + threadsBefore + " (now " + threads() + ")");
                Poll.until(() -> fds() <= fdsBefore + 8, "file descriptors back to " + fdsBefore + " (now " + fds() + ")");
                System.out.printf("leak test: %d sessions; threads %d -> %d, fds %d -> %d%n", SESSIONS, threadsBefore, threads(), fdsBefore, fds());
                // every session was audited as a clean end (the in-memory window keeps the newest 256)
                assertEquals(256, tunnel.hubAudit.recent().stream().filter(a -> a.outcome().equals("ok")).count());
            } finally {
                pool.shutdownNow();
                pool.awaitTermination(10, TimeUnit.SECONDS);
            }
        }
    }

    private static void run(TunnelFixture tunnel, EchoServer echo, ExecutorService pool, int count) throws Exception {
        List<Future<?>> results = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            byte[] payload = ("session " + i).getBytes();
            results.add(pool.submit(() -> {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                StreamPipe.run(tunnel.ops(), StreamPipe.Kind.PORT_FORWARD, PortForwardStart.newBuilder()
                        .setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE)).setPort(echo.port()).build(),
                        new ByteArrayInputStream(payload), out);
                assertArrayEquals(payload, out.toByteArray());
                return null;
            }));
        }
        for (Future<?> f : results) {
            f.get(60, TimeUnit.SECONDS);
        }
    }

    private static int threads() {
        return ManagementFactory.getThreadMXBean().getThreadCount();
    }

    /** Threads that belong to one session on either end (agent session threads, operator pipes). */
    private static long sessionThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("tunnel-") && !t.getName().startsWith("tunnel-hub") || t.getName().startsWith("stream-pipe"))
                .count();
    }

    private static long fds() {
        try (var list = Files.list(Path.of("/proc/self/fd"))) {
            return list.count();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
