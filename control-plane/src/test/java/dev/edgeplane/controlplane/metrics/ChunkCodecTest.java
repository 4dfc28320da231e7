package dev.edgeplane.controlplane.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.DoubleSupplier;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.Test;

class ChunkCodecTest {
    private static final long T0 = 1_700_000_000_000L;

    record P(long time, long valueBits, int count, boolean backfill) {
        static P of(long time, double value, int count, boolean backfill) {
            return new P(time, Double.doubleToRawLongBits(value), count, backfill);
        }
    }

    /** Encodes the points into chunks as a tier does (sealing every MAX_POINTS), back to back. */
    private static byte[] encode(List<P> points) {
        return encode(points, ChunkWriter.Format.LOSSLESS);
    }

    private static byte[] encode(List<P> points, ChunkWriter.Format format) {
        ChunkWriter w = new ChunkWriter(format);
        byte[] out = new byte[0];
        for (P p : points) {
            w.append(p.time(), Double.longBitsToDouble(p.valueBits()), p.count(), p.backfill());
            if (w.isFull()) {
                int at = out.length;
                out = Arrays.copyOf(out, at + w.sealedSize());
                w.seal(out, at);
            }
        }
        if (w.points() > 0) {
            int at = out.length;
            out = Arrays.copyOf(out, at + w.sealedSize());
            w.seal(out, at);
        }
        return out;
    }

    private static List<P> decode(byte[] data) {
        List<P> points = new ArrayList<>();
        ChunkCursor c = new ChunkCursor();
        for (int at = 0; at < data.length; at = c.end()) {
            c.onSealed(data, at);
            int before = points.size();
            while (c.next()) {
                points.add(new P(c.time(), Double.doubleToRawLongBits(c.value()), c.count(), c.backfill()));
            }
            assertEquals(c.points(), points.size() - before, "header count");
            assertEquals(c.firstTime(), points.get(before).time(), "header first time");
            assertEquals(c.lastTime(), points.get(points.size() - 1).time(), "header last time");
        }
        return points;
    }

    private static List<P> series(int n, LongSupplier deltas, DoubleSupplier values) {
        List<P> points = new ArrayList<>();
        long t = T0;
        for (int i = 0; i < n; i++) {
            t += deltas.getAsLong();
            points.add(P.of(t, values.getAsDouble(), 1, false));
        }
        return points;
    }

    private static void assertRoundTrip(List<P> points) {
        assertEquals(points, decode(encode(points)));
        // The open head decodes the same as the sealed chunk.
        ChunkWriter w = new ChunkWriter(ChunkWriter.Format.LOSSLESS);
        List<P> head = points.subList(0, Math.min(points.size(), ChunkWriter.Format.LOSSLESS.maxPoints()));
        head.forEach(p -> w.append(p.time(), Double.longBitsToDouble(p.valueBits()), p.count(), p.backfill()));
        ChunkCursor c = w.cursor(new ChunkCursor());
        List<P> decoded = new ArrayList<>();
        while (c.next()) {
            decoded.add(new P(c.time(), Double.doubleToRawLongBits(c.value()), c.count(), c.backfill()));
        }
        assertEquals(head, decoded);
    }

    @Test
    void randomWalksConstantsAndCountersRoundTripBitForBit() {
        for (long seed = 0; seed < 50; seed++) {
            Random r = new Random(seed);
            double[] walk = {r.nextGaussian() * 1000};
            assertRoundTrip(series(1 + r.nextInt(500), () -> 10_000 + r.nextInt(7) - 3, () -> walk[0] += r.nextGaussian()));
            double constant = r.nextDouble();
            assertRoundTrip(series(1 + r.nextInt(500), () -> 60_000, () -> constant));
            long[] counter = {r.nextInt(1 << 30)};
            assertRoundTrip(series(1 + r.nextInt(500), () -> 10_000, () -> counter[0] += r.nextInt(100_000)));
            assertRoundTrip(series(1 + r.nextInt(500), () -> 1 + r.nextInt(1000), () -> (float) r.nextDouble()));
        }
    }

