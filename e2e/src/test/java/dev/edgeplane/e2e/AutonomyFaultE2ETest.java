package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.testkit.Commands;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.Probe;
import dev.edgeplane.api.v1.TCPSocketAction;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.testkit.FreePorts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 3's fault tests against real processes: the cloud cut off or killed, the host rebooted, the
 * agent killed mid-change, etcd compacted, the journal corrupted. Each test leaves the control plane
 * running on its ports and the agent connected, and removes its app.
 */
class AutonomyFaultE2ETest {
    static final Duration CONVERGE = EdgeCluster.CONVERGE;

    @TempDir static Path dir;
    static EdgeCluster f;

    @BeforeAll
    static void start() throws Exception {
        f = EdgeCluster.start(dir, EdgeCluster.FAST_FAULTS, EdgeCluster.FAST_AGENT, "edge-autonomy");
    }

    /** A test that failed half-way must not break the next: the cloud runs where the agent dials, the agent runs. */
    @BeforeEach
    void cloudAndAgentUp() throws Exception {
        if (f.cloud != null && f.cloud.agentPort() != f.agentPort) {
            f.killCloud();
        }
        if (f.cloud == null) {
            f.startCloud();
        }
        if (f.host.agent() == null || !f.host.agent().isAlive()) {
            f.host.start();
        }
        f.awaitPhase(NodeStatus.Phase.READY);
    }

    @AfterAll
    static void stop() throws Exception {
        if (f != null) {
            f.close();
        }
    }

    /** Fault test 1; also the figure (the bench runs it with 20). */
    static double offlineReboot(EdgeCluster f, String app, int replicas) throws Exception {
        f.create(f.app(app, replicas, "sleep", "3600"));
        f.awaitRunning(app, replicas);
        Await.until(app + " journalled", CONVERGE, f::diagnostics,
                () -> f.get(app).getStatus().getReadyReplicas() == replicas);

        f.killCloud();
        f.host.stopAgent();
        f.containerd.simulateReboot();
        Await.until("containerd back after the reboot, nothing running", CONVERGE, f::diagnostics,
                () -> f.runningIds(app).isEmpty());

        long t0 = System.nanoTime();
        f.host.start();
        f.awaitRunning(app, replicas);
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("BENCH offline-reboot recovery (%d replicas, cloud unreachable): %.2f s%n", replicas, seconds);

        f.startCloud();
        f.awaitPhase(NodeStatus.Phase.READY);
        f.delete(app);
        return seconds;
    }

    @Test
    void offlineRebootRestartsAllReplicasFromTheJournal() throws Exception {
        offlineReboot(f, "reboot", 10);
    }

    @Test
    void controlPlaneRestartResumesWithoutRestartingAnyContainer() throws Exception {
        f.create(f.app("steady", 3, "sleep", "3600"));
        f.awaitRunning("steady", 3);
        Set<String> before = f.allIds("steady");
        long connects = f.agentLogCount("sync: connected");

        f.restartCloud();
        Await.until("agent reconnected", CONVERGE, f::diagnostics,
                () -> f.agentLogCount("sync: connected") > connects);
        // The new process resumed the agent's TLS session: its ticket keys come from etcd, not from the process.
        assertTrue(f.cloud.scrape("edgeplane_agent_tls_sessions_resumed_total") >= 1, f.diagnostics());
        f.awaitPhase(NodeStatus.Phase.READY);
        Await.until("steady ready 3/3 after the restart", CONVERGE, f::diagnostics,
                () -> f.get("steady").getStatus().getReadyReplicas() == 3);
        assertEquals(before, f.allIds("steady"), "the same containers, none replaced\n" + f.diagnostics());
        for (var c : f.cri.containers(EdgeCluster.labelsOf("steady"))) {
            assertEquals(0, c.getMetadata().getAttempt(), "no container restarted: " + c);
        }
        System.out.println("resume after a control-plane restart: " + last(f.received()));
        f.delete("steady");
    }

