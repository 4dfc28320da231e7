package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.v1.MetricKind;
import java.util.List;

/** One series in memory: its key, its kind and one ring per tier (the finest keeps exact times). */
public final class StoredSeries {
    private final SeriesKey key;
    private final MetricKind kind;
    private final Ring[] rings;
    private long newestMs = Long.MIN_VALUE;
    private double latest = Double.NaN;
    private volatile boolean removed;

    StoredSeries(SeriesKey key, MetricKind kind, List<Tier> tiers) {
        this.key = key;
        this.kind = kind;
        this.rings = new Ring[tiers.size()];
        for (int i = 0; i < rings.length; i++) {
            rings[i] = new Ring(tiers.get(i), i == 0);
        }
    }

    public SeriesKey key() {
        return key;
    }

    public MetricKind kind() {
        return kind;
    }

    /** Adds a point to every tier that still keeps its time; false if none does. */
    synchronized boolean add(long timeMs, double value, boolean backfill) {
        boolean kept = false;
        boolean counter = kind == MetricKind.COUNTER;
        for (Ring ring : rings) {
            kept |= ring.add(timeMs, value, backfill, counter);
        }
        if (kept && timeMs >= newestMs) {
            newestMs = timeMs;
            latest = value;
        }
        return kept;
    }

    synchronized void read(int tier, long fromMs, long toMs, Ring.PointVisitor visitor) {
        rings[tier].read(fromMs, toMs, visitor);
    }

    /** Evicted or dropped from the store: a stream holding it must look its key up again. */
    boolean removed() {
        return removed;
    }

    void markRemoved() {
        removed = true;
    }

    /** Time of the newest point (Long.MIN_VALUE before the first). */
    public synchronized long newestMs() {
        return newestMs;
    }

    /** Value of the newest point (NaN before the first). */
    public synchronized double latest() {
        return latest;
    }
}
