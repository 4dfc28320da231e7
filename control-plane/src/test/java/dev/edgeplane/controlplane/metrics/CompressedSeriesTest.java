package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.metrics.ValuePrecision;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.MetricKind;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The compressed tiers answer exactly as the old uncompressed rings did, and cost little. */
class CompressedSeriesTest {
    private static final long MIN = 60_000;
    private static final long HOUR = 60 * MIN;
    private static final long T0 = 1_700_000_000_000L - Math.floorMod(1_700_000_000_000L, 3_600_000L);
    private static final List<Tier> TIERS = Tier.parseAll("10s:1h,1m:24h,5m:7d");

    record P(long t, double v, boolean backfill) {}

    /**
     * The same points into each tier, compressed (keeping {@code precisionBits} of gauges) and as the
     * reference ring. Reads must give the reference's points, times and flags exactly and its values
     * rounded to the tier's precision ({@link ValuePrecision#round}); after backfill merges into coarse
     * slots that were already encoded, within a few rounding steps of the largest value seen.
     */
    private static final class Pair {
        final TierSeries[] compressed = new TierSeries[TIERS.size()];
        final ReferenceRing[] reference = new ReferenceRing[TIERS.size()];
        final int[] dropped = new int[TIERS.size()];
        final boolean counter;
        final int precisionBits;
        double largest;

        Pair(boolean counter, int precisionBits) {
            this.counter = counter;
            this.precisionBits = precisionBits;
            for (int i = 0; i < TIERS.size(); i++) {
                TierSeries.Shape shape = TierSeries.Shape.of(TIERS.get(i), i == 0, precisionBits);
                compressed[i] = new TierSeries(shape);
                reference[i] = new ReferenceRing(TIERS.get(i), i == 0);
                dropped[i] = shape.format(counter).dropped();
            }
        }

        void add(long t, double v, boolean backfill) {
            largest = Math.max(largest, Math.abs(v));
            for (int i = 0; i < TIERS.size(); i++) {
                assertEquals(reference[i].add(t, v, backfill, counter), compressed[i].add(t, v, backfill, counter),
                        "tier " + i + " keeps (or refuses) the point at " + t + " alike");
            }
        }

        void assertSameReads(long from, long to) {
            assertSameReads(from, to, false);
        }

        void assertSameReads(long from, long to, boolean merged) {
            for (int i = 0; i < TIERS.size(); i++) {
                int d = dropped[i];
                List<P> expected = new ArrayList<>();
                reference[i].read(from, to, (t, v, b) -> expected.add(new P(t, ValuePrecision.round(v, d), b)));
                List<P> actual = new ArrayList<>();
                compressed[i].read(from, to, counter, (t, v, b) -> actual.add(new P(t, v, b)));
                String what = "tier " + i + " read [" + from + ", " + to + "] at " + precisionBits + " bits";
                if (!merged || i == 0 || d <= ValuePrecision.FLOAT_DROPPED) {
                    assertEquals(expected, actual, what); // exact, or the reference rounded once
                    continue;
                }
                // Coarse slots re-aggregated from their encoded (rounded) value may carry a rounding step per merge.
                double slack = 16 * Math.scalb(1.0, -precisionBits) * largest;
                assertEquals(expected.size(), actual.size(), what);
                for (int j = 0; j < expected.size(); j++) {
                    P e = expected.get(j);
                    P a = actual.get(j);
                    assertEquals(e.t(), a.t(), what);
                    assertEquals(e.backfill(), a.backfill(), what);
                    assertTrue(Math.abs(e.v() - a.v()) <= slack, what + ": " + a + " is not within " + slack + " of " + e);
                }
            }
        }
    }

    private static void assertSameReads(Pair pair, Random r, long now) {
        assertSameReads(pair, r, now, false);
    }

    private static void assertSameReads(Pair pair, Random r, long now, boolean merged) {
        pair.assertSameReads(Long.MIN_VALUE / 2, Long.MAX_VALUE / 2, merged);
        for (int q = 0; q < 20; q++) {
            long from = now - (long) (r.nextDouble() * 8 * 24 * HOUR);
            long to = from + (long) (r.nextDouble() * 2 * 24 * HOUR);
            pair.assertSameReads(from, to, merged);
        }
        pair.assertSameReads(now - 30 * MIN, now, merged);
    }

