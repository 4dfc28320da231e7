package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.v1.LabelMatcher;
import dev.edgeplane.api.v1.MetricKind;
import dev.edgeplane.api.v1.QueryMetricsRequest;
import java.lang.management.ManagementFactory;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Heap the metrics store needs for 1,000 reporting nodes with realistic series (20 node series + 5
 * containers x 4 = 40 per node), after one hour of 10-second samples and at full retention (every
 * tier's ring allocated), and QueryMetrics latency. Prints BENCH lines; run with
 * {@code deploy/bench.sh cp-metrics}.
 */
class MetricsStoreBench {
    private static final int NODES = 1000;
    private static final long START = 1_700_000_000_000L - Math.floorMod(1_700_000_000_000L, 3_600_000L);
    private static final long SAMPLE = 10_000;

    private static long heapAfterGc() {
        for (int i = 0; i < 4; i++) {
            System.gc();
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static List<StoredSeries> fleet(MetricsStore store) {
        List<StoredSeries> all = new ArrayList<>();
        List<String> nodeSeries = List.of("node_cpu_usage_cores", "node_cpu_usage_ratio", "node_cpu_cores", "node_load1", "node_load5",
                "node_load15", "node_memory_total_bytes", "node_memory_available_bytes", "node_memory_used_bytes", "node_uptime_seconds",
                "agent_heap_used_bytes", "agent_resident_memory_bytes", "agent_sync_lag_revisions", "agent_connected_seconds_total");
        for (int n = 0; n < NODES; n++) {
            String node = "edge-" + n;
            for (String name : nodeSeries) {
                all.add(store.seriesFor(store.key(name, Map.of(), node), name.endsWith("_total") ? MetricKind.COUNTER : MetricKind.GAUGE));
            }
            for (String mount : List.of("root", "data")) {
                all.add(store.seriesFor(store.key("node_filesystem_used_bytes", Map.of("mount", mount), node), MetricKind.GAUGE));
                all.add(store.seriesFor(store.key("node_filesystem_free_bytes", Map.of("mount", mount), node), MetricKind.GAUGE));
            }
            all.add(store.seriesFor(store.key("node_network_receive_bytes_total", Map.of("interface", "eth0"), node), MetricKind.COUNTER));
            all.add(store.seriesFor(store.key("node_network_transmit_bytes_total", Map.of("interface", "eth0"), node), MetricKind.COUNTER));
            for (int c = 0; c < 5; c++) {
                Map<String, String> labels = Map.of("namespace", "default", "app", "app" + c, "replica", "app" + c + "-" + n, "container", "main");
                for (String name : List.of("container_cpu_usage_cores", "container_memory_working_set_bytes", "container_restarts_total", "container_state")) {
                    all.add(store.seriesFor(store.key(name, labels, node), name.endsWith("_total") ? MetricKind.COUNTER : MetricKind.GAUGE));
                }
            }
        }
        return all;
    }

    @Test
    void memoryPerThousandNodesAndQueryLatency() {
        long baseline = heapAfterGc();
        MetricsStore store = new MetricsStore(new MetricsStore.Settings(Tier.parseAll("10s:1h,1m:24h,5m:7d"), 200_000, 2000));
        List<StoredSeries> series = fleet(store);
        int perNode = series.size() / NODES;

        // One hour of samples every 10 s.
        long t = START;
        for (; t < START + 3_600_000; t += SAMPLE) {
            for (int i = 0; i < series.size(); i++) {
                store.add(series.get(i), t, i % 97 + t % 1000, false);
            }
        }
        long oneHour = heapAfterGc() - baseline;
        System.out.printf("BENCH metrics-store nodes=%d series=%d (%d per node) after 1h of 10s samples: heap %.1f MiB per 1000 nodes, %d bytes per series%n",
                NODES, series.size(), perNode, oneHour / 1048576.0, oneHour / series.size());

        // Then a week, one point every 50 minutes: enough to touch every 64-slot chunk of every tier, so
        // each ring is fully allocated as at full retention (what memory depends on), without writing
        // the 80 million points a week at 5 minutes would take.
        for (; t < START + 7L * 24 * 3_600_000; t += 50 * 60_000) {
            for (int i = 0; i < series.size(); i++) {
                store.add(series.get(i), t, i % 97 + t % 1000, false);
            }
        }
        long full = heapAfterGc() - baseline;
        System.out.printf("BENCH metrics-store nodes=%d series=%d at full retention (10s:1h, 1m:24h, 5m:7d allocated): heap %.1f MiB per 1000 nodes, %d bytes per series%n",
                NODES, series.size(), full / 1048576.0, full / series.size());

        // Query latency at "now" = the last sample.
        long now = t - 50 * 60_000;
        MetricsQuery query = new MetricsQuery(store, Clock.fixed(Instant.ofEpochMilli(now), ZoneOffset.UTC));
        measure("one node, all 40 series, last 1h, finest", () -> query.query(QueryMetricsRequest.newBuilder()
                .addAllNames(List.of("node_cpu_usage_cores", "node_memory_used_bytes", "container_cpu_usage_cores", "container_memory_working_set_bytes"))
                .addMatchers(LabelMatcher.newBuilder().setName("node").setValue("edge-7")).build()).getSeriesCount());
        measure("one node cpu, last 7d, step 1h", () -> query.query(QueryMetricsRequest.newBuilder().addNames("node_cpu_usage_cores")
                .addMatchers(LabelMatcher.newBuilder().setName("node").setValue("edge-7"))
                .setStart(com.google.protobuf.Timestamp.newBuilder().setSeconds((now - 7L * 24 * 3_600_000) / 1000 + 60))
                .setStep(com.google.protobuf.Duration.newBuilder().setSeconds(3600)).build()).getSeriesCount());
        measure("fleet cpu (1000 series), last 1h, step 5m", () -> query.query(QueryMetricsRequest.newBuilder().addNames("node_cpu_usage_cores")
                .setStep(com.google.protobuf.Duration.newBuilder().setSeconds(300)).build()).getSeriesCount());
        measure("fleet containers matching app=~app[0-1] (2000 series), last 24h, step 20m", () -> query.query(QueryMetricsRequest.newBuilder()
                .addNames("container_cpu_usage_cores").addMatchers(LabelMatcher.newBuilder().setName("app").setOp(LabelMatcher.Op.REGEX).setValue("app[0-1]"))
                .setStart(com.google.protobuf.Timestamp.newBuilder().setSeconds((now - 24L * 3_600_000) / 1000 + 60))
                .setStep(com.google.protobuf.Duration.newBuilder().setSeconds(1200)).setMaxSeries(5000).build()).getSeriesCount());
    }

    private static void measure(String what, java.util.function.IntSupplier query) {
        for (int i = 0; i < 20; i++) {
            query.getAsInt();
        }
        int runs = 50;
        long[] nanos = new long[runs];
        int found = 0;
        for (int i = 0; i < runs; i++) {
            long started = System.nanoTime();
            found = query.getAsInt();
            nanos[i] = System.nanoTime() - started;
        }
        Arrays.sort(nanos);
        System.out.printf("BENCH metrics-store query %s: %d series, median %.2f ms, p99 %.2f ms (%d runs)%n",
                what, found, nanos[runs / 2] / 1e6, nanos[runs * 99 / 100] / 1e6, runs);
    }
}
