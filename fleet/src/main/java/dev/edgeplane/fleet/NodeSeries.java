package dev.edgeplane.fleet;

import dev.edgeplane.api.v1.MetricKind;
import dev.edgeplane.api.v1.MetricsBatch;
import dev.edgeplane.api.v1.SampleFrame;
import dev.edgeplane.api.v1.SeriesDefinition;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The 40 series a simulated node reports, named and labelled as docs/metrics.md lists them (node,
 * agent and two containers' series), with values that move like real ones (gauges wander, counters
 * only grow) so the control plane's compression sees realistic data. Values are a pure function of
 * (agent, series, time): nothing is kept per agent.
 */
final class NodeSeries {
    record Definition(String name, Map<String, String> labels, MetricKind kind, double base, double amplitude) {}

    static final List<Definition> ALL = definitions();

    private NodeSeries() {}

    private static List<Definition> definitions() {
        List<Definition> d = new ArrayList<>();
        MetricKind g = MetricKind.GAUGE;
        MetricKind c = MetricKind.COUNTER;
        d.add(new Definition("node_cpu_usage_cores", Map.of(), g, 0.6, 0.4));
        d.add(new Definition("node_cpu_usage_ratio", Map.of(), g, 0.15, 0.1));
        d.add(new Definition("node_cpu_cores", Map.of(), g, 4, 0));
        d.add(new Definition("node_load1", Map.of(), g, 0.8, 0.6));
        d.add(new Definition("node_load5", Map.of(), g, 0.7, 0.3));
        d.add(new Definition("node_load15", Map.of(), g, 0.6, 0.1));
        d.add(new Definition("node_memory_total_bytes", Map.of(), g, 8.0e9, 0));
        d.add(new Definition("node_memory_available_bytes", Map.of(), g, 5.1e9, 4.0e8));
        d.add(new Definition("node_memory_used_bytes", Map.of(), g, 2.9e9, 4.0e8));
        for (String mount : List.of("root", "data")) {
            d.add(new Definition("node_filesystem_used_bytes", Map.of("mount", mount), g, 1.2e10, 1.0e7));
            d.add(new Definition("node_filesystem_free_bytes", Map.of("mount", mount), g, 2.1e10, 1.0e7));
        }
        for (String nic : List.of("eth0", "wlan0")) {
            d.add(new Definition("node_network_receive_bytes_total", Map.of("interface", nic), c, 1.0e9, 25_000));
            d.add(new Definition("node_network_transmit_bytes_total", Map.of("interface", nic), c, 4.0e8, 9_000));
        }
        d.add(new Definition("node_uptime_seconds", Map.of(), c, 86_400, 1));
        for (String container : List.of("main", "sidecar")) {
            Map<String, String> labels = Map.of("namespace", "default", "app", "sim", "replica", "sim-0", "container", container);
            d.add(new Definition("container_cpu_usage_cores", labels, g, 0.1, 0.08));
            d.add(new Definition("container_memory_working_set_bytes", labels, g, 6.0e7, 5.0e6));
            d.add(new Definition("container_restarts_total", labels, c, 0, 0));
            d.add(new Definition("container_state", labels, g, 2, 0));
        }
        d.add(new Definition("agent_connected_seconds_total", Map.of(), c, 3_600, 1));
        d.add(new Definition("agent_disconnected_seconds_total", Map.of(), c, 12, 0));
        d.add(new Definition("agent_offline_episodes_total", Map.of(), c, 1, 0));
        d.add(new Definition("agent_sync_lag_revisions", Map.of(), g, 0, 0));
        for (String queue : List.of("events", "metrics", "status")) {
            d.add(new Definition("agent_queue_length", Map.of("queue", queue), g, 0, 2));
        }
        for (String kind : List.of("events", "metrics")) {
            d.add(new Definition("agent_messages_dropped_total", Map.of("kind", kind), c, 0, 0));
        }
        for (String stat : List.of("last", "max")) {
            d.add(new Definition("agent_reconcile_duration_seconds", Map.of("stat", stat), g, 0.004, 0.003));
        }
        d.add(new Definition("agent_heap_used_bytes", Map.of(), g, 2.4e7, 6.0e6));
        d.add(new Definition("agent_resident_memory_bytes", Map.of(), g, 9.0e7, 2.0e6));
        d.add(new Definition("agent_metrics_collect_seconds_total", Map.of(), c, 30, 0.002));
        if (d.size() != 40) {
            throw new IllegalStateException(d.size() + " series, meant 40");
        }
        return List.copyOf(d);
    }

    /** Adds the series definitions (ids 1..40) to a batch: the first batch of a stream. */
    static void define(MetricsBatch.Builder batch) {
        for (int i = 0; i < ALL.size(); i++) {
            Definition def = ALL.get(i);
            batch.addNewSeries(SeriesDefinition.newBuilder().setId(i + 1).setName(def.name()).putAllLabels(def.labels())
                    .setKind(def.kind()));
        }
    }

    /** One frame of every series at {@code timeMs}; the first frame of a batch lists the ids, later ones reuse them. */
    static SampleFrame frame(int agent, long timeMs, boolean withIds) {
        SampleFrame.Builder frame = SampleFrame.newBuilder().setTimeUnixMs(timeMs);
        double seconds = timeMs / 1000.0;
        for (int i = 0; i < ALL.size(); i++) {
            Definition def = ALL.get(i);
            if (withIds) {
                frame.addSeriesIds(i + 1);
            }
            double value;
            if (def.kind() == MetricKind.COUNTER) {
                // grows at a per-agent rate around the amplitude (units per second)
                value = Math.floor(def.base() + seconds * def.amplitude() * (0.5 + (agent * 31 + i) % 97 / 97.0));
            } else if (def.amplitude() == 0) {
                value = def.base();
            } else {
                double phase = (agent * 131 + i * 17) % 360;
                double wobble = Math.sin(seconds / 300 + phase) * 0.7 + Math.sin(seconds / 23 + phase * 3) * 0.3;
                value = Math.max(0, def.base() + def.amplitude() * wobble);
                if (def.base() > 1000) {
                    value = Math.floor(value); // byte counts are whole
                } else {
                    value = Math.round(value * 1000) / 1000.0;
                }
            }
            frame.addValues(value);
        }
        return frame.build();
    }
}