    @Test
    void inOrderSamplesReadAsTheReferenceDoes() {
        for (long seed = 0; seed < 8; seed++) {
            Random r = new Random(seed);
            Pair pair = new Pair(seed % 2 == 1, seed < 4 ? MetricsStore.DEFAULT_PRECISION_BITS : ValuePrecision.LOSSLESS);
            long t = T0;
            double v = 100;
            for (int i = 0; i < 3 * 8640; i++) { // three days at 10 s with jitter, sometimes a gap, sometimes two in one slot
                t += r.nextInt(50) == 0 ? r.nextInt(4) * HOUR : r.nextInt(20) == 0 ? 1_000 : 10_000 + r.nextInt(7) - 3;
                v = seed % 2 == 1 ? v + r.nextInt(1000) : v + r.nextGaussian();
                pair.add(t, v, false);
                if (i % 2000 == 0) {
                    assertSameReads(pair, r, t);
                }
            }
            assertSameReads(pair, r, t);
        }
    }

    @Test
    void outOfOrderBackfillReadsAsTheReferenceDoes() {
        for (long seed = 0; seed < 8; seed++) {
            Random r = new Random(100 + seed);
            Pair pair = new Pair(seed % 2 == 1, seed < 4 ? MetricsStore.DEFAULT_PRECISION_BITS : ValuePrecision.LOSSLESS);
            long live = T0;
            double v = 5;
            for (int round = 0; round < 40; round++) {
                // Live for a while, then offline for up to 6 h: on reconnect live points resume while the
                // agent uploads what it recorded offline, oldest first, in batches between live points.
                int liveSamples = 10 + r.nextInt(400);
                for (int i = 0; i < liveSamples; i++) {
                    live += 10_000 + r.nextInt(5);
                    pair.add(live, v += r.nextGaussian(), false);
                }
                long offlineFrom = live;
                live += 10_000 + (long) (r.nextDouble() * 6 * HOUR);
                List<long[]> recorded = new ArrayList<>();
                long step = r.nextBoolean() ? 10_000 : MIN; // the agent's ring keeps 1-minute points
                for (long t = offlineFrom + step; t < live; t += step) {
                    recorded.add(new long[] {t + r.nextInt(3)});
                }
                int next = 0;
                while (next < recorded.size()) {
                    live += 10_000 + r.nextInt(5);
                    pair.add(live, v += r.nextGaussian(), false);
                    for (int k = 0; k < 1 + r.nextInt(150) && next < recorded.size(); k++, next++) {
                        pair.add(recorded.get(next)[0], r.nextGaussian() * 10, true);
                    }
                    if (r.nextInt(10) == 0) { // a stray old point, possibly into a slot that has one
                        pair.add(live - (long) (r.nextDouble() * 30 * HOUR), r.nextInt(100), r.nextBoolean());
                    }
                }
                assertSameReads(pair, r, live, true);
            }
        }
    }

    @Test
    void jumpsPastTheWholeWindowForgetEverything() {
        Pair pair = new Pair(false, MetricsStore.DEFAULT_PRECISION_BITS);
        for (int i = 0; i < 500; i++) {
            pair.add(T0 + i * 10_000L, i, false);
        }
        pair.add(T0 + 8 * 24 * HOUR, 1, false);
        pair.assertSameReads(0, Long.MAX_VALUE / 2);
        for (TierSeries tier : pair.compressed) {
            assertEquals(1, tier.points(), "every chunk was cut off, only the new point is left");
        }
    }

    @Test
    void retentionCutsWholeChunksAndKeepsMemoryFlat() {
        TierSeries raw = new TierSeries(TierSeries.Shape.of(TIERS.get(0), true));
        Random r = new Random(1);
        long t = T0;
        int most = 0;
        for (int i = 0; i < 10 * 360; i++) { // ten hours at 10 s into a 1-hour tier
            t += 10_000;
            raw.add(t, r.nextGaussian(), false, false);
            int points = raw.points();
            // Never more than the window (360) plus the oldest chunk not yet wholly out of it.
            assertTrue(points <= 360 + raw.shape().chunkPoints(), points + " points kept");
            most = Math.max(most, points);
        }
        assertTrue(most > 360, "chunks are cut whole, not point by point");
        List<Long> times = new ArrayList<>();
        raw.read(0, Long.MAX_VALUE / 2, false, (time, v, b) -> times.add(time));
        assertEquals(360, times.size(), "reads show exactly the window");
        assertEquals(t - 359 * 10_000L, times.get(0));
    }

