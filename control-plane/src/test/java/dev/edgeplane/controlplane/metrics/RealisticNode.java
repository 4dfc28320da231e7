package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.v1.MetricKind;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The 40 series one agent reports (docs/metrics.md: 20 node and agent series, 4 for each of 5
 * containers), with values shaped like the agent's collectors give them, deterministic from a seed:
 * CPU usage as full-precision ratios (the costliest to compress), load averages with two decimals,
 * memory as kB x 1024 random walks, filesystems that change now and then, growing byte counters,
 * uptime with two decimals, constants (cores, totals, restarts, states). Samples every 10 s with a
 * few milliseconds of jitter, as the agent's timer gives them.
 */
final class RealisticNode {
    record Spec(String name, Map<String, String> labels, MetricKind kind) {}

    static final long SAMPLE_MS = 10_000;
    static final List<Spec> SERIES;

    static {
        List<Spec> all = new ArrayList<>();
        for (String name : List.of("node_cpu_cores", "node_cpu_usage_cores", "node_cpu_usage_ratio", "node_load1", "node_load5", "node_load15",
                "node_memory_total_bytes", "node_memory_available_bytes", "node_memory_used_bytes", "node_uptime_seconds",
                "agent_heap_used_bytes", "agent_resident_memory_bytes", "agent_sync_lag_revisions", "agent_connected_seconds_total")) {
            all.add(new Spec(name, Map.of(), name.endsWith("_total") ? MetricKind.COUNTER : MetricKind.GAUGE));
        }
        for (String mount : List.of("root", "data")) {
            all.add(new Spec("node_filesystem_used_bytes", Map.of("mount", mount), MetricKind.GAUGE));
            all.add(new Spec("node_filesystem_free_bytes", Map.of("mount", mount), MetricKind.GAUGE));
        }
        all.add(new Spec("node_network_receive_bytes_total", Map.of("interface", "eth0"), MetricKind.COUNTER));
        all.add(new Spec("node_network_transmit_bytes_total", Map.of("interface", "eth0"), MetricKind.COUNTER));
        for (int c = 0; c < 5; c++) {
            for (String name : List.of("container_cpu_usage_cores", "container_memory_working_set_bytes", "container_restarts_total", "container_state")) {
                all.add(new Spec(name, Map.of("namespace", "default", "app", "app" + c, "container", "main"),
                        name.endsWith("_total") ? MetricKind.COUNTER : MetricKind.GAUGE));
            }
        }
        SERIES = List.copyOf(all);
    }

    private final Random random;
    private final long start;
    private double cpu = 0.6;
    private double load = 0.5;
    private double load5 = 0.5;
    private double load15 = 0.5;
    private long availableKb = 5_000_000;
    private long heap = 40L << 20;
    private long rss = 120L << 20;
    private final long[] fsUsed = {6_000_000_000L, 20_000_000_000L};
    private long rx = 1_000_000_000L;
    private long tx = 300_000_000L;
    private final double[] containerCpu = {0.05, 0.1, 0.02, 0.3, 0.01};
    private final long[] containerMemory = {50L << 20, 80L << 20, 20L << 20, 200L << 20, 10L << 20};

    /** {@code start}: when the agent connected (uptime and connected seconds count from it). */
    RealisticNode(long seed, long start) {
        this.random = new Random(seed);
        this.start = start;
    }

    /** The time of a sample due at {@code dueMs}: the agent's timer is a few milliseconds late. */
    long jittered(long dueMs) {
        return dueMs + random.nextInt(7);
    }

    /** The next sample's values, one per {@link #SERIES} entry, stamped at {@code timeMs}. */
    double[] next(long timeMs) {
        double[] v = new double[SERIES.size()];
        cpu = clamp(cpu + random.nextGaussian() * 0.15, 0.01, 3.9);
        load = round2(clamp(load * 0.9 + cpu * 0.1 + random.nextGaussian() * 0.02, 0, 8));
        load5 = round2(load5 * 0.97 + load * 0.03);
        load15 = round2(load15 * 0.99 + load * 0.01);
        availableKb = Math.max(100_000, availableKb + (long) (random.nextGaussian() * 2_000));
        heap = heap > (200L << 20) ? 40L << 20 : heap + random.nextInt(2 << 20);
        if (random.nextInt(30) == 0) {
            rss += 4096L * (random.nextInt(64) - 16);
        }
        int i = 0;
        v[i++] = 4;
        v[i++] = cpu;
        v[i++] = cpu / 4;
        v[i++] = load;
        v[i++] = load5;
        v[i++] = load15;
        v[i++] = 8_000_000 * 1024.0;
        v[i++] = availableKb * 1024.0;
        v[i++] = (8_000_000 - availableKb) * 1024.0;
        v[i++] = round2(86_400 + (timeMs - start) / 1000.0 + random.nextInt(3) / 100.0);
        v[i++] = heap;
        v[i++] = rss;
        v[i++] = random.nextInt(100) == 0 ? 1 : 0;
        v[i++] = (timeMs - start) / 1000.0;
        for (int m = 0; m < 2; m++) {
            if (random.nextInt(12) == 0) {
                fsUsed[m] += 4096L * random.nextInt(256);
            }
            v[i++] = fsUsed[m];
            v[i++] = 50_000_000_000L - fsUsed[m];
        }
        rx += 5_000 + random.nextInt(50_000);
        tx += 1_000 + random.nextInt(20_000);
        v[i++] = rx;
        v[i++] = tx;
        for (int c = 0; c < 5; c++) {
            containerCpu[c] = clamp(containerCpu[c] + random.nextGaussian() * 0.01, 0.0005, 1);
            containerMemory[c] = Math.max(1 << 20, containerMemory[c] + 4096L * (random.nextInt(65) - 32));
            v[i++] = containerCpu[c];
            v[i++] = containerMemory[c];
            v[i++] = 0;
            v[i++] = 2;
        }
        return v;
    }

    private static double clamp(double v, double lo, double hi) {
        return Math.max(lo, Math.min(hi, v));
    }

    private static double round2(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
