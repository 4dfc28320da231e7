package dev.edgeplane.e2e;

import dev.edgeplane.testkit.FreePorts;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Remote-write throughput ({@code deploy/bench.sh remote-write [N]}): N simulated agents
 * ({@code remoteWrite.agents}, 1000) each upload {@code remoteWrite.historySeconds} (600) of past
 * metrics (10 s frames, the simulator's realistic node series) as fast as the control plane takes
 * them, and the control plane remote-writes every sample to Debian's VictoriaMetrics. Prints
 * {@code BENCH remote_write agents=N samples=.. seconds=.. samples_per_s=.. dropped=..}: samples the
 * receiver accepted over the time from the first upload to an empty queue.
 */
class RemoteWriteBench {
    static final int AGENTS = Integer.getInteger("remoteWrite.agents", 1000);
    static final int HISTORY_SECONDS = Integer.getInteger("remoteWrite.historySeconds", 600);

    @TempDir
    Path dir;

    @Test
    void remoteWriteThroughput() throws Exception {
        int vmPort = FreePorts.belowEphemeralRange();
        Map<String, String> env = Map.of("EDGEPLANE_REMOTE_WRITE_URL", "http://127.0.0.1:" + vmPort + "/api/v1/write");
        try (ManagedProcess victoria = ManagedProcess.start("victoria-metrics", List.of("victoria-metrics",
                     "-httpListenAddr=127.0.0.1:" + vmPort, "-storageDataPath=" + dir.resolve("vm-data"), "-retentionPeriod=1d"),
                     Map.of(), dir.resolve("victoria-metrics.log"));
             FleetCluster fleet = FleetCluster.start(dir.resolve("fleet"),
                     new FleetCluster.Options(AGENTS, 9_500, "2048m", 32, false, env, List.of()))) {
            fleet.broadcast("join");
            fleet.awaitSum(AGENTS + " agents joined", "joined", AGENTS, Duration.ofMinutes(10));
            fleet.broadcast("connect");
            fleet.awaitSum(AGENTS + " agents connected", "ever_established", AGENTS, Duration.ofMinutes(10));

            ControlPlane cp = fleet.controlPlane();
            long t0 = System.nanoTime();
            fleet.broadcast("metrics-history " + HISTORY_SECONDS);
            fleet.broadcast("metrics on");
            long historyBatches = (HISTORY_SECONDS / 10 + 1 + 59) / 60;
            fleet.awaitSum("every agent's history stored", "metrics_batches_acked", AGENTS * historyBatches, Duration.ofMinutes(20));
            Await.until("the remote-write queue drained", Duration.ofMinutes(20), victoria::logTail,
                    () -> scrape(cp, "edgeplane_remote_write_samples_pending") == 0);
            double seconds = (System.nanoTime() - t0) / 1e9;
            double sent = scrape(cp, "edgeplane_remote_write_samples_sent_total");
            double dropped = scrape(cp, "edgeplane_remote_write_samples_dropped_total{reason=\"queue_full\"}")
                    + scrape(cp, "edgeplane_remote_write_samples_dropped_total{reason=\"rejected\"}");
            System.out.printf("BENCH remote_write agents=%d samples=%.0f seconds=%.1f samples_per_s=%.0f dropped=%.0f%n",
                    AGENTS, sent, seconds, sent / seconds, dropped);
        }
    }

    private static double scrape(ControlPlane cp, String sample) {
        try {
            return cp.scrape(sample);
        } catch (Exception e) {
            return Double.NaN;
        }
    }
}
