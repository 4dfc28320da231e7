package dev.edgeplane.agent.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** --metrics-precision-bits: 0 (doubles) or 2..64; anything else is refused naming the flag. */
class MetricsSettingsTest {
    private static MetricsSettings withPrecision(int bits) {
        return new MetricsSettings(true, Duration.ofSeconds(10), Duration.ofSeconds(60), Path.of("/tmp/unused"), Duration.ofHours(24),
                Duration.ofMinutes(1), MetricsSettings.DEFAULT_RING_BYTES, true, bits);
    }

    @Test
    void precisionBitsOutOfRangeAreRefusedNamingTheFlag() {
        for (int bits : new int[] {-1, 1, 65}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> withPrecision(bits));
            assertTrue(e.getMessage().startsWith("--metrics-precision-bits"), e.getMessage());
        }
        for (int bits : new int[] {0, 2, 12, 53, 64}) {
            assertEquals(bits, withPrecision(bits).precisionBits());
        }
        assertEquals(12, MetricsSettings.defaults(Path.of("/tmp/unused")).precisionBits());
    }
}
