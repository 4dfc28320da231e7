package dev.edgeplane.controlplane.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.LabelMatcher;
import dev.edgeplane.api.v1.MetricKind;
import dev.edgeplane.api.v1.Point;
import dev.edgeplane.api.v1.QueryMetricsRequest;
import dev.edgeplane.api.v1.QueryMetricsResponse;
import dev.edgeplane.controlplane.api.Validation;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MetricsQueryTest {
    private static final long NOW = 1_700_000_000_000L - Math.floorMod(1_700_000_000_000L, 3_600_000L) + 3_600_000L;
    private static final long MIN = 60_000;

    private final MetricsStore store = new MetricsStore(new MetricsStore.Settings(Tier.parseAll("10s:1h,1m:24h,5m:7d"), 100, 100));
    private final MetricsQuery query = new MetricsQuery(store, Clock.fixed(Instant.ofEpochMilli(NOW), ZoneOffset.UTC));

    private static LabelMatcher m(String name, LabelMatcher.Op op, String value) {
        return LabelMatcher.newBuilder().setName(name).setOp(op).setValue(value).build();
    }

    private static LabelMatchers compile(LabelMatcher... matchers) {
        Validation v = new Validation();
        LabelMatchers compiled = LabelMatchers.compile("matchers", List.of(matchers), v);
        assertTrue(v.ok(), v.violations().toString());
        return compiled;
    }

    private static com.google.protobuf.Duration minutes(long n) {
        return com.google.protobuf.Duration.newBuilder().setSeconds(n * 60).build();
    }

    private static Timestamp at(long ms) {
        return Timestamp.newBuilder().setSeconds(ms / 1000).build();
    }

    @Test
    void matchersArePrometheusLike() {
        SeriesKey web = SeriesKey.of("m", Map.of("node", "edge-1", "app", "web"));
        SeriesKey bare = SeriesKey.of("m", Map.of("node", "edge-22"));
        assertTrue(compile(m("app", LabelMatcher.Op.EQUAL, "web")).test(web));
        assertTrue(compile(m("app", LabelMatcher.Op.OP_UNSPECIFIED, "web")).test(web), "unspecified is =");
        assertFalse(compile(m("app", LabelMatcher.Op.NOT_EQUAL, "web")).test(web));
        assertTrue(compile(m("app", LabelMatcher.Op.EQUAL, "")).test(bare), "a missing label matches \"\"");
        assertTrue(compile(m("node", LabelMatcher.Op.REGEX, "edge-\\d")).test(web));
        assertFalse(compile(m("node", LabelMatcher.Op.REGEX, "edge-\\d")).test(bare), "regexes are anchored at both ends");
        assertFalse(compile(m("node", LabelMatcher.Op.REGEX, "edge")).test(web), "anchored: no substring match");
        assertTrue(compile(m("node", LabelMatcher.Op.NOT_REGEX, "edge-1|edge-3")).test(bare));
        assertFalse(compile(m("node", LabelMatcher.Op.NOT_REGEX, "edge-1|edge-3")).test(web));
        assertFalse(compile(m("node", LabelMatcher.Op.EQUAL, "edge-1"), m("app", LabelMatcher.Op.EQUAL, "db")).test(web), "all must hold");
    }

    @Test
    void invalidRequestsNameEveryBadField() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> query.query(QueryMetricsRequest.newBuilder()
                .addNames("ok_name").addNames("bad-name")
                .addMatchers(m("9bad", LabelMatcher.Op.EQUAL, "x"))
                .addMatchers(m("node", LabelMatcher.Op.NOT_REGEX, "[unclosed"))
                .setStart(at(NOW)).setEnd(at(NOW - MIN))
                .setStep(com.google.protobuf.Duration.newBuilder().setSeconds(30))
                .setMaxSeries(-1).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals(List.of("names[1]", "matchers[0].name", "matchers[1].value", "start", "step", "max_series"),
                MetricsIngestTest.badRequestFields(e));
        for (long step : List.of(1L, 5L, 20L, 60L, 240L)) {
            query.query(QueryMetricsRequest.newBuilder().addNames("x").setStep(minutes(step)).build());
        }
    }

    @Test
    void theTierHoldsTheStartAndFitsTheStep() {
        assertEquals(0, query.tierFor(NOW - 30 * MIN, null, NOW), "no step, last 30 min: raw");
        assertEquals(1, query.tierFor(NOW - 120 * MIN, null, NOW), "no step, last 2 h: 1 min");
        assertEquals(2, query.tierFor(NOW - 3 * 24 * 60 * MIN, null, NOW), "no step, last 3 days: 5 min");
        assertEquals(1, query.tierFor(NOW - 30 * MIN, Duration.ofMinutes(1), NOW), "step 1m: the 1-minute tier");
        assertEquals(2, query.tierFor(NOW - 30 * MIN, Duration.ofHours(1), NOW), "step 1h: the coarsest that fits");
        assertEquals(2, query.tierFor(NOW - 3 * 24 * 60 * MIN, Duration.ofMinutes(1), NOW), "only the 5-minute tier holds 3 days ago");
        assertEquals(2, query.tierFor(NOW - 30 * 24 * 60 * MIN, null, NOW), "older than every tier: the longest");
    }

    @Test
    void stepsAverageGaugesAndTruncateAtMaxSeries() {
        for (String node : List.of("a", "b", "c")) {
            StoredSeries s = store.seriesFor(store.key("node_load1", Map.of(), node), MetricKind.GAUGE);
            for (int i = 0; i < 60; i++) { // the last 10 minutes at 10 s: values 0..59
                store.add(s, NOW - 10 * MIN + i * 10_000, i, false);
            }
        }
        QueryMetricsResponse r = query.query(QueryMetricsRequest.newBuilder().addNames("node_load1")
                .setStart(at(NOW - 10 * MIN)).setEnd(at(NOW)).setStep(minutes(5)).setMaxSeries(2).build());
        assertTrue(r.getTruncated());
        assertEquals(2, r.getSeriesCount());
        assertEquals("a", r.getSeries(0).getLabelsOrThrow("node"));
        QueryMetricsResponse pinned = query.query(QueryMetricsRequest.newBuilder().addNames("node_load1").addNames("other")
                .addMatchers(m("node", LabelMatcher.Op.EQUAL, "b")).build());
        assertEquals(1, pinned.getSeriesCount(), "node=b reads node b's series only");
        assertEquals("b", pinned.getSeries(0).getLabelsOrThrow("node"));
        assertEquals(0, query.query(QueryMetricsRequest.newBuilder().addNames("node_load1")
                .addMatchers(m("node", LabelMatcher.Op.EQUAL, "b")).addMatchers(m("node", LabelMatcher.Op.EQUAL, "c")).build()).getSeriesCount());
        // Two 5-minute steps: the 1-minute tier's means of 0..29 and 30..59.
        assertEquals(List.of(14.5, 44.5), r.getSeries(0).getPointsList().stream().map(Point::getValue).toList());
        assertEquals(List.of(NOW - 10 * MIN, NOW - 5 * MIN), r.getSeries(0).getPointsList().stream().map(Point::getTimeUnixMs).toList());
    }
}