    @Test
    void specialValuesAndLargeJumpsRoundTrip() {
        double[] special = {Double.NaN, Double.longBitsToDouble(0x7ff8_0000_dead_beefL), Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY,
                0.0, -0.0, Double.MIN_VALUE, -Double.MIN_VALUE, Double.MAX_VALUE, -Double.MAX_VALUE, 1e-300, 1e300, 1, -1};
        Random r = new Random(7);
        assertRoundTrip(series(1000, () -> 10_000, () -> special[r.nextInt(special.length)]));
        assertRoundTrip(series(300, () -> 10_000, () -> r.nextBoolean() ? Double.MAX_VALUE : -Double.MIN_VALUE));
        assertRoundTrip(series(300, () -> 10_000, () -> Double.longBitsToDouble(r.nextLong())));
    }

    @Test
    void irregularTimesIncludingHugeGapsRoundTrip() {
        Random r = new Random(11);
        long[] gaps = {1, 2, 63, 64, 65, 2047, 2048, 2049, 524_287, 524_288, 524_289, 86_400_000L, 7L * 86_400_000, 1L << 40};
        assertRoundTrip(series(2000, () -> gaps[r.nextInt(gaps.length)], r::nextGaussian));
        // Delta-of-delta swinging between extremes (large negative dods).
        long[] flip = {0};
        assertRoundTrip(series(500, () -> (flip[0]++ % 2 == 0) ? 1 : 1L << 40, () -> 1));
        assertRoundTrip(series(500, () -> 1 + r.nextInt(Integer.MAX_VALUE), () -> 1));
    }

    @Test
    void countsAndBackfillFlagsRoundTripWhetherUniformOrNot() {
        Random r = new Random(3);
        List<P> uniform = new ArrayList<>();
        List<P> mixed = new ArrayList<>();
        for (int i = 0; i < 700; i++) {
            uniform.add(P.of(T0 + i, i, 6, false));
            mixed.add(P.of(T0 + i, i, 1 + r.nextInt(ChunkWriter.MAX_COUNT), r.nextInt(10) == 0));
        }
        assertRoundTrip(uniform);
        assertRoundTrip(mixed);
        assertTrue(encode(mixed).length > encode(uniform).length + 600, "per-point counts and flags are only written when they vary");
    }

    @Test
    void chunksHoldAtMostMaxPointsAndTheWriterRefusesBadInput() {
        int max = ChunkWriter.Format.LOSSLESS.maxPoints();
        List<P> points = series(max * 3 + 1, () -> 10_000, () -> 1);
        byte[] data = encode(points);
        ChunkCursor c = new ChunkCursor();
        List<Integer> sizes = new ArrayList<>();
        for (int at = 0; at < data.length; at = c.end()) {
            sizes.add(c.onSealed(data, at).points());
        }
        assertEquals(List.of(max, max, max, 1), sizes);

        ChunkWriter w = new ChunkWriter(ChunkWriter.Format.LOSSLESS);
        w.append(T0, 1, 1, false);
        assertThrows(IllegalArgumentException.class, () -> w.append(T0, 2, 1, false), "times must grow");
        assertThrows(IllegalArgumentException.class, () -> w.append(T0 + 1, 2, 0, false));
        for (int i = 1; i < max; i++) {
            w.append(T0 + i, i, 1, false);
        }
        assertThrows(IllegalStateException.class, () -> w.append(T0 + 1000, 1, 1, false));
    }

    @Test
    void regularTimesAndRepeatedValuesCostAboutTwoBitsAPoint() {
        // A constant sampled every minute: 1 bit of time + 1 bit of value per point, plus a header per chunk.
        byte[] constant = encode(series(1440, () -> 60_000, () -> 42));
        assertTrue(constant.length < 1440 * 2 / 8 + 12 * 40, constant.length + " bytes");
        // A counter growing by whole numbers at 10 s (+-3 ms), kept as exact integers: about 3 of the
        // 16 raw bytes a point (the increments' own entropy is ~16 bits).
        Random r = new Random(5);
        long[] counter = {1_000_000_000L};
        byte[] growing = encode(series(360, () -> 10_000 + r.nextInt(7) - 3, () -> counter[0] += 5_000 + r.nextInt(50_000)),
                new ChunkWriter.Format(120, 0, true, true));
        assertTrue(growing.length < 360 * 3.2, growing.length + " bytes");
    }
}
