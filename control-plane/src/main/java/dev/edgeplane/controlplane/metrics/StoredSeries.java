package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.v1.MetricKind;

/**
 * One series in memory: its key, its kind and one compressed {@link TierSeries} per tier (the finest
 * keeps exact times), all guarded by this object's lock.
 */
public final class StoredSeries {
    private final SeriesKey key;
    private final MetricKind kind;
    private final TierSeries[] tiers;
    private long newestMs = Long.MIN_VALUE;
    private double latest = Double.NaN;
    private volatile boolean removed;

    StoredSeries(SeriesKey key, MetricKind kind, TierSeries.Shape[] shapes) {
        this.key = key;
        this.kind = kind;
        this.tiers = new TierSeries[shapes.length];
        for (int i = 0; i < tiers.length; i++) {
            tiers[i] = new TierSeries(shapes[i]);
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
        for (TierSeries tier : tiers) {
            kept |= tier.add(timeMs, value, backfill, counter);
        }
        if (kept && timeMs >= newestMs) {
            newestMs = timeMs;
            latest = value;
        }
        return kept;
    }

    synchronized void read(int tier, long fromMs, long toMs, TierSeries.PointVisitor visitor) {
        tiers[tier].read(fromMs, toMs, kind == MetricKind.COUNTER, visitor);
    }

    /** Compressed bytes of every tier, as the encoder counts them. */
    synchronized int encodedBytes() {
        int n = 0;
        for (TierSeries tier : tiers) {
            n += tier.encodedBytes();
        }
        return n;
    }

    /** Bytes of arrays held for the data (the open chunks' spare room included). */
    synchronized int allocatedBytes() {
        int n = 0;
        for (TierSeries tier : tiers) {
            n += tier.allocatedBytes();
        }
        return n;
    }

    synchronized int tierEncodedBytes(int tier) {
        return tiers[tier].encodedBytes();
    }

    synchronized int points(int tier) {
        return tiers[tier].points();
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
