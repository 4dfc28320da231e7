package dev.edgeplane.agent.metrics;

import dev.edgeplane.api.v1.MetricKind;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Turns frames (every 10 s) into one frame per resolution bucket (1 min) for the offline ring:
 * gauges averaged, counters their last value. The merged frame carries the time of the bucket's last
 * sample, a real sampling instant. A frame in a later bucket closes the current one.
 */
public final class Downsampler {
    private final long resolutionMs;
    private long bucket = Long.MIN_VALUE;
    private long lastTime;
    private final Map<Series, double[]> sums = new LinkedHashMap<>(); // {sum or last value, count}

    public Downsampler(Duration resolution) {
        this.resolutionMs = Math.max(1, resolution.toMillis());
    }

    /** Adds a frame; returns the previous bucket's merged frame if this one starts a new bucket. */
    public Optional<Frame> add(Frame frame) {
        long b = Math.floorDiv(frame.timeUnixMs(), resolutionMs);
        Optional<Frame> closed = Optional.empty();
        if (bucket != Long.MIN_VALUE && b != bucket) {
            closed = flush();
        }
        bucket = b;
        lastTime = frame.timeUnixMs();
        frame.values().forEach((series, value) -> {
            double[] acc = sums.computeIfAbsent(series, s -> new double[2]);
            if (series.kind() == MetricKind.COUNTER) {
                acc[0] = value;
                acc[1] = 1;
            } else {
                acc[0] += value;
                acc[1]++;
            }
        });
        return closed;
    }

    /** The open bucket as a frame (e.g. when going back online or stopping), leaving the downsampler empty. */
    public Optional<Frame> flush() {
        if (sums.isEmpty()) {
            bucket = Long.MIN_VALUE;
            return Optional.empty();
        }
        Map<Series, Double> merged = new LinkedHashMap<>();
        sums.forEach((series, acc) -> merged.put(series, acc[0] / acc[1]));
        sums.clear();
        bucket = Long.MIN_VALUE;
        return Optional.of(new Frame(lastTime, merged));
    }
}
