package dev.edgeplane.controlplane.metrics;

import java.util.Arrays;

/**
 * Encodes up to {@link #MAX_POINTS} points, oldest first, into a bit stream the way Facebook's Gorilla
 * does: times as delta-of-delta in variable-width buckets, values XOR'd with the previous value so
 * that only the bits that changed are written. A repeated value costs 1 bit, a regular time 1 bit.
 * Besides time and value a point carries how many samples it aggregates (coarse tiers) and whether it
 * was backfilled; those are usually the same for every point, so they are kept aside and written once
 * per chunk unless they vary ({@link #seal}).
 *
 * <p>Bit stream, per point: time (point 0: in the header; then dod = delta - previous delta:
 * {@code 0} = 0, {@code 10}+7 bits, {@code 110}+12, {@code 1110}+20, {@code 1111}+64, two's
 * complement) then value (point 0: 64 raw bits; then XOR with the previous: {@code 0} = same value,
 * {@code 10} + the XOR's bits inside the previous window, {@code 11} + 5 bits leading zeros + 6 bits
 * length-1 + that many bits).
 *
 * <p>A sealed chunk is {@code varint bodyLength} then the body: {@code varint points},
 * {@code varlong firstTime}, {@code varlong lastTime-firstTime}, {@code byte flags}, the backfill bitmap
 * when flags has {@link #FLAG_BACKFILL} (one bit per point), the counts as one byte per point when flags
 * has {@link #FLAG_COUNTS} else one varint for all, then the bit stream to the end of the body.
 * Read by {@link ChunkCursor}. Not thread-safe: its {@link TierSeries} guards it.
 */
final class ChunkWriter {
    static final int MAX_POINTS = 120;
    static final int FLAG_BACKFILL = 1;
    static final int FLAG_COUNTS = 2;
    /** Count per point is at most this (coarse tiers saturate there). */
    static final int MAX_COUNT = Byte.MAX_VALUE;

    private byte[] bits = new byte[16];
    private int bitCount;
    private int points;
    private long firstTime;
    private long lastTime;
    private long lastDelta;
    private long lastValue;
    /** The XOR window last written in full ({@code 11}); -1: none yet in this chunk. */
    private int leading = -1;
    private int trailing;
    private int firstCount;
    /** One byte per point once a count differs from the first; null while all are equal. */
    private byte[] counts;
    /** One bit per point once a point is backfill; null while none is. */
    private byte[] backfill;

    int points() {
        return points;
    }

    boolean isFull() {
        return points >= MAX_POINTS;
    }

    long firstTime() {
        return firstTime;
    }

    long lastTime() {
        return lastTime;
    }

    /** Bytes this chunk holds now (its buffers, not their spare room), for accounting. */
    int encodedBytes() {
        return ((bitCount + 7) >>> 3) + (counts == null ? 0 : points) + (backfill == null ? 0 : (points + 7) >>> 3);
    }

    /** Bytes allocated for it (buffers with their spare room). */
    int allocatedBytes() {
        return bits.length + (counts == null ? 0 : counts.length) + (backfill == null ? 0 : backfill.length);
    }

    /** Appends a point; times must grow strictly. */
    void append(long time, double value, int count, boolean isBackfill) {
        if (points >= MAX_POINTS) {
            throw new IllegalStateException("chunk is full");
        }
        if (points > 0 && time <= lastTime) {
            throw new IllegalArgumentException("time " + time + " is not after " + lastTime);
        }
        if (count < 1 || count > MAX_COUNT) {
            throw new IllegalArgumentException("count " + count + " is not in 1.." + MAX_COUNT);
        }
        long valueBits = Double.doubleToRawLongBits(value);
        if (points == 0) {
            firstTime = time;
            firstCount = count;
            writeBits(valueBits, 64);
        } else {
            writeTime(time);
            writeValue(valueBits);
        }
        lastDelta = points == 0 ? 0 : time - lastTime;
        lastTime = time;
        lastValue = valueBits;
        if (counts == null && count != firstCount) {
            counts = new byte[MAX_POINTS];
            Arrays.fill(counts, 0, points, (byte) firstCount);
        }
        if (counts != null) {
            counts[points] = (byte) count;
        }
        if (isBackfill) {
            if (backfill == null) {
                backfill = new byte[(MAX_POINTS + 7) >>> 3];
            }
            backfill[points >>> 3] |= (byte) (0x80 >>> (points & 7));
        }
        points++;
    }

    private void writeTime(long time) {
        long dod = (time - lastTime) - lastDelta;
        if (dod == 0) {
            writeBits(0, 1);
        } else if (fits(dod, 7)) {
            writeBits(0b10, 2);
            writeBits(dod, 7);
        } else if (fits(dod, 12)) {
            writeBits(0b110, 3);
            writeBits(dod, 12);
        } else if (fits(dod, 20)) {
            writeBits(0b1110, 4);
            writeBits(dod, 20);
        } else {
            writeBits(0b1111, 4);
            writeBits(dod, 64);
        }
    }

    private static boolean fits(long v, int width) {
        return v >= -(1L << (width - 1)) && v < (1L << (width - 1));
    }

    private void writeValue(long valueBits) {
        long xor = valueBits ^ lastValue;
        if (xor == 0) {
            writeBits(0, 1);
            return;
        }
        int lead = Math.min(Long.numberOfLeadingZeros(xor), 31);
        int trail = Long.numberOfTrailingZeros(xor);
        if (leading >= 0 && lead >= leading && trail >= trailing) {
            writeBits(0b10, 2);
            writeBits(xor >>> trailing, 64 - leading - trailing);
        } else {
            int length = 64 - lead - trail;
            writeBits(0b11, 2);
            writeBits(lead, 5);
            writeBits(length - 1, 6);
            writeBits(xor >>> trail, length);
            leading = lead;
            trailing = trail;
        }
    }

    /** Writes the low {@code width} bits of {@code value}, most significant first. */
    private void writeBits(long value, int width) {
        int needed = (bitCount + width + 7) >>> 3;
        if (needed > bits.length) {
            bits = Arrays.copyOf(bits, Math.max(needed, bits.length + (bits.length >>> 1)));
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
        return reuse.onHead(bits, points, firstTime, firstCount, counts, backfill);
    }

    /** Size {@link #seal} writes. */
    int sealedSize() {
        int body = bodySize();
        return varintSize(body) + body;
    }

    private int bodySize() {
        return varintSize(points) + varintSize(firstTime) + varintSize(lastTime - firstTime) + 1
                + (backfill == null ? 0 : (points + 7) >>> 3)
                + (counts == null ? varintSize(firstCount) : points)
                + ((bitCount + 7) >>> 3);
    }

    /** Writes the chunk at {@code at} ({@link #sealedSize} bytes) and empties this writer for the next chunk. */
    void seal(byte[] into, int at) {
        int p = writeVarint(into, at, bodySize());
        p = writeVarint(into, p, points);
        p = writeVarint(into, p, firstTime);
        p = writeVarint(into, p, lastTime - firstTime);
        into[p++] = (byte) ((backfill == null ? 0 : FLAG_BACKFILL) | (counts == null ? 0 : FLAG_COUNTS));
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
        reset();
    }

    /** Empties the writer, keeping its bit buffer (the next chunk is likely about as large). */
    void reset() {
        Arrays.fill(bits, 0, Math.min(bits.length, (bitCount + 7) >>> 3), (byte) 0);
        bitCount = 0;
        points = 0;
        lastDelta = 0;
        leading = -1;
        trailing = 0;
        counts = null;
        backfill = null;
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
