package dev.edgeplane.e2e;

import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.NodeStatus;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 3's figures (deploy/bench.sh autonomy): offline-reboot recovery, resume bytes vs a snapshot, 200-agent reconvergence. */
class AutonomyBench {
    static final int AGENTS = 200;

    @TempDir Path dir;

    @Test
    void offlineRebootRecoveryWith10And20Replicas() throws Exception {
        try (EdgeCluster f = EdgeCluster.start(dir.resolve("reboot"), EdgeCluster.FAST_FAULTS, EdgeCluster.FAST_AGENT, "edge-bench")) {
            AutonomyFaultE2ETest.offlineReboot(f, "reboot10", 10);
            AutonomyFaultE2ETest.offlineReboot(f, "reboot20", 20);
        }
    }

    @Test
    void resumeBytesAfterAPartitionVersusASnapshot() throws Exception {
        try (EdgeCluster f = EdgeCluster.start(dir.resolve("partition"), EdgeCluster.FAST_FAULTS, EdgeCluster.FAST_AGENT, "edge-bench")) {
            AutonomyFaultE2ETest.partitionAndResume(f);
        }
    }

    @Test
    void twoHundredAgentsReconvergeAfterAControlPlaneRestart() throws Exception {
        try (FleetCluster fleet = FleetCluster.start(dir.resolve("fleet"), new FleetCluster.Options(AGENTS, AGENTS, "512m", 8, false, Map.of(), List.of()))) {
            fleet.joinAndConnect(Duration.ofMinutes(3));
            // Every node gets one replica: something real to resume.
            fleet.createEveryNodeApp("everywhere", "example/app:1");
            Await.until(AGENTS + " nodes READY", Duration.ofMinutes(3), fleet::diagnostics,
                    () -> readyNodes(fleet.controlPlane()) == AGENTS);
            fleet.awaitConverged("the EVERY_NODE assignments on every agent before the restart", Duration.ofMinutes(3));
            fleet.broadcast("mark");
            long refusedBefore = fleet.sum("refused");

            long t0 = System.nanoTime();
            fleet.killAndRestartControlPlane();
            double processUp = (System.nanoTime() - t0) / 1e9;
            fleet.awaitSum(AGENTS + " agents resumed", "established_since_mark", AGENTS, Duration.ofMinutes(3));
            double resumed = (System.nanoTime() - t0) / 1e9;
            Await.until(AGENTS + " nodes READY again", Duration.ofMinutes(3), fleet::diagnostics,
                    () -> readyNodes(fleet.controlPlane()) == AGENTS);
            double ready = (System.nanoTime() - t0) / 1e9;
            System.out.printf("BENCH %d simulated agents (mTLS Sync) after a control-plane kill -9 + restart: "
                            + "process ready %.1f s, all resumed %.1f s, all READY %.1f s; snapshots %d, "
                            + "%d bytes received in total by the agents for the resume, %d RESOURCE_EXHAUSTED%n",
                    AGENTS, processUp, resumed, ready, fleet.sum("snapshots_since_mark"),
                    fleet.sum("bytes_since_mark"), fleet.sum("refused") - refusedBefore);
        }
    }

    private static long readyNodes(ControlPlane cloud) {
        return cloud.nodes().listNodes(ListNodesRequest.newBuilder().setPageSize(1000).build()).getNodesList().stream()
                .filter(n -> n.getStatus().getPhase() == NodeStatus.Phase.READY).count();
    }
}
