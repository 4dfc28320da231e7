package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.metrics.ValuePrecision;
import java.util.Arrays;

/**
 * Encodes up to {@link Format#maxPoints} points, oldest first, into a bit stream: times as
 * delta-of-delta, values as deltas of their {@link ValuePrecision#index} (gauges) or as
 * delta-of-delta (counters), every number zigzag-mapped and written as an adaptive Rice code whose
 * parameter follows the recent magnitudes, so a regular time or a repeated value costs 1 bit (runs
 * of them less) and a noisy value about the entropy of its change at the kept precision. Values are
 * first rounded to the format's precision ({@link ValuePrecision}); counters of the exact tier that
 * are integers are kept as exact integers ({@link #FLAG_INTEGERS}), a chunk that started so ends
 * early when a non-integer arrives ({@link #accepts}). Besides time and value a point carries how
 * many samples it aggregates (coarse tiers) and whether it was backfilled; those are usually the same
 * for every point, so they are kept aside and written once per chunk unless they vary ({@link #seal}).
 *
 * <p>Rice code of an unsigned u with parameter k: {@code q = u >>> k}; q < 20: q one bits, a zero,
 * the k low bits of u; else 20 one bits, 7 bits length L, the L bits of u. k starts at the value the
 * previous chunk ended with (kept in the header) and then follows the numbers' bit lengths
 * ({@link Rice}). Bit stream, per point:
 * point 0: its value's index zigzagged as 7 bits length + that many bits (its time is in the header);
 * then time dod, value (d)elta, each Rice-coded. After {@link #RUN_AFTER} points in a row whose
 * codes were both 0 (a regular time and a repeated value, or a steady counter), the stream holds the
 * Elias gamma code of 1 + the number of such points that follow (a constant costs a few bits a
 * chunk); a point that breaks the run is written normally after it, and counting starts again. An open
 * run at the head is not written until the run ends or the chunk is sealed (the reader of a head
 * takes the points past the written bits as the run).
 *
 * <p>A sealed chunk is {@code varint bodyLength} then the body: {@code varint points},
 * {@code varlong firstTime}, {@code varlong lastTime-firstTime}, {@code byte flags}, {@code byte
 * dropped} (mantissa bits not kept), {@code byte} k of times and {@code byte} k of values at the
 * chunk's start, the backfill bitmap when flags has {@link #FLAG_BACKFILL} (one bit per point), the
 * counts as one byte per point when flags has {@link #FLAG_COUNTS} else one varint for all, then the
 * bit stream to the end of the body. Read by {@link ChunkCursor}. Not thread-safe: its
 * {@link TierSeries} guards it.
 */
final class ChunkWriter {
    /** The most points any chunk holds (a tier's chunks may be shorter, {@link Format#maxPoints}). */
    static final int MAX_POINTS = 255;
    static final int FLAG_BACKFILL = 1;
    static final int FLAG_COUNTS = 2;
    /** Values are delta-of-delta coded (counters), not delta. */
    static final int FLAG_DOD = 4;
    /** Values are exact integers, not indexes of rounded doubles. */
    static final int FLAG_INTEGERS = 8;
    /** Count per point is at most this (coarse tiers saturate there). */
    static final int MAX_COUNT = Byte.MAX_VALUE;
    static final int ESCAPE = 20;
    /** After this many repeats in a row, further repeats are counted and written as one run length. */
    static final int RUN_AFTER = 2;

    /**
     * How a tier's chunks encode: at most {@code maxPoints} points, values rounded by dropping
     * {@code dropped} low mantissa bits, values delta-of-delta coded when {@code dod}, exact integers
     * used when {@code integers} and the chunk's first value is one.
     */
    record Format(int maxPoints, int dropped, boolean dod, boolean integers) {
        Format {
            if (maxPoints < 1 || maxPoints > MAX_POINTS || dropped < 0 || dropped > 51) {
                throw new IllegalArgumentException("chunk format out of range: " + maxPoints + " points, " + dropped + " bits dropped");
            }
        }

        /** Every bit kept, 120 points a chunk, delta coded (tests). */
        static final Format LOSSLESS = new Format(120, 0, false, false);
    }

    private final Format format;
    private byte[] bits = new byte[8];
    private int bitCount;
    private int points;
    private long firstTime;
    private long lastTime;
    private long lastDelta;
    private long lastIndex;
    private long lastIndexDelta;
    private boolean integers;
    /** Points in a row, just before this one, whose time and value codes were both 0 ("repeats"). */
    private int repeats;
    /** Repeats of the open run, not written yet (after RUN_AFTER repeats they are run-length coded). */
    private int run;
    private int timeCode = Rice.start(0);
    private int valueCode = Rice.start(0);
    private int firstCount;
    /** One byte per point once a count differs from the first; null while all are equal. */
    private byte[] counts;
    /** One bit per point once a point is backfill; null while none is. */
    private byte[] backfill;

