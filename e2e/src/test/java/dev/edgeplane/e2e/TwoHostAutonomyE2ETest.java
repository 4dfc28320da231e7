package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.DrainNodeRequest;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.UncordonNodeRequest;
import dev.edgeplane.api.v1.UpdateNodeRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 3's node lifecycle across two edge hosts (two agents, each with its own containerd): what
 * moves when a host is cut off (autonomy off, or an App's toleration) and what does not (autonomy on),
 * the extra copies removed when the host returns, and drain/uncordon. A host's link is cut by stopping
 * its agent: its containers keep running, as on a host whose uplink died.
 */
class TwoHostAutonomyE2ETest {
    static final Duration CONVERGE = EdgeCluster.CONVERGE;

    @TempDir static Path dir;
    static EdgeCluster f;
    static EdgeHost a;
    static EdgeHost b;

    @BeforeAll
    static void start() throws Exception {
        f = EdgeCluster.start(dir, EdgeCluster.FAST_FAULTS, EdgeCluster.FAST_AGENT, "edge-a", "edge-b");
        a = f.host("edge-a");
        b = f.host("edge-b");
    }

    @AfterAll
    static void stop() throws Exception {
        if (f != null) {
            f.close();
        }
    }

    /** A test that failed half-way must not break the next: both agents run, A is autonomous and schedulable. */
    @BeforeEach
    void bothHostsUp() {
        for (EdgeHost h : f.hosts) {
            if (!h.agentRuns()) {
                h.start();
            }
        }
        setAutonomyDisabled(a, false);
        f.cloud.nodes().uncordonNode(UncordonNodeRequest.newBuilder().setName(a.name()).build());
        f.awaitPhase(a, NodeStatus.Phase.READY);
        f.awaitPhase(b, NodeStatus.Phase.READY);
    }

    @Test
    void autonomyOffMovesTheReplicasAndTheReturningHostRemovesItsCopies() {
        setAutonomyDisabled(a, true);
        f.create(f.app("moves", 2, "sleep", "3600"));
        awaitOnePerHost("moves");
        awaitReady("moves", 2);
        Set<String> onB = b.runningIds("moves");

        a.stopAgent();
        f.awaitPhase(a, NodeStatus.Phase.UNREACHABLE);
        f.awaitRunning(b, "moves", 2);
        assertTrue(b.runningIds("moves").containsAll(onB), "B keeps the replica it had");
        assertEquals(1, a.runningIds("moves").size(), "cut off, A's agent cannot know yet: its copy still runs");
        awaitReplicasOn("moves", b);

        a.start();
        f.awaitPhase(a, NodeStatus.Phase.READY);
        Await.until("A removed its extra copy", CONVERGE, f::diagnostics, () -> a.allIds("moves").isEmpty());
        Set<String> after = b.runningIds("moves");
        assertEquals(2, after.size(), "B keeps both replicas\n" + f.diagnostics());
        assertTrue(after.containsAll(onB), "B's replicas were not replaced");
        f.delete("moves");
    }

    @Test
    void autonomousHostKeepsItsReplicasWhileAnAppWithATolerationMoves() {
        f.create(f.app("stays", 2, "sleep", "3600"));
        App leaves = f.app("leaves", 2, "sleep", "3600");
        f.create(leaves.toBuilder().setSpec(leaves.getSpec().toBuilder()
                .setRescheduleAfterUnreachable(com.google.protobuf.Duration.newBuilder().setSeconds(3))).build());
        awaitOnePerHost("stays");
        awaitOnePerHost("leaves");
        awaitReady("stays", 2);
        awaitReady("leaves", 2);
        Set<String> staysOnA = a.runningIds("stays");
        Set<String> staysOnB = b.runningIds("stays");

        a.stopAgent();
        f.awaitPhase(a, NodeStatus.Phase.UNREACHABLE);
        // The App's 3 s toleration is over once its replica has moved; the App without one keeps A's.
        f.awaitRunning(b, "leaves", 2);
        awaitReplicasOn("leaves", b);
        assertEquals(1, f.get("stays").getStatus().getReplicasList().stream()
                .filter(r -> r.getNode().equals(a.name())).count(), "stays keeps its replica on autonomous A\n" + f.diagnostics());
        assertEquals(staysOnB, b.runningIds("stays"), "nothing of stays was added on B");
        assertEquals(staysOnA, a.runningIds("stays"), "A's replica runs on while cut off");

        a.start();
        f.awaitPhase(a, NodeStatus.Phase.READY);
        Await.until("A removed its copy of leaves", CONVERGE, f::diagnostics, () -> a.allIds("leaves").isEmpty());
        assertEquals(2, b.runningIds("leaves").size(), "B keeps both replicas of leaves");
        assertEquals(staysOnA, a.runningIds("stays"), "A's replica of stays was never replaced");
        assertEquals(staysOnB, b.runningIds("stays"));
        f.delete("stays");
        f.delete("leaves");
    }

    @Test
    void drainMovesReplicatedReplicasKeepsEveryNodeOnesAndUncordonTakesNewOnes() {
        App daemon = f.app("daemon", 0, "sleep", "3600");
        f.create(daemon.toBuilder().setSpec(daemon.getSpec().toBuilder().setMode(AppSpec.Mode.EVERY_NODE)).build());
        f.create(f.app("web", 2, "sleep", "3600"));
        awaitOnePerHost("daemon");
        awaitOnePerHost("web");
        Set<String> daemonOnA = a.runningIds("daemon");
        Set<String> webOnB = b.runningIds("web");

        f.cloud.nodes().drainNode(DrainNodeRequest.newBuilder().setName(a.name()).build());
        f.awaitRunning(b, "web", 2);
        Await.until("A's web replica removed", CONVERGE, f::diagnostics, () -> a.allIds("web").isEmpty());
        assertTrue(b.runningIds("web").containsAll(webOnB), "B's web replica was not replaced");
        assertEquals(daemonOnA, a.runningIds("daemon"), "the EVERY_NODE replica stays on the drained node");

        f.cloud.nodes().uncordonNode(UncordonNodeRequest.newBuilder().setName(a.name()).build());
        App web = f.get("web");
        f.update(web.toBuilder().setSpec(web.getSpec().toBuilder().setReplicas(3)).build());
        f.awaitRunning(a, "web", 1);
        assertEquals(2, b.runningIds("web").size(), "the new replica went to the uncordoned node");
        f.delete("web");
        f.delete("daemon");
    }

    private static void awaitOnePerHost(String app) {
        Await.until(app + " running once on each host", CONVERGE, f::diagnostics,
                () -> a.runningIds(app).size() == 1 && b.runningIds(app).size() == 1);
    }

    /** Both replicas reported: the status shows where each one runs. */
    private static void awaitReady(String app, int n) {
        Await.until(app + " ready " + n, CONVERGE, f::diagnostics, () -> f.get(app).getStatus().getReadyReplicas() == n);
    }

    /** Every replica of {@code app} reported from {@code host} (the App's status follows the agents' reports). */
    private static void awaitReplicasOn(String app, EdgeHost host) {
        Await.until("every replica of " + app + " reported from " + host.name(), CONVERGE, f::diagnostics,
                () -> f.get(app).getStatus().getReplicasList().stream()
                        .allMatch(r -> r.getNode().equals(host.name()) && r.getPhase() == ReplicaStatus.Phase.RUNNING));
    }

    private static void setAutonomyDisabled(EdgeHost host, boolean disabled) {
        Node node = f.cloud.nodes().getNode(GetNodeRequest.newBuilder().setName(host.name()).build());
        if (node.getSpec().getAutonomyDisabled() == disabled) {
            return;
        }
        // resource_version 0: unconditional (the agent's status writes touch the same key).
        f.cloud.nodes().updateNode(UpdateNodeRequest.newBuilder().setNode(node.toBuilder()
                .setMetadata(node.getMetadata().toBuilder().setResourceVersion(0))
                .setSpec(node.getSpec().toBuilder().setAutonomyDisabled(disabled))).build());
    }
}
