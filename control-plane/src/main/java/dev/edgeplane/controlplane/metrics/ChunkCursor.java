package dev.edgeplane.controlplane.metrics;

/**
 * Reads a chunk written by {@link ChunkWriter}: a sealed one (its header alone tells its time range,
 * so a reader skips chunks outside a query without decoding them) or the open head. Reusable:
 * position it with {@link #onSealed} or {@link ChunkWriter#cursor}, then call {@link #next} until
 * false.
 */
final class ChunkCursor {
    private byte[] bytes;
    private int bitPos;
    private int points;
    private int index;
    private long firstTime;
    private long lastTime;
    private int end;

    private long time;
    private long delta;
    private long valueBits;
    private int leading;
    private int trailing;

    private byte[] backfillBytes;
    private int backfillAt;
    private byte[] countBytes;
    private int countsAt;
    private int uniformCount;

    /** Positions on the sealed chunk that starts at {@code at}; {@link #end} is where the next one starts. */
    ChunkCursor onSealed(byte[] data, int at) {
        int[] pos = {at};
        int body = (int) readVarint(data, pos);
        end = pos[0] + body;
        points = (int) readVarint(data, pos);
        firstTime = readVarint(data, pos);
        lastTime = firstTime + readVarint(data, pos);
        int flags = data[pos[0]++];
        backfillBytes = null;
        if ((flags & ChunkWriter.FLAG_BACKFILL) != 0) {
            backfillBytes = data;
            backfillAt = pos[0];
            pos[0] += (points + 7) >>> 3;
        }
        countBytes = null;
        if ((flags & ChunkWriter.FLAG_COUNTS) != 0) {
            countBytes = data;
            countsAt = pos[0];
            pos[0] += points;
        } else {
            uniformCount = (int) readVarint(data, pos);
        }
        return start(data, pos[0] * 8);
    }

    ChunkCursor onHead(byte[] bits, int points, long firstTime, int firstCount, byte[] counts, byte[] backfill) {
        this.points = points;
        this.firstTime = firstTime;
        this.lastTime = Long.MIN_VALUE; // unknown until decoded; a head is always decoded
        this.end = -1;
        this.uniformCount = firstCount;
        this.countBytes = counts;
        this.countsAt = 0;
        this.backfillBytes = backfill;
        this.backfillAt = 0;
        return start(bits, 0);
    }

    private ChunkCursor start(byte[] data, int bitOffset) {
        bytes = data;
        bitPos = bitOffset;
        index = -1;
        delta = 0;
        leading = -1;
        trailing = 0;
        return this;
    }

    int points() {
        return points;
    }

    long firstTime() {
        return firstTime;
    }

    /** Time of the last point (sealed chunks only). */
    long lastTime() {
        return lastTime;
    }

    /** Offset just after this sealed chunk. */
    int end() {
        return end;
    }

    /** Decodes the next point; false after the last. */
    boolean next() {
        if (index + 1 >= points) {
            return false;
        }
        index++;
        if (index == 0) {
            time = firstTime;
            valueBits = readBits(64);
            return true;
        }
        long dod;
        if (readBits(1) == 0) {
            dod = 0;
        } else if (readBits(1) == 0) {
            dod = signed(readBits(7), 7);
        } else if (readBits(1) == 0) {
            dod = signed(readBits(12), 12);
        } else if (readBits(1) == 0) {
            dod = signed(readBits(20), 20);
        } else {
            dod = readBits(64);
        }
        delta = (index == 1 ? 0 : delta) + dod;
        time += delta;
        if (readBits(1) != 0) {
            if (readBits(1) != 0) {
                leading = (int) readBits(5);
                int length = (int) readBits(6) + 1;
                trailing = 64 - leading - length;
            }
            int length = 64 - leading - trailing;
            valueBits ^= readBits(length) << trailing;
        }
        return true;
    }

    long time() {
        return time;
    }

    double value() {
        return Double.longBitsToDouble(valueBits);
    }

    int count() {
        return countBytes == null ? uniformCount : countBytes[countsAt + index];
    }

    boolean backfill() {
        return backfillBytes != null && (backfillBytes[backfillAt + (index >>> 3)] & (0x80 >>> (index & 7))) != 0;
    }

    private static long signed(long v, int width) {
        return (v << (64 - width)) >> (64 - width);
    }

    private long readBits(int width) {
        long v = 0;
        while (width > 0) {
            int available = 8 - (bitPos & 7);
            int take = Math.min(available, width);
            int part = ((bytes[bitPos >>> 3] & 0xFF) >>> (available - take)) & ((1 << take) - 1);
            v = (v << take) | part;
            bitPos += take;
            width -= take;
        }
        return v;
    }

    static long readVarint(byte[] data, int[] pos) {
        long v = 0;
        for (int shift = 0; ; shift += 7) {
            byte b = data[pos[0]++];
            v |= (long) (b & 0x7F) << shift;
            if (b >= 0) {
                return v;
            }
        }
    }
}
