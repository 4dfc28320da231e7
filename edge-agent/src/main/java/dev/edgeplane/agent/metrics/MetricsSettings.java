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
 * @param precisionBits      significant bits of a gauge on the wire (12, the control plane's default precision);
 *                           53 or more: lossless; 0: every value as a double (the format before codes)
 */
public record MetricsSettings(boolean enabled, Duration interval, Duration flush, Path ringDir, Duration ringRetention,
                              Duration ringResolution, long ringBytes, boolean gzip, int precisionBits) {
    public static final long DEFAULT_RING_BYTES = 16L * 1024 * 1024;
    /** The control plane's default edgeplane.metrics.precision-bits: what it keeps of a gauge anyway. */
    public static final int DEFAULT_PRECISION_BITS = 12;

    public MetricsSettings {
        if (interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("--metrics-interval must be positive");
        }
        if (flush.isNegative() || flush.isZero()) {
            throw new IllegalArgumentException("--metrics-flush must be positive");
        }
        if (precisionBits != 0 && (precisionBits < 2 || precisionBits > 64)) {
            throw new IllegalArgumentException("--metrics-precision-bits must be 0 (doubles) or 2..64, not " + precisionBits);
        }
        if (ringBytes < 4096) {
            throw new IllegalArgumentException("--metrics-ring-bytes must be at least 4096");
        }
    }

    public static MetricsSettings defaults(Path stateDir) {
        return new MetricsSettings(true, Duration.ofSeconds(10), Duration.ofSeconds(60), stateDir.resolve("metrics"),
                Duration.ofHours(24), Duration.ofMinutes(1), DEFAULT_RING_BYTES, true, DEFAULT_PRECISION_BITS);
    }
}