    /**
     * Probes through the whole stack, and on the agent alone while the cloud is down. Pods use host
     * networking, so the ports the probes dial are sockets this test opens and closes: readiness and
     * liveness change exactly when the test says.
     */
    @Test
    void probesGateReadinessAndLivenessRestartsContainersWhileTheCloudIsDown() throws Exception {
        int readyPort = FreePorts.next();
        int livePort = FreePorts.next();
        App app = f.app("probed", 1, "sleep", "3600");
        Container main = app.getSpec().getTemplate().getContainers(0).toBuilder()
                .setReadinessProbe(Probe.newBuilder().setTcpSocket(TCPSocketAction.newBuilder().setPort(readyPort))
                        .setPeriodSeconds(1).setFailureThreshold(1))
                .setLivenessProbe(Probe.newBuilder().setTcpSocket(TCPSocketAction.newBuilder().setPort(livePort))
                        .setPeriodSeconds(1).setFailureThreshold(2))
                .build();
        app = app.toBuilder().setSpec(app.getSpec().toBuilder().setTemplate(app.getSpec().getTemplate().toBuilder().setContainers(0, main))).build();
        java.net.ServerSocket live = listen(livePort);
        java.net.ServerSocket ready = null;
        try {
            f.create(app);
            Await.until("running, not ready, saying why", CONVERGE, f::diagnostics, () -> {
                App a = f.get("probed");
                return a.getStatus().getReplicasCount() == 1 && a.getStatus().getReplicas(0).getPhase() == ReplicaStatus.Phase.RUNNING
                        && a.getStatus().getReplicas(0).getContainersCount() == 1
                        && a.getStatus().getReplicas(0).getContainers(0).getProbeFailure().startsWith("Readiness probe failed: TCP 127.0.0.1:" + readyPort);
            });
            assertEquals(0, f.get("probed").getStatus().getReadyReplicas(), "running is not ready");
            ready = listen(readyPort);
            Await.until("ready once its port answers", CONVERGE, f::diagnostics, () -> f.get("probed").getStatus().getReadyReplicas() == 1);
            String first = f.runningIds("probed").iterator().next();

            // The cloud goes away; the liveness port closes: the agent alone restarts the container.
            f.killCloud();
            live.close();
            Await.until("restarted by its liveness probe with the cloud down", CONVERGE, f::diagnostics,
                    () -> !f.runningIds("probed").isEmpty() && !f.runningIds("probed").contains(first));
            live = listen(livePort);
            f.startCloud();
            f.awaitPhase(NodeStatus.Phase.READY);
            Await.until("the restart and readiness reported once the cloud is back", CONVERGE, f::diagnostics, () -> {
                App a = f.get("probed");
                return a.getStatus().getReadyReplicas() == 1 && a.getStatus().getReplicas(0).getRestartCount() >= 1;
            });
            assertTrue(f.agentLogCount("killing container main: Liveness probe failed") >= 1, f.diagnostics());
        } finally {
            live.close();
            if (ready != null) {
                ready.close();
            }
        }
        f.delete("probed");
    }

    /** A port that accepts (and at once closes) every connection until closed: what a TCP probe sees as up. */
    private static java.net.ServerSocket listen(int port) throws java.io.IOException {
        java.net.ServerSocket socket = new java.net.ServerSocket();
        socket.setReuseAddress(true);
        socket.bind(new java.net.InetSocketAddress("127.0.0.1", port));
        Thread acceptor = new Thread(() -> {
            while (!socket.isClosed()) {
                try {
                    socket.accept().close();
                } catch (java.io.IOException closed) {
                    return;
                }
            }
        }, "probe-target-" + port);
        acceptor.setDaemon(true);
        acceptor.start();
        return socket;
    }

    @Test
    void partitionKeepsWorkloadsAndResumesWithOnlyTheChanges() throws Exception {
        partitionAndResume(f);
    }