    ChunkWriter(Format format) {
        this.format = format;
    }

    int points() {
        return points;
    }

    boolean isFull() {
        return points >= format.maxPoints();
    }

    long firstTime() {
        return firstTime;
    }

    long lastTime() {
        return lastTime;
    }

    /** Whether {@code value} can join this chunk (an integer chunk takes only exact integers). */
    boolean accepts(double value) {
        return points == 0 || !integers || ValuePrecision.isExactInteger(value);
    }

    /** Bytes this chunk holds now (its buffers, not their spare room), for accounting. */
    int encodedBytes() {
        return ((bitCount + 7) >>> 3) + (counts == null ? 0 : points) + (backfill == null ? 0 : (points + 7) >>> 3);
    }

    /** Bytes allocated for it (buffers with their spare room). */
    int allocatedBytes() {
        return bits.length + (counts == null ? 0 : counts.length) + (backfill == null ? 0 : backfill.length);
    }

    /** Appends a point; times must grow strictly and the chunk must {@link #accepts accept} the value. */
    void append(long time, double value, int count, boolean isBackfill) {
        if (points >= format.maxPoints()) {
            throw new IllegalStateException("chunk is full");
        }
        if (points > 0 && time <= lastTime) {
            throw new IllegalArgumentException("time " + time + " is not after " + lastTime);
        }
        if (count < 1 || count > MAX_COUNT) {
            throw new IllegalArgumentException("count " + count + " is not in 1.." + MAX_COUNT);
        }
        if (!accepts(value)) {
            throw new IllegalArgumentException(value + " is not an integer, this chunk holds integers");
        }
        if (points == 0) {
            integers = format.integers() && ValuePrecision.isExactInteger(value);
        }
        long index = integers ? (long) value : ValuePrecision.index(ValuePrecision.round(value, format.dropped()), format.dropped());
        if (points == 0) {
            firstTime = time;
            firstCount = count;
            long u = zigzag(index);
            int length = 64 - Long.numberOfLeadingZeros(u);
            writeBits(length, 7);
            writeBits(u, length);
            lastDelta = 0;
            lastIndexDelta = 0;
        } else {
            long delta = time - lastTime;
            long indexDelta = index - lastIndex;
            long timeU = zigzag(delta - lastDelta);
            long valueU = zigzag(format.dod() ? indexDelta - lastIndexDelta : indexDelta);
            if (repeats >= RUN_AFTER) {
                if (timeU == 0 && valueU == 0) {
                    run++;
                } else {
                    writeGamma(run + 1L);
                    run = 0;
                    repeats = 0;
                    writePoint(timeU, valueU);
                }
            } else {
                writePoint(timeU, valueU);
            }
            lastDelta = delta;
            lastIndexDelta = indexDelta;
        }
        lastTime = time;
        lastIndex = index;
        if (counts == null && count != firstCount) {
            counts = new byte[format.maxPoints()];
            Arrays.fill(counts, 0, points, (byte) firstCount);
        }
        if (counts != null) {
            counts[points] = (byte) count;
        }
        if (isBackfill) {
            if (backfill == null) {
                backfill = new byte[(format.maxPoints() + 7) >>> 3];
            }
            backfill[points >>> 3] |= (byte) (0x80 >>> (points & 7));
        }
        points++;
    }

    private void writePoint(long timeU, long valueU) {
        timeCode = write(timeU, timeCode);
        valueCode = write(valueU, valueCode);
        repeats = timeU == 0 && valueU == 0 ? repeats + 1 : 0;
    }

    /** Elias gamma code of n >= 1: as many zeros as n has bits after its first, then n's bits. */
    private void writeGamma(long n) {
        int length = 64 - Long.numberOfLeadingZeros(n);
        writeBits(0, length - 1);
        writeBits(n, length);
    }

    /** Writes u with the code's current k; the code's next state. */
    private int write(long u, int code) {
        int k = Rice.k(code);
        long q = u >>> k;
        if (q >= 0 && q < ESCAPE) { // unsigned: u may use all 64 bits
            writeBits(((1L << q) - 1) << 1, (int) q + 1);
            writeBits(u, k);
        } else {
            writeBits((1L << ESCAPE) - 1, ESCAPE);
            int length = 64 - Long.numberOfLeadingZeros(u);
            writeBits(length, 7);
            writeBits(u, length);
        }
        return Rice.update(code, u);
    }

    static long zigzag(long v) {
        return (v << 1) ^ (v >> 63);
    }

    static long unzigzag(long u) {
        return (u >>> 1) ^ -(u & 1);
    }

