package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.metrics.ValuePrecision;
import java.util.Arrays;

/**
 * One tier of one series, compressed: sealed chunks of up to {@link ChunkWriter#MAX_POINTS} points
 * back to back in one byte array (oldest first), the open head chunk, and the newest point kept
 * aside ("pending") because it may still change: in the finest tier a later point of the same slot
 * replaces it, in coarser tiers it is the running aggregate of its slot.
 *
 * <p>Semantics are those of a ring of {@code slots} time slots of {@code resolution}: one point per
 * slot, a window of the {@code slots} slots up to the newest, older points refused. The finest tier
 * ("exact") keeps each slot's last point with its original millisecond time; coarser tiers keep per
 * slot a float aggregate (mean of gauges, largest value of counters) and how many points it covers,
 * stamped at the slot's start. A slot's backfill flag: in the finest tier its point's; in coarser ones
 * whether any of its points was backfill.
 *
 * <p>Points older than the newest slot (backfill uploaded after live points) wait, uncompressed, in a
 * small backlog; it is merged into the chunks (the affected suffix decoded, merged, re-encoded) when it
 * is full, when a newer slot arrives, and before a read, so reads only ever see sorted chunks. Whole
 * chunks whose last point left the window are cut off; reads also filter by the window.
 *
 * <p>Times inside chunks are milliseconds in the exact tier and slot numbers in the others (so a
 * regular coarse series costs one bit per time). Not thread-safe: {@link StoredSeries} guards it.
 */
final class TierSeries {
    interface PointVisitor {
        void point(long timeMs, double value, boolean backfill);
    }

    /**
     * What all series of one tier share: its slots, whether it keeps exact times and last values, and
     * how its chunks encode gauges and counters. Gauges keep {@code precisionBits} significant bits
     * (at most a float's 24 in coarse tiers, whose aggregates are floats); counters keep every bit
     * they have (exact doubles, exact integers when integral, in the exact tier; floats in coarse
     * ones), because a counter rounded to a few bits would stand still and then jump.
     */
    record Shape(long resolutionMs, int slots, boolean exact, ChunkWriter.Format gauges, ChunkWriter.Format counters) {
        static Shape of(Tier tier, boolean exact, int precisionBits) {
            // Chunks of about a sixth of the window: headers (~14 bytes) stay under half a bit a point,
            // and what a tier keeps past its window (up to one chunk) stays small.
            int chunkPoints = Math.max(32, Math.min(ChunkWriter.MAX_POINTS, tier.slots() / 6));
            int dropped = ValuePrecision.dropped(precisionBits);
            return new Shape(tier.resolution().toMillis(), tier.slots(), exact,
                    new ChunkWriter.Format(chunkPoints, exact ? dropped : Math.max(dropped, ValuePrecision.FLOAT_DROPPED), false, false),
                    new ChunkWriter.Format(chunkPoints, exact ? 0 : ValuePrecision.FLOAT_DROPPED, true, exact));
        }

        /** Every bit kept. */
        static Shape of(Tier tier, boolean exact) {
            return of(tier, exact, ValuePrecision.LOSSLESS);
        }

        ChunkWriter.Format format(boolean counter) {
            return counter ? counters : gauges;
        }

        int chunkPoints() {
            return gauges.maxPoints();
        }
    }

    static final int BACKLOG = 64;
    private static final byte[] EMPTY = new byte[0];
    private static final long NONE = Long.MIN_VALUE;

    private final Shape shape;
    private byte[] sealed = EMPTY;
    private ChunkWriter head;
    /** Time unit (ms or slot) of the newest point, NONE before the first. */
    private long pendingTime = NONE;
    private double pendingValue;
    private int pendingCount;
    private boolean pendingBackfill;
    private Backlog backlog;

    TierSeries(Shape shape) {
        this.shape = shape;
    }

    Shape shape() {
        return shape;
    }

    /** Records a point; false if it is older than this tier keeps. */
    boolean add(long timeMs, double value, boolean isBackfill, boolean counter) {
        long slot = Math.floorDiv(timeMs, shape.resolutionMs());
        if (pendingTime == NONE) {
            startPending(timeMs, value, isBackfill);
            return true;
        }
        long newest = slotOf(pendingTime);
        if (slot <= newest - shape.slots()) {
            return false;
        }
        if (slot > newest) {
            flushPending(counter);
            startPending(timeMs, value, isBackfill);
            expireBefore(slot - shape.slots() + 1);
            if (backlog != null) {
                merge(counter);
            }
        } else if (slot == newest) {
            if (shape.exact()) {
                startPending(timeMs, value, isBackfill);
            } else {
                pendingValue = aggregate((float) pendingValue, pendingCount, value, counter);
                pendingCount = Math.min(pendingCount + 1, ChunkWriter.MAX_COUNT);
                pendingBackfill |= isBackfill;
            }
        } else {
            if (backlog == null) {
                backlog = new Backlog();
            }
            backlog.add(timeMs, value, isBackfill);
            if (backlog.size == BACKLOG) {
                merge(counter);
            }
        }
        return true;
    }

