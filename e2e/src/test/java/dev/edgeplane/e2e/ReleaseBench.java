package dev.edgeplane.e2e;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.RolloutStatus;
import dev.edgeplane.api.v1.RolloutStrategy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14's fleet figure: an image update of an EVERY_NODE App rolled over N simulated nodes (fleet
 * module: real Join, mutual TLS, Sync, status reports) in the default batches (1 node, then
 * doubling, at most 10% a batch), against the packaged control plane and a real etcd. Prints
 * {@code BENCH release nodes=N batches=B rollout_s=S}. {@code -Dfleet.agents=N} (default 1000).
 */
class ReleaseBench {
    static final int AGENTS = Integer.getInteger("fleet.agents", 1000);

    @TempDir Path dir;

    @Test
    void release() throws Exception {
        try (FleetCluster fleet = FleetCluster.start(dir, new FleetCluster.Options(AGENTS, 5000, "1g", 16, false, Map.of(), List.of()))) {
            fleet.joinAndConnect(Duration.ofSeconds(120 + AGENTS / 10));
            fleet.createApp("edge", AppSpec.newBuilder().setMode(AppSpec.Mode.EVERY_NODE).setTemplate(FleetCluster.template("example/app:1"))
                    .setStrategy(RolloutStrategy.newBuilder().setType(RolloutStrategy.Type.BATCHED)).build());
            Await.until("revision 1 on every node", Duration.ofMinutes(5), fleet::diagnostics, () -> complete(fleet, 1));

            long started = System.nanoTime();
            fleet.setImage("edge", "example/app:2");
            Await.until("revision 2 on every node", Duration.ofMinutes(15), fleet::diagnostics, () -> complete(fleet, 2));
            double seconds = (System.nanoTime() - started) / 1e9;
            RolloutStatus rollout = app(fleet).getStatus().getRollout();
            System.out.printf("BENCH release nodes=%d batches=%d rollout_s=%.1f (EVERY_NODE, BATCHED defaults: 1, x2, at most 10%%)%n",
                    AGENTS, rollout.getBatchesTotal(), seconds);
        }
    }

    private static App app(FleetCluster fleet) {
        return fleet.controlPlane().apps().getApp(GetAppRequest.newBuilder().setNamespace("default").setName("edge").build());
    }

    private static boolean complete(FleetCluster fleet, long revision) {
        App app = app(fleet);
        RolloutStatus r = app.getStatus().getRollout();
        return r.getRevision() == revision && r.getPhase() == RolloutStatus.Phase.COMPLETE
                && app.getStatus().getUpdatedReplicas() == AGENTS && app.getStatus().getReadyReplicas() == AGENTS;
    }
}