    /** Writes the low {@code width} bits of {@code value}, most significant first. */
    private void writeBits(long value, int width) {
        int needed = (bitCount + width + 7) >>> 3;
        if (needed > bits.length) {
            // Small steps: the head's spare room is heap every series pays for.
            bits = Arrays.copyOf(bits, needed + 8 + (bits.length >>> 3));
        }
        while (width > 0) {
            int free = 8 - (bitCount & 7);
            int take = Math.min(free, width);
            int part = (int) ((value >>> (width - take)) & ((1 << take) - 1));
            bits[bitCount >>> 3] |= (byte) (part << (free - take));
            bitCount += take;
            width -= take;
        }
    }

    /** A cursor over the points appended so far. */
    ChunkCursor cursor(ChunkCursor reuse) {
        return reuse.onHead(bits, bitCount, points, firstTime, firstCount, counts, backfill, flags(), format.dropped(), Rice.first(timeCode),
                Rice.first(valueCode));
    }

    private int flags() {
        return (backfill == null ? 0 : FLAG_BACKFILL) | (counts == null ? 0 : FLAG_COUNTS) | (format.dod() ? FLAG_DOD : 0)
                | (integers ? FLAG_INTEGERS : 0);
    }

    /** Size {@link #seal} writes. */
    int sealedSize() {
        closeRun();
        int body = bodySize();
        return varintSize(body) + body;
    }

    private int bodySize() {
        return varintSize(points) + varintSize(firstTime) + varintSize(lastTime - firstTime) + 4
                + (backfill == null ? 0 : (points + 7) >>> 3)
                + (counts == null ? varintSize(firstCount) : points)
                + ((bitCount + 7) >>> 3);
    }

    /** Writes the chunk at {@code at} ({@link #sealedSize} bytes) and empties this writer for the next chunk. */
    void seal(byte[] into, int at) {
        closeRun();
        int p = writeVarint(into, at, bodySize());
        p = writeVarint(into, p, points);
        p = writeVarint(into, p, firstTime);
        p = writeVarint(into, p, lastTime - firstTime);
        into[p++] = (byte) flags();
        into[p++] = (byte) format.dropped();
        into[p++] = (byte) Rice.first(timeCode);
        into[p++] = (byte) Rice.first(valueCode);
        if (backfill != null) {
            int n = (points + 7) >>> 3;
            System.arraycopy(backfill, 0, into, p, n);
            p += n;
        }
        if (counts == null) {
            p = writeVarint(into, p, firstCount);
        } else {
            System.arraycopy(counts, 0, into, p, points);
            p += points;
        }
        System.arraycopy(bits, 0, into, p, (bitCount + 7) >>> 3);
        // The next chunk starts with the codes' parameters as they are now (a series' noise outlives chunks).
        timeCode = Rice.start(Rice.k(timeCode));
        valueCode = Rice.start(Rice.k(valueCode));
        clear();
    }

    /** Writes the open run's length, as a sealed chunk ends with it. */
    private void closeRun() {
        if (run > 0) {
            writeGamma(run + 1L);
            run = 0;
            repeats = 0;
        }
    }

    /** Empties the writer; the codes restart from zero (after a cut, nothing is known of the values). */
    void reset() {
        timeCode = Rice.start(0);
        valueCode = Rice.start(0);
        clear();
    }

    private void clear() {
        bits = new byte[8]; // give the sealed chunk's room back: most heads are small most of the time
        bitCount = 0;
        points = 0;
        repeats = 0;
        run = 0;
        counts = null;
        backfill = null;
    }

    /**
     * The adaptive Rice parameter, identical in writer and reader: one less than a moving average
     * (weight 1/4) of the numbers' bit lengths. Averaging lengths, not magnitudes, lets one outlier
     * (a gauge leaving zero) raise k for a few numbers only, not for hundreds. Its state is one int
     * (k at the chunk's start, k, the average in sixteenths of a bit), not an object: every tier of
     * every series holds two.
     */
    static final class Rice {
        private Rice() {}

        static int start(int k0) {
            return (k0 << 24) | (k0 << 16) | (k0 == 0 ? 0 : (k0 + 1) << 4);
        }

        static int first(int state) {
            return state >>> 24;
        }

        static int k(int state) {
            return (state >>> 16) & 0xFF;
        }

        static int update(int state, long u) {
            int average = state & 0xFFFF;
            average += (((64 - Long.numberOfLeadingZeros(u)) << 4) - average) >> 2;
            int k = Math.max(0, ((average + 8) >> 4) - 1);
            return (state & 0xFF00_0000) | (k << 16) | average;
        }
    }

    static int varintSize(long v) {
        if (v < 0) {
            throw new IllegalArgumentException("varints here are unsigned: " + v);
        }
        int n = 1;
        while ((v >>>= 7) != 0) {
            n++;
        }
        return n;
    }

    static int writeVarint(byte[] into, int at, long v) {
        while ((v & ~0x7FL) != 0) {
            into[at++] = (byte) ((v & 0x7F) | 0x80);
            v >>>= 7;
        }
        into[at++] = (byte) v;
        return at;
    }
}
