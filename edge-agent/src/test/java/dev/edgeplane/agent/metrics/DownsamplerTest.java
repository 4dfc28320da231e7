package dev.edgeplane.agent.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class DownsamplerTest {
    private static final Series LOAD = Series.gauge("node_load1");
    private static final Series BYTES = Series.counter("node_network_receive_bytes_total", "interface", "eth0");

    @Test
    void gaugesAveragedCountersLastAtTheLastSampleTime() {
        Downsampler d = new Downsampler(Duration.ofMinutes(1));
        List<Frame> out = new ArrayList<>();
        // Six 10 s frames in minute 0, then one in minute 1.
        for (int i = 0; i < 6; i++) {
            d.add(new Frame(i * 10_000L, Map.of(LOAD, (double) i, BYTES, 100.0 * i))).ifPresent(out::add);
        }
        assertTrue(out.isEmpty(), "a bucket closes only when the next one starts");
        d.add(new Frame(60_000L, Map.of(LOAD, 9.0, BYTES, 900.0))).ifPresent(out::add);
        assertEquals(1, out.size());
        assertEquals(50_000L, out.get(0).timeUnixMs());
        assertEquals(2.5, out.get(0).values().get(LOAD), 1e-9, "average of 0..5");
        assertEquals(500.0, out.get(0).values().get(BYTES), "last counter value");
        Optional<Frame> rest = d.flush();
        assertEquals(60_000L, rest.orElseThrow().timeUnixMs());
        assertEquals(9.0, rest.get().values().get(LOAD));
        assertTrue(d.flush().isEmpty(), "flushed means empty");
    }

    @Test
    void seriesThatComeAndGoAverageOverTheirOwnSamples() {
        Downsampler d = new Downsampler(Duration.ofMinutes(1));
        Series idle = Series.gauge("container_cpu_usage_cores", "container", "idle");
        d.add(new Frame(0, Map.of(LOAD, 1.0)));
        d.add(new Frame(10_000, Map.of(LOAD, 3.0, idle, 0.5)));
        Frame f = d.flush().orElseThrow();
        assertEquals(2.0, f.values().get(LOAD));
        assertEquals(0.5, f.values().get(idle));
    }
}
