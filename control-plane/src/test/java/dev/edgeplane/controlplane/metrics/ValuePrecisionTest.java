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

/** The store's rounding: its error bound, counters kept exact and monotone, lossless when asked. */
class ValuePrecisionTest {
    private static final long T0 = 1_700_000_000_000L - Math.floorMod(1_700_000_000_000L, 3_600_000L);
    private static final List<Tier> TIERS = Tier.parseAll("10s:1h,1m:24h,5m:7d");
    private static final double[] SPECIAL = {0.0, -0.0, 1, -1, 2, 0.5, 4095, 4096, 4097, Double.MIN_VALUE, -Double.MIN_VALUE,
        Double.MIN_NORMAL, -Double.MIN_NORMAL, Math.nextDown(Double.MIN_NORMAL), Double.MAX_VALUE, -Double.MAX_VALUE,
        Math.nextDown(Double.MAX_VALUE), 1e-300, 1e300, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, Double.NaN,
        Double.longBitsToDouble(0x7ff8_0000_dead_beefL), Float.MAX_VALUE, Float.MIN_VALUE};

    /** Values of every magnitude and sign: raw bit patterns (subnormals, NaNs, infinities included), decades, specials. */
    private static List<Double> values(Random r) {
        List<Double> values = new ArrayList<>();
        for (double v : SPECIAL) {
            values.add(v);
        }
        for (int i = 0; i < 20_000; i++) {
            values.add(Double.longBitsToDouble(r.nextLong()));
            values.add(r.nextGaussian() * Math.pow(10, r.nextInt(40) - 20));
            values.add((double) (r.nextLong() >> r.nextInt(64)));
        }
        return values;
    }

    /** The documented bound: 2^-bits of |v| for normal values (twice that next to Double.MAX_VALUE, which never rounds up to infinity), half a rounding step below. */
    private static void assertWithinBound(double v, double kept, int bits) {
        int dropped = ValuePrecision.dropped(bits);
        if (Double.isNaN(v)) {
            assertTrue(Double.isNaN(kept), "NaN stays NaN");
            return;
        }
        if (Double.isInfinite(v) || dropped == 0) {
            assertEquals(Double.doubleToRawLongBits(v), Double.doubleToRawLongBits(kept), "kept exactly: " + v);
            return;
        }
        assertTrue(Double.isFinite(kept), v + " became " + kept);
        assertEquals(Math.copySign(1.0, v), Math.copySign(1.0, kept), "sign of " + v);
        double error = Math.abs(kept - v);
        double bound = Math.abs(v) >= Double.MIN_NORMAL
                ? Math.abs(v) * Math.scalb(1.0, Math.abs(v) > Math.scalb(Double.MAX_VALUE, -1) ? 1 - bits : -bits)
                : Math.scalb(Double.MIN_VALUE, dropped - 1);
        assertTrue(error <= bound, v + " kept as " + kept + " at " + bits + " bits: error " + error + " > " + bound);
        if (v == Math.rint(v) && Math.abs(v) < Math.scalb(1.0, bits)) {
            assertEquals(v, kept, "an integer below 2^bits stays exact");
        }
    }

    @Test
    void roundingErrorIsBoundedForValuesOfEveryMagnitude() {
        Random r = new Random(1);
        List<Double> values = values(r);
        for (int bits : new int[] {2, 4, 8, 12, 20, 24, 40, 52, 53, 64}) {
            int dropped = ValuePrecision.dropped(bits);
            for (double v : values) {
                double kept = ValuePrecision.round(v, dropped);
                assertWithinBound(v, kept, bits);
                assertEquals(Double.doubleToRawLongBits(kept), Double.doubleToRawLongBits(ValuePrecision.round(kept, dropped)), "rounding twice changes nothing");
                assertEquals(Double.doubleToRawLongBits(kept),
                        Double.doubleToRawLongBits(ValuePrecision.value(ValuePrecision.index(kept, dropped), dropped)), "the index maps back");
            }
            // Monotone: a rising sequence never falls, so a gauge's order is kept.
            List<Double> sorted = values.stream().filter(v -> !Double.isNaN(v)).sorted().toList();
            for (int i = 1; i < sorted.size(); i++) {
                assertTrue(ValuePrecision.round(sorted.get(i - 1), dropped) <= ValuePrecision.round(sorted.get(i), dropped));
            }
        }
    }

