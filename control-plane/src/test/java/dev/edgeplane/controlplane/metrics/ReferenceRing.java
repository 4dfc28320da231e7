package dev.edgeplane.controlplane.metrics;

import java.util.Arrays;

/**
 * The store's previous, uncompressed representation, kept as the reference the compressed
 * {@link TierSeries} must agree with (CompressedSeriesTest). One tier of one series: a ring of fixed time slots ({@code resolution} wide, {@code slots} of them)
 * in primitive arrays, allocated in chunks of 64 slots as they are first written, so a young or sparse
 * series costs little. A slot holds its absolute position implicitly: slot {@code s} lives at index
 * {@code s mod slots} while {@code newest - slots < s <= newest}.
 *
 * <p>The finest tier ("exact") keeps each slot's last value as a double with its millisecond offset
 * inside the slot, so points keep their original timestamps. Coarser tiers keep one float aggregate
 * per slot (the mean of gauges, the largest value of counters, i.e. the last one unless the counter
 * reset) and how many points it covers. One bit per slot says whether any point in it was backfill.
 */
final class ReferenceRing {
    private static final int CHUNK_BITS = 6;
    private static final int CHUNK = 1 << CHUNK_BITS;
    private static final int MAX_COUNT = Byte.MAX_VALUE;

    private final long resolutionMs;
    private final int slots;
    private final boolean exact;
    private final double[][] values;
    private final char[][] offsets;
    private final float[][] aggregates;
    private final byte[][] counts;
    private final long[] backfill;
    private long newest = Long.MIN_VALUE;

    ReferenceRing(Tier tier, boolean exact) {
        this.resolutionMs = tier.resolution().toMillis();
        this.slots = tier.slots();
        this.exact = exact;
        int chunks = (slots + CHUNK - 1) >>> CHUNK_BITS;
        this.values = exact ? new double[chunks][] : null;
        this.offsets = exact ? new char[chunks][] : null;
        this.aggregates = exact ? null : new float[chunks][];
        this.counts = exact ? null : new byte[chunks][];
        this.backfill = new long[chunks];
    }

    long resolutionMs() {
        return resolutionMs;
    }

    /** Records a point; false if it is older than this ring keeps. */
    boolean add(long timeMs, double value, boolean isBackfill, boolean counter) {
        long slot = Math.floorDiv(timeMs, resolutionMs);
        if (newest == Long.MIN_VALUE) {
            newest = slot;
        } else if (slot > newest) {
            advanceTo(slot);
        } else if (slot <= newest - slots) {
            return false;
        }
        int index = (int) Math.floorMod(slot, (long) slots);
        int chunk = index >>> CHUNK_BITS;
        int at = index & (CHUNK - 1);
        long bit = 1L << at;
        if (exact) {
            if (values[chunk] == null) {
                values[chunk] = new double[CHUNK];
                Arrays.fill(values[chunk], Double.NaN);
                offsets[chunk] = new char[CHUNK];
            }
            values[chunk][at] = value;
            offsets[chunk][at] = (char) Math.min(timeMs - slot * resolutionMs, Character.MAX_VALUE);
            backfill[chunk] = isBackfill ? backfill[chunk] | bit : backfill[chunk] & ~bit;
        } else {
            if (aggregates[chunk] == null) {
                aggregates[chunk] = new float[CHUNK];
                counts[chunk] = new byte[CHUNK];
            }
            int n = counts[chunk][at];
            float current = aggregates[chunk][at];
            if (n == 0) {
                aggregates[chunk][at] = (float) value;
            } else if (counter) {
                aggregates[chunk][at] = (float) Math.max(current, value);
            } else {
                aggregates[chunk][at] = (float) (current + (value - current) / (n + 1));
            }
            counts[chunk][at] = (byte) Math.min(n + 1, MAX_COUNT);
            if (n == 0) {
                backfill[chunk] = isBackfill ? backfill[chunk] | bit : backfill[chunk] & ~bit;
            } else if (isBackfill) {
                backfill[chunk] |= bit;
            }
        }
        return true;
    }

    private void advanceTo(long slot) {
        if (slot - newest >= slots) {
            // Everything kept is out of the window: give the memory back.
            Arrays.fill(backfill, 0L);
            if (exact) {
                Arrays.fill(values, null);
                Arrays.fill(offsets, null);
            } else {
                Arrays.fill(aggregates, null);
                Arrays.fill(counts, null);
            }
        } else {
            for (long s = newest + 1; s <= slot; s++) {
                clear((int) Math.floorMod(s, (long) slots));
            }
        }
        newest = slot;
    }

    private void clear(int index) {
        int chunk = index >>> CHUNK_BITS;
        int at = index & (CHUNK - 1);
        backfill[chunk] &= ~(1L << at);
        if (exact) {
            if (values[chunk] != null) {
                values[chunk][at] = Double.NaN;
            }
        } else if (counts[chunk] != null) {
            counts[chunk][at] = 0;
        }
    }

    /** Visits the points with times in [fromMs, toMs], oldest first (coarse slots by their start). */
    void read(long fromMs, long toMs, TierSeries.PointVisitor visitor) {
        if (newest == Long.MIN_VALUE || toMs < fromMs) {
            return;
        }
        long first = Math.max(Math.floorDiv(fromMs, resolutionMs), newest - slots + 1);
        long last = Math.min(Math.floorDiv(toMs, resolutionMs), newest);
        for (long s = first; s <= last; s++) {
            int index = (int) Math.floorMod(s, (long) slots);
            int chunk = index >>> CHUNK_BITS;
            int at = index & (CHUNK - 1);
            boolean isBackfill = (backfill[chunk] & (1L << at)) != 0;
            if (exact) {
                if (values[chunk] == null || Double.isNaN(values[chunk][at])) {
                    continue;
                }
                long time = s * resolutionMs + offsets[chunk][at];
                if (time >= fromMs && time <= toMs) {
                    visitor.point(time, values[chunk][at], isBackfill);
                }
            } else {
                if (counts[chunk] == null || counts[chunk][at] == 0) {
                    continue;
                }
                long time = s * resolutionMs;
                if (time >= fromMs) {
                    visitor.point(time, aggregates[chunk][at], isBackfill);
                }
            }
        }
    }
}