    /** Fault test 2; also the resume-bytes figure (the bench runs it on a cluster of its own). */
    static void partitionAndResume(EdgeCluster f) throws Exception {
        // Unchanged while away: in a snapshot, not in the resume.
        f.create(f.app("ballast", 8, "sleep", "3600"));
        f.create(f.app("part", 2, "sleep", "3600"));
        f.awaitRunning("part", 2);
        f.awaitRunning("ballast", 8);
        Set<String> before = f.runningIds("part");

        // Cut the link: the cloud runs, but not where the agent dials.
        f.killCloud();
        f.startCloud(FreePorts.belowEphemeralRange(f.apiPort, f.agentPort));
        f.awaitPhase(NodeStatus.Phase.UNREACHABLE);
        for (ReplicaStatus r : f.get("part").getStatusOrBuilder().getReplicasList()) {
            assertEquals(f.host.name(), r.getNode(), "an autonomous node keeps its replicas: " + r);
        }
        // Many updates of one App while away: the node gets one change for it.
        for (int i = 0; i < 20; i++) {
            f.setCommand("part", "sleep", Integer.toString(4000 + i));
        }
        assertEquals(before, f.runningIds("part"), "workloads keep running while cut off");
        assertEquals(NodeStatus.Phase.UNREACHABLE, f.phase());
        int receivedBefore = f.received().size();

        f.killCloud();
        f.startCloud();
        f.awaitPhase(NodeStatus.Phase.READY);
        Await.until("part replaced by the template made while cut off", CONVERGE, f::diagnostics, () -> {
            Set<String> now = f.runningIds("part");
            return now.size() == 2 && now.stream().noneMatch(before::contains);
        });
        List<EdgeCluster.Received> got = f.received();
        EdgeCluster.Received resume = got.get(receivedBefore);
        long resumeBytes = got.subList(receivedBefore, got.size()).stream().mapToLong(EdgeCluster.Received::bytes).sum();

        // A full snapshot of the same state, for comparison: an agent without a journal asks for one.
        f.host.stopAgent();
        Files.deleteIfExists(f.host.stateDir().resolve("journal/journal.bin"));
        Files.deleteIfExists(f.host.stateDir().resolve("journal/journal.prev.bin"));
        long snapshotsBefore = f.received().stream().filter(r -> r.kind().equals("snapshot")).count();
        f.host.start();
        Await.until("a new snapshot received", CONVERGE, f::diagnostics,
                () -> f.received().stream().filter(r -> r.kind().equals("snapshot")).count() > snapshotsBefore);
        EdgeCluster.Received snapshot = f.received().stream().filter(r -> r.kind().equals("snapshot"))
                .reduce((a, b) -> b).orElseThrow();
        System.out.printf("BENCH resume after a partition (20 updates of 1 app of 2 replicas, 8 other replicas unchanged): %s, %d bytes; full snapshot: %d bytes (%.1f%%)%n",
                resume.kind(), resumeBytes, snapshot.bytes(), 100.0 * resumeBytes / snapshot.bytes());
        assertEquals("changes", resume.kind(), "resumed, not relisted\n" + f.diagnostics());
        assertTrue(resumeBytes < snapshot.bytes(), resumeBytes + " vs " + snapshot.bytes());
        f.awaitPhase(NodeStatus.Phase.READY);
        f.delete("part");
        f.delete("ballast");
    }

    @Test
    void compactionPastTheAgentsRevisionTakesTheSnapshotPath() throws Exception {
        f.create(f.app("compacted", 1, "sleep", "3600"));
        f.awaitRunning("compacted", 1);
        Set<String> before = f.runningIds("compacted");
        f.host.stopAgent(); // offline; its journal holds revision R
        f.setCommand("compacted", "sleep", "3700");
        f.create(f.app("born-offline", 1, "sleep", "3600"));
        f.compactEtcd(f.etcdRevision());
        f.restartCloud(); // a fresh process: only etcd can answer for R, and etcd compacted it
        int receivedBefore = f.received().size();
        f.host.start();
        f.awaitPhase(NodeStatus.Phase.READY);
        Await.until("compacted replaced and born-offline running", CONVERGE, f::diagnostics, () -> {
            Set<String> now = f.runningIds("compacted");
            return now.size() == 1 && now.stream().noneMatch(before::contains)
                    && f.runningIds("born-offline").size() == 1;
        });
        List<EdgeCluster.Received> got = f.received();
        assertEquals("snapshot", got.get(receivedBefore).kind(), "snapshot path\n" + f.diagnostics());
        Await.until("the old container removed", CONVERGE, f::diagnostics, () -> f.allIds("compacted").size() == 1);
        f.delete("compacted");
        f.delete("born-offline");
    }

    @Test
    void agentKilledBetweenJournalAndAckAppliesTheChangeOnce() throws Exception {
        f.create(f.app("once", 1, "sleep", "3600"));
        f.awaitRunning("once", 1);
        Set<String> before = f.runningIds("once");
        Path journal = f.host.stateDir().resolve("journal/journal.bin");

        f.setCommand("once", "sleep", "38017");
        // The change is journalled before the ack is sent: kill -9 the moment the journal holds it.
        Await.until("change journalled", CONVERGE, f::diagnostics, () -> journalHolds(journal, "38017"));
        f.host.kill9();
        f.host.start();
        Await.until("once replaced once", CONVERGE, f::diagnostics, () -> {
            Set<String> now = f.runningIds("once");
            return now.size() == 1 && now.stream().noneMatch(before::contains);
        });
        // A rolling update removes the old replica once the new one runs: its container goes a moment later.
        // (A kill that lands inside the new container's StartContainer leaves that failed attempt behind as
        // the replica's previous attempt, as the kubelet keeps one for `logs --previous`: only the old
        // replica's container must go.)
        Await.until("the old container removed", CONVERGE, f::diagnostics,
                () -> f.allIds("once").stream().noneMatch(before::contains));
        Set<String> after = f.runningIds("once");
        Await.until("the agent acked and reported", CONVERGE, f::diagnostics,
                () -> f.get("once").getStatus().getReadyReplicas() == 1);
        assertEquals(after, f.runningIds("once"), "exactly one new container running, not replaced again");
        assertEquals(1, after.size(), "one running: " + after);
        assertTrue(f.allIds("once").size() <= 2, "at most the running container and one failed attempt: " + f.allIds("once"));
        f.delete("once");
    }

