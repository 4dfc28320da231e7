package dev.edgeplane.controlplane.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import com.google.rpc.QuotaFailure;
import dev.edgeplane.api.v1.LabelMatcher;
import dev.edgeplane.api.v1.ListSeriesRequest;
import dev.edgeplane.api.v1.MetricKind;
import dev.edgeplane.api.v1.QueryMetricsRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Every QueryMetrics input is bounded: counts and regex lengths are INVALID_ARGUMENT, work is RESOURCE_EXHAUSTED. */
class MetricsQueryLimitsTest {
    private static final long NOW = 1_700_000_000_000L - Math.floorMod(1_700_000_000_000L, 3_600_000L) + 3_600_000L;
    private static final long MIN = 60_000;

    private final MetricsStore store = new MetricsStore(new MetricsStore.Settings(Tier.parseAll("10s:1h,1m:24h,5m:7d"), 100, 100));
    /** 2 names, 2 matchers, regexes of 32 bytes reading 100,000 characters, 3 series, 100 points. */
    private final MetricsQuery query = new MetricsQuery(store, Clock.fixed(Instant.ofEpochMilli(NOW), ZoneOffset.UTC),
            new MetricsQuery.Limits(2, 2, 32, 100_000, 3, 100));

    private static LabelMatcher m(String name, LabelMatcher.Op op, String value) {
        return LabelMatcher.newBuilder().setName(name).setOp(op).setValue(value).build();
    }

    private static Timestamp at(long ms) {
        return Timestamp.newBuilder().setSeconds(ms / 1000).build();
    }

    /** node_load1 on {@code nodes}, the last 10 minutes at 10 s (60 points each). */
    private void loads(String... nodes) {
        for (String node : nodes) {
            StoredSeries s = store.seriesFor(store.key("node_load1", Map.of(), node), MetricKind.GAUGE);
            for (int i = 0; i < 60; i++) {
                store.add(s, NOW - 10 * MIN + i * 10_000, i, false);
            }
        }
    }

    private static StatusRuntimeException refused(Status.Code code, Executable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call);
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        return e;
    }

    /** RESOURCE_EXHAUSTED whose message and QuotaFailure subject name {@code setting}. */
    private static void exhausted(String setting, Executable call) throws Exception {
        StatusRuntimeException e = refused(Status.Code.RESOURCE_EXHAUSTED, call);
        assertTrue(e.getStatus().getDescription().startsWith(setting + ":"), e.getStatus().getDescription());
        QuotaFailure failure = StatusProto.fromThrowable(e).getDetails(0).unpack(QuotaFailure.class);
        assertEquals(setting, failure.getViolations(0).getSubject());
    }

    @Test
    void tooManyNamesOrMatchersAndAnOverlongRegexAreInvalidNamingFieldAndSetting() {
        StatusRuntimeException names = refused(Status.Code.INVALID_ARGUMENT, () -> query.query(QueryMetricsRequest.newBuilder()
                .addNames("a").addNames("b").addNames("c").build()));
        assertEquals(List.of("names"), MetricsIngestTest.badRequestFields(names));
        assertTrue(names.getStatus().getDescription().contains("edgeplane.limits.max-metrics-query-names"), names.getStatus().getDescription());

        StatusRuntimeException matchers = refused(Status.Code.INVALID_ARGUMENT, () -> query.listSeries(ListSeriesRequest.newBuilder()
                .addMatchers(m("a", LabelMatcher.Op.EQUAL, "1")).addMatchers(m("b", LabelMatcher.Op.EQUAL, "1"))
                .addMatchers(m("c", LabelMatcher.Op.EQUAL, "1")).build()));
        assertEquals(List.of("matchers"), MetricsIngestTest.badRequestFields(matchers));
        assertTrue(matchers.getStatus().getDescription().contains("edgeplane.limits.max-metrics-query-matchers"));

        StatusRuntimeException regex = refused(Status.Code.INVALID_ARGUMENT, () -> query.query(QueryMetricsRequest.newBuilder()
                .addNames("node_load1").addMatchers(m("node", LabelMatcher.Op.EQUAL, "x".repeat(100)))
                .addMatchers(m("node", LabelMatcher.Op.NOT_REGEX, "x".repeat(33))).build()));
        assertEquals(List.of("matchers[1].value"), MetricsIngestTest.badRequestFields(regex), "only regexes have the length bound");
        assertTrue(regex.getStatus().getDescription().contains("edgeplane.limits.max-metrics-regex-bytes"));
    }

    @Test
    void aBacktrackingRegexIsStoppedAtTheMatchingBudget() throws Exception {
        // (.*a){12}b against 40 a's: java.util.regex backtracks through ~40^12 ways (measured: past 50 million reads).
        StoredSeries s = store.seriesFor(store.key("disk_used", Map.of("path", "a".repeat(40)), "edge-1"), MetricKind.GAUGE);
        store.add(s, NOW - MIN, 1, false);
        exhausted(MetricsQuery.MAX_REGEX_STEPS_SETTING, () -> query.query(QueryMetricsRequest.newBuilder().addNames("disk_used")
                .addMatchers(m("path", LabelMatcher.Op.REGEX, "(.*a){12}b")).build()));
        exhausted(MetricsQuery.MAX_REGEX_STEPS_SETTING, () -> query.listSeries(ListSeriesRequest.newBuilder()
                .addMatchers(m("path", LabelMatcher.Op.NOT_REGEX, "(.*a){12}b")).build()));
        // A plain regex on the same value reads each character about once.
        assertEquals(1, query.query(QueryMetricsRequest.newBuilder().addNames("disk_used")
                .addMatchers(m("path", LabelMatcher.Op.REGEX, "a+")).build()).getSeriesCount());
    }

    @Test
    void aQueryMatchingMoreSeriesThanTheLimitIsRefusedAndANarrowerOneServed() throws Exception {
        loads("a", "b", "c", "d");
        exhausted(MetricsQuery.MAX_SERIES_SETTING, () -> query.query(QueryMetricsRequest.newBuilder().addNames("node_load1")
                .setStep(com.google.protobuf.Duration.newBuilder().setSeconds(300)).build()));
        assertEquals(3, query.query(QueryMetricsRequest.newBuilder().addNames("node_load1")
                .addMatchers(m("node", LabelMatcher.Op.NOT_EQUAL, "d"))
                .setStep(com.google.protobuf.Duration.newBuilder().setSeconds(300)).build()).getSeriesCount());
    }

    @Test
    void anAnswerOverThePointLimitIsRefusedAndACoarserStepServed() throws Exception {
        loads("a", "b");
        // Raw: 2 series x 60 points > 100.
        exhausted(MetricsQuery.MAX_POINTS_SETTING, () -> query.query(QueryMetricsRequest.newBuilder().addNames("node_load1")
                .setStart(at(NOW - 10 * MIN)).setEnd(at(NOW)).build()));
        // One series fits: 60 points.
        assertEquals(60, query.query(QueryMetricsRequest.newBuilder().addNames("node_load1")
                .addMatchers(m("node", LabelMatcher.Op.EQUAL, "a"))
                .setStart(at(NOW - 10 * MIN)).setEnd(at(NOW)).build()).getSeries(0).getPointsCount());
        // 5-minute steps: 2 points a series.
        assertEquals(2, query.query(QueryMetricsRequest.newBuilder().addNames("node_load1")
                .setStart(at(NOW - 10 * MIN)).setEnd(at(NOW))
                .setStep(com.google.protobuf.Duration.newBuilder().setSeconds(300)).build()).getSeries(1).getPointsCount());
    }
}
