package dev.edgeplane.agent.metrics;

import java.nio.file.Path;
import java.time.Duration;

/**
 * What `edge-agent run --metrics-*` sets.
 *
 * @param enabled            sample and report at all
 * @param interval           one frame this often (10 s)
 * @param flush              one batch this often while online (60 s)
 * @param ringDir            the offline ring (STATE_DIR/metrics)
 * @param ringRetention      the ring keeps this much history (24 h)
 * @param ringResolution     offline frames are merged to this resolution (1 min)
 * @param ringBytes          the ring's size bound
 * @param gzip               compress the ReportMetrics stream
 */
public record MetricsSettings(boolean enabled, Duration interval, Duration flush, Path ringDir, Duration ringRetention,
                              Duration ringResolution, long ringBytes, boolean gzip) {
    public static final long DEFAULT_RING_BYTES = 16L * 1024 * 1024;

    public MetricsSettings {
        if (interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("--metrics-interval must be positive");
        }
        if (flush.isNegative() || flush.isZero()) {
            throw new IllegalArgumentException("--metrics-flush must be positive");
        }
        if (ringBytes < 4096) {
            throw new IllegalArgumentException("--metrics-ring-bytes must be at least 4096");
        }
    }

    public static MetricsSettings defaults(Path stateDir) {
        return new MetricsSettings(true, Duration.ofSeconds(10), Duration.ofSeconds(60), stateDir.resolve("metrics"),
                Duration.ofHours(24), Duration.ofMinutes(1), DEFAULT_RING_BYTES, true);
    }
}