    @Test
    void aChunkBoundaryFallsBetweenPointsWithoutLosingOrRepeatingAny() {
        TierSeries minutes = new TierSeries(TierSeries.Shape.of(TIERS.get(1), false));
        int chunk = minutes.shape().chunkPoints();
        int n = 2 * chunk + 1; // two sealed chunks, and the last point pending
        for (int i = 0; i < n; i++) {
            minutes.add(T0 + i * MIN, i, false, false);
        }
        List<Double> values = new ArrayList<>();
        minutes.read(T0 + (chunk - 1) * MIN, T0 + (chunk + 1) * MIN, false, (t, v, b) -> values.add(v));
        assertEquals(List.of(chunk - 1.0, (double) chunk, chunk + 1.0), values, "across the first chunk's last point and the second's first");
        values.clear();
        minutes.read(T0, T0 + n * MIN, false, (t, v, b) -> values.add(v));
        assertEquals(n, values.size());
        assertEquals(n - 1.0, values.get(n - 1));
    }

    /** Encoded bytes the store holds for one realistic node after {@code hours} of 10-second samples. */
    private static int[] encodedPerTier(int hours) {
        MetricsStore store = new MetricsStore(new MetricsStore.Settings(TIERS, 1000, 1000));
        List<StoredSeries> series = new ArrayList<>();
        for (RealisticNode.Spec spec : RealisticNode.SERIES) {
            series.add(store.seriesFor(store.key(spec.name(), spec.labels(), "edge-1"), spec.kind()));
        }
        RealisticNode node = new RealisticNode(42, T0);
        for (long due = T0; due < T0 + hours * HOUR; due += RealisticNode.SAMPLE_MS) {
            long t = node.jittered(due);
            double[] values = node.next(t);
            for (int i = 0; i < values.length; i++) {
                store.add(series.get(i), t, values[i], false);
            }
        }
        int[] bytes = new int[TIERS.size()];
        for (StoredSeries s : series) {
            for (int i = 0; i < TIERS.size(); i++) {
                bytes[i] += s.tierEncodedBytes(i);
            }
        }
        return bytes;
    }

    @Test
    void aRealisticNodeCostsFewBytesAPoint() {
        int[] day = encodedPerTier(25);
        int series = RealisticNode.SERIES.size();
        // Per point, averaged over the node's 40 series, chunk headers included (the tiers also hold
        // up to one chunk past their window), gauges at the default 12 significant bits: raw 10-s points
        // with their jittered millisecond times (measured 1.6 B), 1-minute and 5-minute float aggregates
        // (0.75 and 0.95 B; noisy CPU means cost ~1.7 B, constants ~0.1 B, exact counters ~1.7 B).
        // Raw, a point was 16 bytes (double + time); lossless Gorilla-style 3.7, 2.2 and 2.5.
        double raw = day[0] / (series * 360.0);
        double minute = day[1] / (series * 1440.0);
        double fiveMinutes = day[2] / (series * 300.0);
        String figures = String.format("bytes per point: 10s %.2f, 1m %.2f, 5m %.2f; 24 h of 1m for 40 series: %d bytes",
                raw, minute, fiveMinutes, day[1]);
        assertTrue(raw < 1.9, figures);
        assertTrue(minute < 0.9, figures);
        assertTrue(fiveMinutes < 1.2, figures);
    }

    @Test
    void aConstantCostsAboutTwoBitsAPointInCoarseTiers() {
        TierSeries minutes = new TierSeries(TierSeries.Shape.of(TIERS.get(1), false));
        Random r = new Random(9);
        for (long due = T0; due < T0 + 24 * HOUR; due += 10_000) { // the agent's timer: on time, a few ms late
            minutes.add(due + r.nextInt(7), 4, false, false);
        }
        // A run: after two points of 1 bit of time + 1 bit of value, one run length per chunk (~2 bytes)
        // next to its header (~14 bytes with its first value) per 240 points. (Should the samples per
        // minute vary, each chunk also carries a count byte per point.)
        assertTrue(minutes.encodedBytes() < 1440 * 0.1, minutes.encodedBytes() + " bytes");
    }

    @Test
    void storeReadsOfTheNewestValueStayTheLiveOne() {
        MetricsStore store = new MetricsStore(new MetricsStore.Settings(TIERS, 10, 10));
        StoredSeries s = store.seriesFor(store.key("m", Map.of(), "n"), MetricKind.GAUGE);
        store.add(s, T0 + HOUR, 2, false);
        for (int i = 0; i < 200; i++) {
            store.add(s, T0 + i * 10_000L, i, true);
        }
        assertEquals(2, s.latest());
        assertEquals(T0 + HOUR, s.newestMs());
    }
}
