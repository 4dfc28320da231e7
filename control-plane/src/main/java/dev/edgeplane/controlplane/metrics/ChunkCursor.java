package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.metrics.ValuePrecision;
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
    private int flags;
    private int dropped;

    private long time;
    private long delta;
    private long valueIndex;
    private long indexDelta;
    private int timeCode;
    private int valueCode;
    private int timeK0;
    /** Bits of the stream (a head's written bits; a sealed chunk's to its end). */
    private long bitLimit;
    private int repeats;
    /** Points of the current run still to emit; -1 when not in a run. */
    private long runLeft;
    private int valueK0;

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
        flags = data[pos[0]++];
        dropped = data[pos[0]++];
        timeK0 = data[pos[0]++];
        valueK0 = data[pos[0]++];
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
        bitLimit = (long) end * 8;
        return start(data, pos[0] * 8);
    }

    ChunkCursor onHead(byte[] bits, int bitCount, int points, long firstTime, int firstCount, byte[] counts, byte[] backfill, int flags, int dropped,
            int timeK0, int valueK0) {
        this.points = points;
        this.firstTime = firstTime;
        this.lastTime = Long.MIN_VALUE; // unknown until decoded; a head is always decoded
        this.end = -1;
        this.uniformCount = firstCount;
        this.countBytes = counts;
        this.countsAt = 0;
        this.backfillBytes = backfill;
        this.backfillAt = 0;
        this.flags = flags;
        this.dropped = dropped;
        this.timeK0 = timeK0;
        this.valueK0 = valueK0;
        this.bitLimit = bitCount;
        return start(bits, 0);
    }

    private ChunkCursor start(byte[] data, int bitOffset) {
        bytes = data;
        bitPos = bitOffset;
        index = -1;
        delta = 0;
        indexDelta = 0;
        repeats = 0;
        runLeft = -1;
        timeCode = ChunkWriter.Rice.start(timeK0);
        valueCode = ChunkWriter.Rice.start(valueK0);
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
            valueIndex = ChunkWriter.unzigzag(readBits((int) readBits(7)));
            return true;
        }
        if (repeats >= ChunkWriter.RUN_AFTER && runLeft < 0) {
            // A run starts here: its length is written, or, at a head's end, it is every point left.
            runLeft = bitPos >= bitLimit ? points - index : readGamma() - 1;
        }
        if (runLeft > 0) {
            runLeft--;
            time += delta;
            valueIndex += (flags & ChunkWriter.FLAG_DOD) != 0 ? indexDelta : 0;
            return true;
        }
        if (runLeft == 0) {
            runLeft = -1;
            repeats = 0;
        }
        long timeU = read(timeCode);
        timeCode = ChunkWriter.Rice.update(timeCode, timeU);
        long valueU = read(valueCode);
        valueCode = ChunkWriter.Rice.update(valueCode, valueU);
        repeats = timeU == 0 && valueU == 0 ? repeats + 1 : 0;
        delta += ChunkWriter.unzigzag(timeU);
        time += delta;
        long d = ChunkWriter.unzigzag(valueU);
        indexDelta = (flags & ChunkWriter.FLAG_DOD) != 0 ? indexDelta + d : d;
        valueIndex += indexDelta;
        return true;
    }

    private long readGamma() {
        int zeros = 0;
        while (readBits(1) == 0) {
            zeros++;
        }
        return zeros == 0 ? 1 : (1L << zeros) | readBits(zeros);
    }

    /** Reads a number Rice-coded with the code's current k. */
    private long read(int code) {
        int k = ChunkWriter.Rice.k(code);
        int q = 0;
        while (q < ChunkWriter.ESCAPE && readBits(1) == 1) {
            q++;
        }
        return q < ChunkWriter.ESCAPE ? ((long) q << k) | readBits(k) : readBits((int) readBits(7));
    }

    long time() {
        return time;
    }

    double value() {
        return (flags & ChunkWriter.FLAG_INTEGERS) != 0 ? (double) valueIndex : ValuePrecision.value(valueIndex, dropped);
    }

    int count() {
        return countBytes == null ? uniformCount : countBytes[countsAt + index];
    }

    boolean backfill() {
        return backfillBytes != null && (backfillBytes[backfillAt + (index >>> 3)] & (0x80 >>> (index & 7))) != 0;
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
