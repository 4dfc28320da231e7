package dev.edgeplane.e2e;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How fast load turns into a replica: one CPU burner replica under an Autoscaler (CPU 50% of the
 * requests) on a real host, the packaged control plane and agent with their DEFAULT periods (agent
 * metrics every 10 s, uploaded every 10 s; evaluation every 15 s; up to 60 s old metrics count). From
 * the moment the burner starts burning: detect_s until the Autoscaler wrote the App's new count,
 * running_s until the host runs the new replica. Prints {@code BENCH scale detect_s=... running_s=...}.
 * {@code -Dscale.runs=N} (default 3) repeats it, scaling back to 1 between runs by hand.
 */
class AutoscaleBench {
    static final int RUNS = Integer.getInteger("scale.runs", 3);

    @TempDir
    Path dir;

    @Test
    void loadToDecisionToRunningReplica() throws Exception {
        try (EdgeCluster cluster = EdgeCluster.start(dir, new HashMap<>(), List.of(), "bench-hpa")) {
            Burner burner = new Burner(dir);
            cluster.create(burner.app(cluster, "burner"));
            cluster.awaitRunning("burner", 1);
            // max 2: one step per run; a long scale-down window so the scale-up is measured alone.
            Burner.autoscaler(cluster, "burner", "burner", 2, 3600);
            for (int run = 1; run <= RUNS; run++) {
                long started = System.nanoTime();
                burner.on();
                Await.until("the Autoscaler's decision", EdgeCluster.CONVERGE, cluster::diagnostics,
                        () -> cluster.get("burner").getSpec().getReplicas() == 2);
                double detect = (System.nanoTime() - started) / 1e9;
                cluster.awaitRunning("burner", 2);
                double running = (System.nanoTime() - started) / 1e9;
                System.out.printf("BENCH scale detect_s=%.1f running_s=%.1f (run %d; defaults: agent metrics 10 s, sync period 15 s)%n",
                        detect, running, run);
                // Back to one replica, idle: delete and re-create the Autoscaler's target count by hand.
                burner.off();
                cluster.cloud.autoscalers().deleteAutoscaler(dev.edgeplane.api.v1.DeleteAutoscalerRequest.newBuilder()
                        .setNamespace("default").setName("burner").build());
                var app = cluster.get("burner");
                cluster.update(app.toBuilder().setSpec(app.getSpec().toBuilder().setReplicas(1)).build());
                cluster.awaitRunning("burner", 1);
                Thread.sleep(12_000); // the agent's idle samples replace the busy ones
                Burner.autoscaler(cluster, "burner", "burner", 2, 3600);
            }
        }
    }
}
