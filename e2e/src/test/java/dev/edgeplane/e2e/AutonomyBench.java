package dev.edgeplane.e2e;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.testkit.EtcdServer;
import dev.edgeplane.testkit.FreePorts;
import java.nio.file.Path;
import java.time.Duration;
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
        int apiPort = FreePorts.next();
        int agentPort = FreePorts.next();
        Path cpDir = dir.resolve("cp");
        try (EtcdServer etcd = EtcdServer.start(); SimulatedAgents sims = new SimulatedAgents()) {
            ControlPlane[] current = {ControlPlane.start(etcd.endpoint(), cpDir, apiPort, agentPort, Map.of())};
            try {
                ControlPlane cloud = current[0];
                String token = cloud.createJoinToken(Duration.ofMinutes(10), AGENTS).getStatus().getToken();
                sims.joinAndConnect(cloud.agentAddress(), token, "sim", AGENTS);
                // Every node gets one replica: something real to resume.
                cloud.apps().createApp(CreateAppRequest.newBuilder().setApp(App.newBuilder()
                        .setMetadata(ObjectMeta.newBuilder().setName("everywhere"))
                        .setSpec(AppSpec.newBuilder().setMode(AppSpec.Mode.EVERY_NODE).setTemplate(PodTemplate.newBuilder()
                                .addContainers(Container.newBuilder().setName("main").setImage("example/app:1")))))
                        .build());
                Await.until(AGENTS + " nodes READY", Duration.ofMinutes(3), cloud.process()::logTail,
                        () -> readyNodes(cloud) == AGENTS);
                Thread.sleep(3_000); // let the EVERY_NODE assignments reach the agents before the restart
                int snapshotsBefore = sims.snapshots.get();
                long bytesBefore = sims.bytesReceived.get();

                cloud.process().kill9();
                cloud.close();
                long t0 = System.nanoTime();
                current[0] = null;
                current[0] = ControlPlane.start(etcd.endpoint(), cpDir, apiPort, agentPort, Map.of());
                double processUp = SimulatedAgents.since(t0).toMillis() / 1000.0;
                ControlPlane restarted = current[0];
                Await.until(AGENTS + " agents resumed", Duration.ofMinutes(3), restarted.process()::logTail,
                        () -> sims.resumedSince(t0) == AGENTS);
                double resumed = SimulatedAgents.since(t0).toMillis() / 1000.0;
                Await.until(AGENTS + " nodes READY again", Duration.ofMinutes(3), restarted.process()::logTail,
                        () -> readyNodes(restarted) == AGENTS);
                double ready = SimulatedAgents.since(t0).toMillis() / 1000.0;
                System.out.printf("BENCH %d simulated agents (mTLS Sync) after a control-plane kill -9 + restart: "
                                + "process ready %.1f s, all resumed %.1f s, all READY %.1f s; snapshots %d, "
                                + "%d bytes received in total by the agents for the resume, %d RESOURCE_EXHAUSTED%n",
                        AGENTS, processUp, resumed, ready, sims.snapshots.get() - snapshotsBefore,
                        sims.bytesReceived.get() - bytesBefore, sims.refusedBusy.get());
            } finally {
                if (current[0] != null) {
                    current[0].close();
                }
            }
        }
    }

    private static long readyNodes(ControlPlane cloud) {
        return cloud.nodes().listNodes(ListNodesRequest.newBuilder().setPageSize(1000).build()).getNodesList().stream()
                .filter(n -> n.getStatus().getPhase() == NodeStatus.Phase.READY).count();
    }
}
