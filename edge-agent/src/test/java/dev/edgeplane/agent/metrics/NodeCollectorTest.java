package dev.edgeplane.agent.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Node series from the real /proc and statfs, and from a sample /proc for exact figures. */
class NodeCollectorTest {
    @TempDir
    Path tmp;

    @Test
    void realHostGivesEveryNodeSeriesWithSaneValues() throws Exception {
        NodeCollector node = NodeCollector.forHost(tmp.resolve("state-not-yet-created"));
        Samples first = new Samples();
        node.collect(first);
        assertFalse(names(first.frame(0)).contains("node_cpu_usage_cores"), "no CPU figure before a second reading");
        Thread.sleep(300);
        Samples second = new Samples();
        node.collect(second);
        Frame f = second.frame(1);
        assertTrue(names(f).containsAll(Set.of("node_cpu_usage_cores", "node_cpu_usage_ratio", "node_cpu_cores", "node_load1",
                "node_load5", "node_load15", "node_memory_total_bytes", "node_memory_available_bytes", "node_memory_used_bytes",
                "node_filesystem_used_bytes", "node_filesystem_free_bytes", "node_uptime_seconds")), names(f).toString());
        double cores = value(f, "node_cpu_cores", Map.of());
        assertTrue(cores >= Runtime.getRuntime().availableProcessors(), "online CPUs " + cores);
        double usage = value(f, "node_cpu_usage_cores", Map.of());
        assertTrue(usage >= 0 && usage <= cores, "busy cores " + usage);
        double ratio = value(f, "node_cpu_usage_ratio", Map.of());
        assertTrue(ratio >= 0 && ratio <= 1, "ratio " + ratio);
        for (String mount : new String[] {"root", "data"}) {
            assertTrue(value(f, "node_filesystem_used_bytes", Map.of("mount", mount)) > 0, mount);
            assertTrue(value(f, "node_filesystem_free_bytes", Map.of("mount", mount)) > 0, mount);
        }
        assertTrue(f.values().keySet().stream().noneMatch(s -> "lo".equals(s.labels().get("interface"))), "loopback excluded");
        assertTrue(value(f, "node_memory_used_bytes", Map.of()) + value(f, "node_memory_available_bytes", Map.of())
                == value(f, "node_memory_total_bytes", Map.of()));
    }

    @Test
    void sampleProcGivesExactFigures() throws Exception {
        Path proc = tmp.resolve("proc");
        Files.createDirectories(proc.resolve("net"));
        Files.writeString(proc.resolve("stat"), "cpu  100 0 0 300 0 0 0 0 0 0\ncpu0 50 0 0 150 0 0 0 0\ncpu1 50 0 0 150 0 0 0 0\n");
        Files.writeString(proc.resolve("loadavg"), "0.10 0.20 0.30 1/100 42\n");
        Files.writeString(proc.resolve("meminfo"), "MemTotal: 1000 kB\nMemAvailable: 250 kB\n");
        StringBuilder dev = new StringBuilder("h1\nh2\n  lo: 1 0 0 0 0 0 0 0 2 0 0 0 0 0 0 0\n");
        for (int i = 0; i < 20; i++) {
            dev.append("veth").append(i).append(": ").append(i).append(" 0 0 0 0 0 0 0 ").append(i * 2).append(" 0 0 0 0 0 0 0\n");
        }
        Files.writeString(proc.resolve("net/dev"), dev.toString());
        Files.writeString(proc.resolve("uptime"), "99.5 10.0\n");
        NodeCollector node = new NodeCollector(proc, Map.of("root", tmp));
        node.collect(new Samples());
        Files.writeString(proc.resolve("stat"), "cpu  200 0 0 400 0 0 0 0 0 0\ncpu0 100 0 0 200 0 0 0 0\ncpu1 100 0 0 200 0 0 0 0\n");
        Samples s = new Samples();
        node.collect(s);
        Frame f = s.frame(0);
        assertEquals(1.0, value(f, "node_cpu_usage_cores", Map.of()), 1e-9, "100 of 200 ticks busy on 2 CPUs");
        assertEquals(0.5, value(f, "node_cpu_usage_ratio", Map.of()), 1e-9);
        assertEquals(750 * 1024, value(f, "node_memory_used_bytes", Map.of()));
        assertEquals(0.3, value(f, "node_load15", Map.of()));
        assertEquals(99.5, value(f, "node_uptime_seconds", Map.of()));
        assertEquals(14.0, value(f, "node_network_transmit_bytes_total", Map.of("interface", "veth7")));
        long interfaces = f.values().keySet().stream().filter(x -> x.name().equals("node_network_receive_bytes_total")).count();
        assertEquals(NodeCollector.MAX_INTERFACES, interfaces, "interfaces are capped");
    }

    static Set<String> names(Frame f) {
        return f.values().keySet().stream().map(Series::name).collect(Collectors.toSet());
    }

    static double value(Frame f, String name, Map<String, String> labels) {
        return f.values().entrySet().stream()
                .filter(e -> e.getKey().name().equals(name) && e.getKey().labels().equals(new java.util.TreeMap<>(labels)))
                .map(Map.Entry::getValue).findFirst()
                .orElseThrow(() -> new AssertionError("no " + name + labels + " in " + f.values().keySet()));
    }
}