    @Test
    void corruptJournalFallsBackReportsAndResyncs() throws Exception {
        f.create(f.app("survivor", 1, "sleep", "3600"));
        f.awaitRunning("survivor", 1);
        Set<String> before = f.runningIds("survivor");
        f.host.stopAgent();
        Path journal = f.host.stateDir().resolve("journal/journal.bin");
        byte[] bytes = Files.readAllBytes(journal);
        for (int i = bytes.length / 2; i < Math.min(bytes.length, bytes.length / 2 + 16); i++) {
            bytes[i] ^= 0x5a;
        }
        Files.write(journal, bytes);
        long connects = f.agentLogCount("sync: connected");

        f.host.start();
        Await.until("agent reconnected", CONVERGE, f::diagnostics,
                () -> f.agentLogCount("sync: connected") > connects);
        assertTrue(f.agentLogCount("journal .*falling back to the previous generation") > 0, f.diagnostics());
        f.awaitPhase(NodeStatus.Phase.READY);
        Await.until("the corruption reported to the control plane as an event", CONVERGE, f::diagnostics,
                () -> f.cloud.process().logText().contains("WARNING JournalCorrupt"));
        // Resynced: a change made now arrives, and nothing ran without the journal.
        f.setCommand("survivor", "sleep", "3900");
        Await.until("survivor follows the change", CONVERGE, f::diagnostics, () -> {
            Set<String> now = f.runningIds("survivor");
            return now.size() == 1 && now.stream().noneMatch(before::contains);
        });
        assertFalse(f.received().isEmpty());
        f.delete("survivor");
    }

    private static boolean journalHolds(Path journal, String text) {
        try {
            return new String(Files.readAllBytes(journal), java.nio.charset.StandardCharsets.ISO_8859_1).contains(text);
        } catch (java.io.IOException e) {
            return false; // between the renames of a write
        }
    }

    /** Issue 4: logs a container wrote while the host was cut off are there after the link returns. */
    @Test
    void logsWrittenWhileOfflineAreServedAfterReconnect() throws Exception {
        f.create(f.app("ticker", 1, "sh", "-c", "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done"));
        f.awaitRunning("ticker", 1);
        Await.until("ticker reported ready", CONVERGE, f::diagnostics,
                () -> f.get("ticker").getStatus().getReadyReplicas() == 1);

        f.killCloud();
        java.time.Instant cutAt = java.time.Instant.now();
        Thread.sleep(3_000); // the container keeps logging with nobody connected
        java.time.Instant restoredAt = java.time.Instant.now();
        f.startCloud();
        f.awaitPhase(NodeStatus.Phase.READY);

        List<String> cmd = new java.util.ArrayList<>(Binaries.edgectl());
        cmd.addAll(List.of("--insecure", "--server", f.cloud.apiAddress(), "--token", f.cloud.adminToken(),
                "logs", "--timestamps", "ticker"));
        Commands.Result[] last = new Commands.Result[1];
        Await.until("edgectl logs answering", CONVERGE, () -> last[0] == null ? "" : last[0].output(), () -> {
            last[0] = Commands.exec(cmd, java.util.Map.of(), Duration.ofSeconds(60));
            return last[0].exitCode() == 0;
        });
        Commands.Result r = last[0];
        long offlineLines = r.output().lines()
                .filter(l -> l.matches("\\S+ tick-\\d+"))
                .map(l -> java.time.Instant.parse(l.substring(0, l.indexOf(' '))))
                .filter(t -> t.isAfter(cutAt.plusMillis(500)) && t.isBefore(restoredAt))
                .count();
        assertTrue(offlineLines >= 5, "lines logged while offline: " + offlineLines + "\n" + r.output());
        f.delete("ticker");
    }

    private static <T> T last(List<T> list) {
        return list.get(list.size() - 1);
    }
}
