package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.v1.LabelMatcher;
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
 * Heap the compressed metrics store needs for 200 reporting nodes (figures per node and per series) with realistic series
 * ({@link RealisticNode}: 40 per node), after one hour of 10-second samples, after 24 hours and at full
 * retention (a week: the 5-minute tier full too), and QueryMetrics latency. Prints BENCH lines; run
 * with {@code deploy/bench.sh cp-metrics}. Heap is measured after GC against a baseline taken before
 * the store exists, so it includes keys, indexes and per-series objects, not only the chunks; the
 * encoder's own byte count is printed beside it ({@code fixed_bytes_per_series}: heap beyond it), and
 * the encoded bytes a point of each tier. Keys: {@code kib_per_node_1h}, {@code _24h}, {@code _7d}.
 */
class MetricsStoreBench {
    private static final int NODES = 200;
    private static final long START = 1_700_000_000_000L - Math.floorMod(1_700_000_000_000L, 3_600_000L);
    private static final long HOUR = 3_600_000;

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

    private record Fleet(List<StoredSeries> series, List<RealisticNode> nodes) {}

    private static Fleet fleet(MetricsStore store) {
        List<StoredSeries> all = new ArrayList<>();
        List<RealisticNode> nodes = new ArrayList<>();
        for (int n = 0; n < NODES; n++) {
            String node = "edge-" + n;
            for (RealisticNode.Spec spec : RealisticNode.SERIES) {
                Map<String, String> labels = new java.util.HashMap<>(spec.labels());
                if (labels.containsKey("app")) {
                    labels.put("replica", labels.get("app") + "-" + n);
                }
                all.add(store.seriesFor(store.key(spec.name(), labels, node), spec.kind()));
            }
            nodes.add(new RealisticNode(n, START));
        }
        return new Fleet(all, nodes);
    }

    /** Samples every node from {@code from} (inclusive) to {@code to} (exclusive) every {@code stepMs}. */
    private static void feed(MetricsStore store, Fleet fleet, long from, long to, long stepMs) {
        int perNode = RealisticNode.SERIES.size();
        for (long due = from; due < to; due += stepMs) {
            for (int n = 0; n < NODES; n++) {
                RealisticNode node = fleet.nodes().get(n);
                long t = node.jittered(due);
                double[] values = node.next(t);
                for (int i = 0; i < perNode; i++) {
                    store.add(fleet.series().get(n * perNode + i), t, values[i], false);
                }
            }
        }
    }

    private static void report(String at, MetricsStore store, Fleet fleet, long heap) {
        long encoded = 0;
        long allocated = 0;
        int tiers = store.tiers().size();
        long[] tierBytes = new long[tiers];
        long[] tierPoints = new long[tiers];
        for (StoredSeries s : fleet.series()) {
            encoded += s.encodedBytes();
            allocated += s.allocatedBytes();
            for (int i = 0; i < tiers; i++) {
                tierBytes[i] += s.tierEncodedBytes(i);
                tierPoints[i] += s.points(i);
            }
        }
        StringBuilder perPoint = new StringBuilder();
        for (int i = 0; i < tiers; i++) {
            perPoint.append(String.format(" bytes_per_point_%s_%s=%.2f", label(store.tiers().get(i).resolution()), at,
                    tierPoints[i] == 0 ? 0.0 : (double) tierBytes[i] / tierPoints[i]));
        }
        int series = fleet.series().size();
        System.out.printf("BENCH cp-metrics nodes=%d series=%d at=%s kib_per_node_%s=%.1f bytes_per_series_%s=%d encoded_bytes_per_series_%s=%d "
                        + "data_bytes_per_series_%s=%d fixed_bytes_per_series_%s=%d heap_mib_per_1000_nodes_%s=%.1f%s%n",
                NODES, series, at, at, heap / 1024.0 / NODES, at, heap / series, at, encoded / series, at, allocated / series,
                at, (heap - encoded) / series, at, heap / 1048576.0 * 1000 / NODES, perPoint);
    }

    private static String label(java.time.Duration d) {
        return d.toMinutes() == 0 ? d.toSeconds() + "s" : d.toHours() == 0 ? d.toMinutes() + "m" : d.toHours() + "h";
    }

    @Test
    void memoryPerNodeAndQueryLatency() {
        long baseline = heapAfterGc();
        // The production defaults unless given: -Dcp-metrics.tiers=1m:24h,5m:7d -Dcp-metrics.precision-bits=8
        String tiers = System.getProperty("cp-metrics.tiers", "10s:1h,1m:24h,5m:7d");
        int bits = Integer.getInteger("cp-metrics.precision-bits", MetricsStore.DEFAULT_PRECISION_BITS);
        System.out.printf("BENCH cp-metrics tiers=%s precision_bits=%d%n", tiers, bits);
        MetricsStore store = new MetricsStore(new MetricsStore.Settings(Tier.parseAll(tiers), 200_000, 2000, bits));
        Fleet fleet = fleet(store);
        long started = System.nanoTime();
        feed(store, fleet, START, START + HOUR, RealisticNode.SAMPLE_MS);
        double seconds = (System.nanoTime() - started) / 1e9;
        System.out.printf("BENCH cp-metrics ingest_points_per_s=%.0f (1h of 10s samples, %d series, one thread)%n",
                fleet.series().size() * 360 / seconds, fleet.series().size());
        report("1h", store, fleet, heapAfterGc() - baseline);

        feed(store, fleet, START + HOUR, START + 24 * HOUR, RealisticNode.SAMPLE_MS);
        report("24h", store, fleet, heapAfterGc() - baseline);

        // Full retention: six more days sampled every 5 minutes (what the 5-minute tier keeps; the
        // finer tiers expire meanwhile), then a last day at 10 s so every tier is full as after a week.
        feed(store, fleet, START + 24 * HOUR, START + 6 * 24 * HOUR, 300_000);
        feed(store, fleet, START + 6 * 24 * HOUR, START + 7 * 24 * HOUR, RealisticNode.SAMPLE_MS);
        report("7d", store, fleet, heapAfterGc() - baseline);

        // Query latency at "now" = the last sample.
        long now = START + 7 * 24 * HOUR - RealisticNode.SAMPLE_MS;
        MetricsQuery query = new MetricsQuery(store, Clock.fixed(Instant.ofEpochMilli(now), ZoneOffset.UTC));
        measure("one node, all 40 series, last 1h, finest", () -> query.query(QueryMetricsRequest.newBuilder()
                .addAllNames(RealisticNode.SERIES.stream().map(RealisticNode.Spec::name).distinct().toList())
                .addMatchers(LabelMatcher.newBuilder().setName("node").setValue("edge-7")).build()).getSeriesCount());
        measure("one node cpu, last 7d, step 1h", () -> query.query(QueryMetricsRequest.newBuilder().addNames("node_cpu_usage_cores")
                .addMatchers(LabelMatcher.newBuilder().setName("node").setValue("edge-7"))
                .setStart(com.google.protobuf.Timestamp.newBuilder().setSeconds((now - 7L * 24 * 3_600_000) / 1000 + 60))
                .setStep(com.google.protobuf.Duration.newBuilder().setSeconds(3600)).build()).getSeriesCount());
        measure("fleet cpu (200 series), last 1h, step 5m", () -> query.query(QueryMetricsRequest.newBuilder().addNames("node_cpu_usage_cores")
                .setStep(com.google.protobuf.Duration.newBuilder().setSeconds(300)).build()).getSeriesCount());
        measure("fleet containers matching app=~app[0-1] (400 series), last 24h, step 20m", () -> query.query(QueryMetricsRequest.newBuilder()
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
