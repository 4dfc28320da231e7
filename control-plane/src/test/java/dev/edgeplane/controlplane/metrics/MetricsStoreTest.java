package dev.edgeplane.controlplane.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.MetricKind;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MetricsStoreTest {
    private static final long MIN = 60_000;
    private static final long T0 = 1_700_000_000_000L - Math.floorMod(1_700_000_000_000L, 3_600_000L); // on the hour

    record P(long t, double v, boolean backfill) {}

    private static MetricsStore store(int max, int perNode) {
        return new MetricsStore(new MetricsStore.Settings(Tier.parseAll("10s:1h,1m:24h,5m:7d"), max, perNode));
    }

    private static List<P> read(StoredSeries s, int tier, long from, long to) {
        List<P> points = new ArrayList<>();
        s.read(tier, from, to, (t, v, b) -> points.add(new P(t, v, b)));
        return points;
    }

    @Test
    void rawTierKeepsExactTimesAndCoarseTiersAverageGauges() {
        MetricsStore store = store(100, 100);
        StoredSeries s = store.seriesFor(store.key("node_load1", Map.of(), "n1"), MetricKind.GAUGE);
        for (int i = 0; i < 12; i++) { // two minutes at 10 s, 1.234 s into each slot
            store.add(s, T0 + i * 10_000 + 1234, i, false);
        }
        List<P> raw = read(s, 0, T0, T0 + 10 * MIN);
        assertEquals(12, raw.size());
        assertEquals(new P(T0 + 1234, 0, false), raw.get(0));
        assertEquals(new P(T0 + 110_000 + 1234, 11, false), raw.get(11));
        List<P> minutes = read(s, 1, T0, T0 + 10 * MIN);
        assertEquals(List.of(new P(T0, 2.5, false), new P(T0 + MIN, 8.5, false)), minutes);
        List<P> fives = read(s, 2, T0, T0 + 10 * MIN);
        assertEquals(List.of(new P(T0, 5.5, false)), fives);
        assertEquals(11, s.latest());
        assertEquals(12, store.pointsStored());
    }

    @Test
    void countersKeepTheLastValueInCoarseTiers() {
        MetricsStore store = store(100, 100);
        StoredSeries s = store.seriesFor(store.key("node_network_receive_bytes_total", Map.of("interface", "eth0"), "n1"), MetricKind.COUNTER);
        for (int i = 0; i < 6; i++) {
            store.add(s, T0 + i * 10_000, 1_000_000 + i * 500, false);
        }
        assertEquals(List.of(new P(T0, 1_002_500, false)), read(s, 1, T0, T0 + MIN));
    }

    @Test
    void outOfOrderBackfillLandsAtItsOriginalTimeAndStaysMarked() {
        MetricsStore store = store(100, 100);
        StoredSeries s = store.seriesFor(store.key("node_load1", Map.of(), "n1"), MetricKind.GAUGE);
        long now = T0 + 48 * 60 * MIN;
        store.add(s, now, 1, false);
        // Recorded 30 min, 5 h and 3 days ago while offline, uploaded after the live point.
        store.add(s, now - 30 * MIN, 7, true);
        store.add(s, now - 5 * 60 * MIN, 8, true);
        store.add(s, now - 3 * 24 * 60 * MIN, 9, true);
        assertEquals(List.of(new P(now - 30 * MIN, 7, true), new P(now, 1, false)), read(s, 0, now - 60 * MIN, now));
        assertEquals(List.of(new P(now - 5 * 60 * MIN, 8, true), new P(now - 30 * MIN, 7, true), new P(now, 1, false)),
                read(s, 1, now - 24 * 60 * MIN + MIN, now));
        assertEquals(new P(now - 3 * 24 * 60 * MIN, 9, true), read(s, 2, now - 7 * 24 * 60 * MIN, now).get(0));
        assertEquals(1, s.latest(), "a backfilled point is older: the latest value stays the live one");
        // Older than the longest tier: refused and counted, not stored.
        store.add(s, now - 8 * 24 * 60 * MIN, 10, true);
        assertEquals(1, store.pointsTooOld());
    }

    @Test
    void aSlotReusedAfterTheRingWrapsForgetsTheOldPoint() {
        MetricsStore store = store(100, 100);
        StoredSeries s = store.seriesFor(store.key("node_load1", Map.of(), "n1"), MetricKind.GAUGE);
        store.add(s, T0, 1, true);
        store.add(s, T0 + 60 * MIN, 2, false); // same raw index, one hour later
        assertEquals(List.of(new P(T0 + 60 * MIN, 2, false)), read(s, 0, T0 - 60 * MIN, T0 + 60 * MIN));
        store.add(s, T0 + 60 * MIN + 10_000, 3, false);
        store.add(s, T0 + 5 * 60 * MIN, 4, false); // jumps more than a whole ring ahead
        assertEquals(List.of(new P(T0 + 5 * 60 * MIN, 4, false)), read(s, 0, T0, T0 + 5 * 60 * MIN));
    }

    @Test
    void limitsRefuseNewSeriesAndCountTheirPoints() {
        MetricsStore store = store(5, 3);
        for (int i = 0; i < 4; i++) {
            StoredSeries s = store.seriesFor(store.key("m" + i, Map.of(), "a"), MetricKind.GAUGE);
            if (i < 3) {
                assertNotNull(s);
            } else {
                assertNull(s, "4th series of node a is over the per-node limit");
                store.add(s, T0, 1, false);
            }
        }
        assertNotNull(store.seriesFor(store.key("m0", Map.of(), "b"), MetricKind.GAUGE));
        assertNotNull(store.seriesFor(store.key("m1", Map.of(), "b"), MetricKind.GAUGE));
        assertNull(store.seriesFor(store.key("m2", Map.of(), "b"), MetricKind.GAUGE), "over the total limit");
        assertEquals(5, store.seriesCount());
        assertEquals(2, store.seriesRefused());
        assertEquals(1, store.pointsRefused());
        // An existing series is still found at the limit.
        assertSame(store.seriesFor(store.key("m0", Map.of(), "b"), MetricKind.GAUGE),
                store.seriesFor(store.key("m0", Map.of(), "b"), MetricKind.GAUGE));
    }

    @Test
    void droppingANodeAndEvictingStaleSeriesFreeTheirPlaces() {
        MetricsStore store = store(100, 100);
        StoredSeries old = store.seriesFor(store.key("m", Map.of(), "a"), MetricKind.GAUGE);
        store.add(old, T0, 1, false);
        StoredSeries fresh = store.seriesFor(store.key("m", Map.of("x", "1"), "a"), MetricKind.GAUGE);
        store.add(fresh, T0 + Duration.ofDays(7).toMillis(), 1, false);
        store.seriesFor(store.key("m", Map.of(), "b"), MetricKind.GAUGE);
        assertEquals(3, store.seriesCount());
        assertEquals(2, store.evictStale(T0 + Duration.ofDays(7).toMillis() + 1), "the old one and the one that never got a point");
        assertTrue(old.removed());
        assertFalse(fresh.removed());
        assertEquals(1, store.seriesCount("a"));
        assertEquals(1, store.dropNode("a"));
        assertEquals(0, store.seriesCount());
        assertTrue(store.select(List.of("m"), k -> true).isEmpty());
    }

    @Test
    void theDefaultSeriesLimitFillsHalfTheHeapAtFullRetention() {
        List<Tier> tiers = Tier.parseAll("10s:1h,1m:24h,5m:7d");
        long perSeries = MetricsStore.seriesBytesAtFullRetention(tiers);
        assertTrue(perSeries > 4_000 && perSeries < 6_000, "about 4.6 KB a series for a week (measured 4.4 KB): " + perSeries);
        assertEquals(16L * 1024 * 1024 * 1024 / 2 / perSeries, MetricsStore.defaultMaxSeries(tiers, 16L * 1024 * 1024 * 1024));
        assertTrue(MetricsStore.defaultMaxSeries(tiers, 20L << 30) >= 19_000 * 40 * 0.9, "a 20 GiB heap holds a week of 19,000 nodes x 40 series");
        assertEquals(10_000, MetricsStore.defaultMaxSeries(tiers, 64L << 20), "never below 10,000");
        assertTrue(MetricsStore.defaultMaxSeries(Tier.parseAll("10s:1h"), 1L << 30) > 3 * MetricsStore.defaultMaxSeries(tiers, 1L << 30),
                "shorter retention, more series");
    }

    @Test
    void nodeLabelComesFromTheCallerNotTheAgent() {
        MetricsStore store = store(100, 100);
        SeriesKey key = store.key("m", Map.of("node", "forged", "b", "2", "a", "1"), "real");
        assertEquals("real", key.node());
        assertEquals("m{a=\"1\",b=\"2\",node=\"real\"}", key.toString());
    }
}
