package dev.edgeplane.e2e;

import dev.edgeplane.api.v1.CreateCronJobRequest;
import dev.edgeplane.api.v1.CronJobRunReport;
import dev.edgeplane.api.v1.CronJobSpec;
import dev.edgeplane.api.v1.EdgeCronJobRun;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Firing jitter of a run_on_edge CronJob on a real edge host (packaged control plane and agent, real
 * containerd): a "*&#47;2 * * * * *" schedule running busybox `true`; jitter is the run's container start
 * (CRI started_at, as the node records it) minus its scheduled time, p50/p99 over N firings
 * (-Dcronjob.firings, default 30). Run by deploy/bench.sh cronjob.
 */
class CronJobBench {
    @TempDir Path dir;

    private static long percentile(long[] sorted, double p) {
        return sorted[(int) Math.ceil(p * sorted.length) - 1];
    }

    @Test
    void fireJitter() throws Exception {
        int n = Integer.getInteger("cronjob.firings", 30);
        try (EdgeCluster cluster = EdgeCluster.start(dir, "edge-bench", List.of("--backoff-initial", "1s", "--backoff-max", "2s"))) {
            CronJobE2ETest.cluster = cluster;
            cluster.cloud.cronJobs().createCronJob(CreateCronJobRequest.newBuilder().setCronJob(CronJobE2ETest.cronJob("bench",
                    "*/2 * * * * *", CronJobSpec.ConcurrencyPolicy.ALLOW, true, "true")).build());
            // The first run after the entry arrives may include the image pull: skip it.
            Await.until(n + " runs started", Duration.ofSeconds(2L * n + 120), cluster::diagnostics,
                    () -> CronJobE2ETest.ledger().getRunsList().stream().filter(r -> r.getReport().hasStartTime()).count() >= n + 1);
            long[] jitter = CronJobE2ETest.ledger().getRunsList().stream().map(EdgeCronJobRun::getReport)
                    .filter(CronJobRunReport::hasStartTime)
                    .sorted(java.util.Comparator.comparing(r -> r.getScheduledTime().getSeconds())).skip(1).limit(n)
                    .mapToLong(r -> (r.getStartTime().getSeconds() - r.getScheduledTime().getSeconds()) * 1000
                            + (r.getStartTime().getNanos() - r.getScheduledTime().getNanos()) / 1_000_000)
                    .sorted().toArray();
            System.out.println("BENCH cronjob fire_jitter_ms_p50=" + percentile(jitter, 0.50) + " fire_jitter_ms_p99=" + percentile(jitter, 0.99)
                    + " max=" + jitter[jitter.length - 1] + " firings=" + jitter.length
                    + " (run_on_edge, container started_at minus scheduled time, every 2 s, busybox true, real containerd)");
        } finally {
            CronJobE2ETest.cluster = null;
        }
    }
}