    /** The running mean of gauges or the largest value of counters, in float as coarse tiers keep it. */
    private static float aggregate(float current, int n, double value, boolean counter) {
        if (n == 0) {
            return (float) value;
        }
        return counter ? (float) Math.max(current, value) : (float) (current + (value - current) / (n + 1));
    }

    private void startPending(long timeMs, double value, boolean isBackfill) {
        pendingTime = unitOf(timeMs);
        pendingValue = shape.exact() ? value : (float) value;
        pendingCount = 1;
        pendingBackfill = isBackfill;
    }

    private void flushPending(boolean counter) {
        append(pendingTime, pendingValue, pendingCount, pendingBackfill, counter);
    }

    private void append(long unit, double value, int count, boolean isBackfill, boolean counter) {
        if (head == null) {
            head = new ChunkWriter(shape.format(counter));
        } else if (!head.accepts(value)) {
            sealHead(); // an integer chunk met a fraction: the next chunk takes any value
        }
        head.append(unit, value, count, isBackfill);
        if (head.isFull()) {
            sealHead();
        }
    }

    private void sealHead() {
        int at = sealed.length;
        sealed = Arrays.copyOf(sealed, at + head.sealedSize());
        head.seal(sealed, at);
    }

    /** Cuts off the sealed chunks (and the head) whose points are all older than {@code windowStart}. */
    private void expireBefore(long windowStart) {
        int keep = 0;
        while (keep < sealed.length && slotOf(sealedLastTime(sealed, keep)) < windowStart) {
            keep = sealedEnd(sealed, keep);
        }
        if (keep > 0) {
            sealed = keep == sealed.length ? EMPTY : Arrays.copyOfRange(sealed, keep, sealed.length);
        }
        if (head != null && head.points() > 0 && slotOf(head.lastTime()) < windowStart) {
            head.reset();
        }
    }

    /** Visits the points with times in [fromMs, toMs], oldest first (coarse slots by their start). */
    void read(long fromMs, long toMs, boolean counter, PointVisitor visitor) {
        if (pendingTime == NONE || toMs < fromMs) {
            return;
        }
        if (backlog != null) {
            merge(counter);
        }
        long newest = slotOf(pendingTime);
        long first = Math.max(Math.floorDiv(fromMs, shape.resolutionMs()), newest - shape.slots() + 1);
        long last = Math.min(Math.floorDiv(toMs, shape.resolutionMs()), newest);
        if (first > last) {
            return;
        }
        ChunkCursor c = new ChunkCursor();
        for (int at = 0; at < sealed.length; at = c.end()) {
            c.onSealed(sealed, at);
            if (slotOf(c.lastTime()) < first) {
                continue;
            }
            if (!visit(c, first, last, fromMs, toMs, visitor)) {
                return;
            }
        }
        if (head != null && head.points() > 0 && !visit(head.cursor(c), first, last, fromMs, toMs, visitor)) {
            return;
        }
        // The newest point reads as it will once encoded (rounded to the tier's precision).
        visit(pendingTime, ValuePrecision.round(pendingValue, shape.format(counter).dropped()), pendingBackfill, first, last, fromMs, toMs, visitor);
    }

    /** False once past {@code last}: nothing newer can be in range. */
    private boolean visit(ChunkCursor c, long first, long last, long fromMs, long toMs, PointVisitor visitor) {
        while (c.next()) {
            if (!visit(c.time(), c.value(), c.backfill(), first, last, fromMs, toMs, visitor)) {
                return false;
            }
        }
        return true;
    }

    private boolean visit(long unit, double value, boolean isBackfill, long first, long last, long fromMs, long toMs, PointVisitor visitor) {
        long slot = slotOf(unit);
        if (slot > last) {
            return false;
        }
        long ms = msOf(unit);
        if (slot >= first && ms >= fromMs && ms <= toMs) {
            visitor.point(ms, value, isBackfill);
        }
        return true;
    }