    @Test
    void storedGaugesReadWithinTheBoundInEveryTier() {
        for (int bits : new int[] {4, 12, 53}) {
            MetricsStore store = new MetricsStore(new MetricsStore.Settings(TIERS, 10, 10, bits));
            StoredSeries s = store.seriesFor(store.key("g", Map.of(), "n"), MetricKind.GAUGE);
            Random r = new Random(bits);
            List<Double> values = values(r).subList(0, 3000);
            for (int i = 0; i < values.size(); i++) {
                store.add(s, T0 + i * 10_000L, values.get(i), false);
            }
            List<Double> read = new ArrayList<>();
            s.read(0, T0, T0 + values.size() * 10_000L, (t, v, b) -> read.add(v));
            List<Double> expected = values.subList(values.size() - 360, values.size()); // the 10 s tier keeps an hour
            assertEquals(expected.size(), read.size());
            for (int i = 0; i < read.size(); i++) {
                assertWithinBound(expected.get(i), read.get(i), bits);
            }
            // Coarse tiers: one value a slot, each within the bound of the float aggregate the reference keeps.
            ReferenceRing minutes = new ReferenceRing(TIERS.get(1), false);
            for (int i = 0; i < values.size(); i++) {
                minutes.add(T0 + i * 10_000L, values.get(i), false, false);
            }
            List<Double> aggregates = new ArrayList<>();
            minutes.read(0, Long.MAX_VALUE / 2, (t, v, b) -> aggregates.add(v));
            List<Double> stored = new ArrayList<>();
            s.read(1, 0, Long.MAX_VALUE / 2, (t, v, b) -> stored.add(v));
            assertEquals(aggregates.size(), stored.size());
            for (int i = 0; i < stored.size(); i++) {
                assertWithinBound(aggregates.get(i), stored.get(i), Math.min(bits, 24));
            }
        }
    }

    @Test
    void countersStayExactAndMonotoneAtAnyPrecision() {
        // At 4 significant bits a gauge of 1e9 moves in steps of 6e7; a counter must not.
        MetricsStore store = new MetricsStore(new MetricsStore.Settings(TIERS, 10, 10, 4));
        StoredSeries bytes = store.seriesFor(store.key("rx_bytes_total", Map.of(), "n"), MetricKind.COUNTER);
        StoredSeries seconds = store.seriesFor(store.key("connected_seconds_total", Map.of(), "n"), MetricKind.COUNTER);
        StoredSeries gauge = store.seriesFor(store.key("rx_bytes", Map.of(), "n"), MetricKind.GAUGE);
        Random r = new Random(3);
        List<Double> sentBytes = new ArrayList<>();
        List<Double> sentSeconds = new ArrayList<>();
        double b = 1e9;
        for (int i = 0; i < 360; i++) {
            long t = T0 + i * 10_000L + r.nextInt(7);
            b = i == 200 ? 12_345 : b + r.nextInt(50_000); // one reset (agent restart)
            double sec = (t - T0) / 1000.0;
            sentBytes.add(b);
            sentSeconds.add(sec);
            store.add(bytes, t, b, false);
            store.add(seconds, t, sec, false);
            store.add(gauge, t, b, false);
        }
        List<Double> readBytes = new ArrayList<>();
        List<Double> readSeconds = new ArrayList<>();
        List<Double> readGauge = new ArrayList<>();
        bytes.read(0, 0, Long.MAX_VALUE / 2, (t, v, f) -> readBytes.add(v));
        seconds.read(0, 0, Long.MAX_VALUE / 2, (t, v, f) -> readSeconds.add(v));
        gauge.read(0, 0, Long.MAX_VALUE / 2, (t, v, f) -> readGauge.add(v));
        assertEquals(sentBytes, readBytes, "integral counters read exactly");
        assertEquals(sentSeconds, readSeconds, "fractional counters read exactly");
        assertTrue(!sentBytes.equals(readGauge), "the same values as a gauge are rounded (the check above can fail)");
        for (int i = 1; i < readBytes.size(); i++) {
            if (i != 200) {
                assertTrue(readBytes.get(i) >= readBytes.get(i - 1), "monotone between resets");
            }
        }
        // Coarse tiers keep the largest value of each slot as a float, never rounded further.
        List<Double> minutes = new ArrayList<>();
        bytes.read(1, 0, Long.MAX_VALUE / 2, (t, v, f) -> minutes.add(v));
        assertEquals(60, minutes.size());
        for (int m = 0; m < 60; m++) {
            double largest = 0;
            for (int i = m * 6; i < m * 6 + 6; i++) {
                largest = Math.max(largest, (float) (double) sentBytes.get(i));
            }
            // Slots are whole minutes from T0; the samples of minute m are 6m..6m+5.
            assertEquals((double) (float) largest, minutes.get(m), "minute " + m);
        }
    }

    @Test
    void losslessPrecisionKeepsEveryBit() {
        for (int bits : new int[] {53, 64}) {
            MetricsStore store = new MetricsStore(new MetricsStore.Settings(TIERS, 10, 10, bits));
            StoredSeries s = store.seriesFor(store.key("g", Map.of(), "n"), MetricKind.GAUGE);
            Random r = new Random(bits);
            List<Long> sent = new ArrayList<>();
            for (int i = 0; i < 360; i++) {
                double v = i < SPECIAL.length ? SPECIAL[i] : i % 2 == 0 ? Double.longBitsToDouble(r.nextLong()) : r.nextGaussian();
                sent.add(Double.doubleToRawLongBits(v));
                store.add(s, T0 + i * 10_000L + r.nextInt(9), v, false);
            }
            List<Long> read = new ArrayList<>();
            s.read(0, 0, Long.MAX_VALUE / 2, (t, v, f) -> read.add(Double.doubleToRawLongBits(v)));
            assertEquals(sent, read, "bit for bit at " + bits + " bits");
        }
    }
}
