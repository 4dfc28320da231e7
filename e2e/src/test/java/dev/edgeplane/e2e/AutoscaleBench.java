package dev.edgeplane.e2e;

import dev.edgeplane.api.v1.Autoscaler;
import dev.edgeplane.api.v1.UpdateAutoscalerRequest;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How fast load turns into a replica: one CPU burner replica under an Autoscaler (CPU 50% of the
 * requests, 1..2) on a real host, the packaged control plane and agent with their default periods
 * (agent metrics sampled every 10 s; evaluation every 15 s), the agent's upload period from
 * {@code -Dscale.flush} (its default, 60s, unless given). From the moment the burner starts burning:
 * detect_s until the Autoscaler wrote the App's new count, running_s until the host runs the new
 * replica. Prints {@code BENCH scale detect_s=... running_s=...}; {@code -Dscale.runs=N} (default 3).
 * Between runs max_replicas goes to 1 (back to one replica at once) and returns to 2 once the
 * Autoscaler measures the replica idle.
 */
class AutoscaleBench {
    static final int RUNS = Integer.getInteger("scale.runs", 3);
    static final String FLUSH = System.getProperty("scale.flush", "60s");

    @TempDir
    Path dir;

    @Test
    void loadToDecisionToRunningReplica() throws Exception {
        try (EdgeCluster cluster = EdgeCluster.start(dir, new HashMap<>(), List.of("--metrics-flush", FLUSH), "bench-hpa")) {
            Burner burner = new Burner(dir);
            cluster.create(burner.app(cluster, "burner"));
            cluster.awaitRunning("burner", 1);
            // A long scale-down window: the scale-up is measured alone.
            Burner.autoscaler(cluster, "burner", "burner", 1, 3600);
            for (int run = 1; run <= RUNS; run++) {
                Await.until("the replica measured idle", java.time.Duration.ofMinutes(5), cluster::diagnostics, () -> {
                    var s = Burner.get(cluster, "burner").getStatus();
                    return s.getCurrentReplicas() == 1 && s.getCurrentMetricsCount() == 1
                            && s.getCurrentMetrics(0).getCurrentAverageUtilization() < 50;
                });
                setMax(cluster, 2);
                long started = System.nanoTime();
                burner.on();
                Await.until("the Autoscaler's decision", java.time.Duration.ofMinutes(5), cluster::diagnostics,
                        () -> cluster.get("burner").getSpec().getReplicas() == 2);
                double detect = (System.nanoTime() - started) / 1e9;
                cluster.awaitRunning("burner", 2);
                double running = (System.nanoTime() - started) / 1e9;
                System.out.printf("BENCH scale detect_s=%.1f running_s=%.1f (run %d; agent metrics every 10 s, uploaded every %s;"
                        + " evaluation every 15 s)%n", detect, running, run, FLUSH);
                burner.off();
                setMax(cluster, 1); // above max: back to 1 at the next evaluation
                cluster.awaitRunning("burner", 1);
            }
        }
    }

    private static void setMax(EdgeCluster cluster, int max) {
        Autoscaler a = Burner.get(cluster, "burner");
        cluster.cloud.autoscalers().updateAutoscaler(UpdateAutoscalerRequest.newBuilder().setAutoscaler(a.toBuilder()
                .setMetadata(a.getMetadata().toBuilder().setResourceVersion(0))
                .setSpec(a.getSpec().toBuilder().setMaxReplicas(max))).build());
    }
}