    /**
     * Merges the backlog: decodes the chunks from the first one that reaches the backlog's oldest slot
     * through the head, merges the backlog into those points slot by slot (in the order points arrived,
     * so the result is what in-order arrival would have given), and re-encodes them.
     */
    private void merge(boolean counter) {
        Backlog b = backlog;
        backlog = null;
        long windowStart = slotOf(pendingTime) - shape.slots() + 1;
        Integer[] order = new Integer[b.size];
        for (int i = 0; i < b.size; i++) {
            order[i] = i;
        }
        long res = shape.resolutionMs();
        Arrays.sort(order, (x, y) -> Long.compare(Math.floorDiv(b.times[x], res), Math.floorDiv(b.times[y], res))); // stable
        long lowest = Math.floorDiv(b.times[order[0]], res);

        int cut = 0;
        while (cut < sealed.length && slotOf(sealedLastTime(sealed, cut)) < lowest) {
            cut = sealedEnd(sealed, cut);
        }
        Slots old = new Slots();
        ChunkCursor c = new ChunkCursor();
        for (int at = cut; at < sealed.length; at = c.end()) {
            c.onSealed(sealed, at);
            old.addAll(c);
        }
        if (head != null) {
            old.addAll(head.cursor(c));
            head.reset();
        }
        sealed = cut == sealed.length ? sealed : cut == 0 ? EMPTY : Arrays.copyOf(sealed, cut);

        int i = 0;
        int j = 0;
        while (i < old.size || j < b.size) {
            long oldSlot = i < old.size ? slotOf(old.units[i]) : Long.MAX_VALUE;
            long newSlot = j < b.size ? Math.floorDiv(b.times[order[j]], res) : Long.MAX_VALUE;
            long slot = Math.min(oldSlot, newSlot);
            long unit;
            double value;
            int count;
            boolean isBackfill;
            if (oldSlot == slot) {
                unit = old.units[i];
                value = old.values[i];
                count = old.counts[i];
                isBackfill = old.backfill[i];
                i++;
            } else {
                int k = order[j++];
                unit = unitOf(b.times[k]);
                value = shape.exact() ? b.values[k] : (float) b.values[k];
                count = 1;
                isBackfill = b.backfill(k);
            }
            for (; j < b.size && Math.floorDiv(b.times[order[j]], res) == slot; j++) {
                int k = order[j];
                if (shape.exact()) {
                    unit = b.times[k];
                    value = b.values[k];
                    isBackfill = b.backfill(k);
                } else {
                    value = aggregate((float) value, count, b.values[k], counter);
                    count = Math.min(count + 1, ChunkWriter.MAX_COUNT);
                    isBackfill |= b.backfill(k);
                }
            }
            if (slot >= windowStart) {
                append(unit, value, count, isBackfill, counter);
            }
        }
    }

    /** Bytes of compressed data (sealed chunks and the head's bits and side data), as the encoder counts them. */
    int encodedBytes() {
        return sealed.length + (head == null ? 0 : head.encodedBytes());
    }

    /** Bytes of arrays this tier holds (spare room of the head's buffer and the backlog included). */
    int allocatedBytes() {
        return sealed.length + (head == null ? 0 : head.allocatedBytes()) + (backlog == null ? 0 : BACKLOG * 16 + 8);
    }

    /** Points kept (in chunks, pending and the backlog), including any the window no longer shows. */
    int points() {
        int n = pendingTime == NONE ? 0 : 1;
        for (int at = 0; at < sealed.length; at = sealedEnd(sealed, at)) {
            n += sealedPoints(sealed, at);
        }
        return n + (head == null ? 0 : head.points()) + (backlog == null ? 0 : backlog.size);
    }

    private long unitOf(long timeMs) {
        return shape.exact() ? timeMs : Math.floorDiv(timeMs, shape.resolutionMs());
    }

    private long slotOf(long unit) {
        return shape.exact() ? Math.floorDiv(unit, shape.resolutionMs()) : unit;
    }

    private long msOf(long unit) {
        return shape.exact() ? unit : unit * shape.resolutionMs();
    }

    // Sealed chunk headers, read without a cursor (on every new slot, so no garbage).

    private static int sealedEnd(byte[] data, int at) {
        long body = varint(data, at);
        return skipVarint(data, at) + (int) body;
    }

    private static int sealedPoints(byte[] data, int at) {
        return (int) varint(data, skipVarint(data, at));
    }

    private static long sealedLastTime(byte[] data, int at) {
        int p = skipVarint(data, skipVarint(data, at));
        long first = varint(data, p);
        return first + varint(data, skipVarint(data, p));
    }

    private static long varint(byte[] data, int at) {
        long v = 0;
        for (int shift = 0; ; shift += 7) {
            byte b = data[at++];
            v |= (long) (b & 0x7F) << shift;
            if (b >= 0) {
                return v;
            }
        }
    }

    private static int skipVarint(byte[] data, int at) {
        while (data[at++] < 0) {
            // continuation bytes
        }
        return at;
    }

    /** Out-of-order points waiting for a merge, in arrival order. */
    private static final class Backlog {
        final long[] times = new long[BACKLOG];
        final double[] values = new double[BACKLOG];
        long backfillBits;
        int size;

        void add(long timeMs, double value, boolean isBackfill) {
            times[size] = timeMs;
            values[size] = value;
            if (isBackfill) {
                backfillBits |= 1L << size;
            }
            size++;
        }

        boolean backfill(int i) {
            return (backfillBits & (1L << i)) != 0;
        }
    }

    /** Decoded points of the chunks a merge rewrites. */
    private static final class Slots {
        long[] units = new long[64];
        double[] values = new double[64];
        int[] counts = new int[64];
        boolean[] backfill = new boolean[64];
        int size;

        void addAll(ChunkCursor c) {
            while (c.next()) {
                if (size == units.length) {
                    int n = size * 2;
                    units = Arrays.copyOf(units, n);
                    values = Arrays.copyOf(values, n);
                    counts = Arrays.copyOf(counts, n);
                    backfill = Arrays.copyOf(backfill, n);
                }
                units[size] = c.time();
                values[size] = c.value();
                counts[size] = c.count();
                backfill[size] = c.backfill();
                size++;
            }
        }
    }
}
