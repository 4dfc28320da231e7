package dev.edgeplane.controlplane.metrics;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.ListSeriesRequest;
import dev.edgeplane.api.v1.ListSeriesResponse;
import dev.edgeplane.api.v1.MetricKind;
import dev.edgeplane.api.v1.Point;
import dev.edgeplane.api.v1.QueryMetricsRequest;
import dev.edgeplane.api.v1.QueryMetricsResponse;
import dev.edgeplane.api.v1.Series;
import dev.edgeplane.controlplane.api.Validation;
import java.time.Clock;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;

/**
 * QueryMetrics and ListSeries over a {@link MetricsStore}: validation, tier choice, steps. Every query is
 * bounded before and while it runs ({@link Limits}): names and matchers by count, regexes by length and
 * matching work, and what it may touch (series matched) and return (points): past those,
 * RESOURCE_EXHAUSTED naming the limit, and the query stops reading.
 */
public final class MetricsQuery {
    /** The steps the consoles offer. */
    public static final List<Duration> STEPS = List.of(Duration.ofMinutes(1), Duration.ofMinutes(5), Duration.ofMinutes(20),
            Duration.ofHours(1), Duration.ofHours(4));
    static final int DEFAULT_MAX_SERIES = 1000;
    static final int LIMIT_MAX_SERIES = 100_000;
    static final int DEFAULT_PAGE_SIZE = 500;
    static final int LIMIT_PAGE_SIZE = 5000;
    static final Pattern METRIC_NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");

    /**
     * The bounds of one query (edgeplane.limits.*): {@code maxNames} series names and {@code maxMatchers}
     * label matchers per request; a regex of at most {@code maxRegexBytes}, all regexes reading at most
     * {@code maxRegexSteps} characters while matching; at most {@code maxSeries} series matched (touched)
     * and {@code maxPoints} points returned.
     */
    public record Limits(int maxNames, int maxMatchers, int maxRegexBytes, long maxRegexSteps, int maxSeries, int maxPoints) {
        public static final Limits DEFAULTS = new Limits(64, 32, LabelMatchers.DEFAULT_MAX_REGEX_BYTES,
                LabelMatchers.DEFAULT_MAX_REGEX_STEPS, 100_000, 1_000_000);

        public Limits {
            if (maxNames < 1 || maxMatchers < 1 || maxRegexBytes < 1 || maxRegexSteps < 1 || maxSeries < 1 || maxPoints < 1) {
                throw new IllegalArgumentException("metrics query limits must be >= 1: " + this);
            }
        }
    }

    static final String MAX_SERIES_SETTING = "edgeplane.limits.max-metrics-query-series";
    static final String MAX_POINTS_SETTING = "edgeplane.limits.max-metrics-query-points";
    static final String MAX_REGEX_STEPS_SETTING = "edgeplane.limits.max-metrics-regex-steps";

    private final MetricsStore store;
    private final Clock clock;
    private final Limits limits;

    public MetricsQuery(MetricsStore store, Clock clock) {
        this(store, clock, Limits.DEFAULTS);
    }

    public MetricsQuery(MetricsStore store, Clock clock, Limits limits) {
        this.store = store;
        this.clock = clock;
        this.limits = limits;
    }

    /** The answer would pass {@link Limits#maxPoints()}: stops reading at once. */
    private static final class TooManyPoints extends RuntimeException {
        TooManyPoints() {
            super(null, null, false, false);
        }
    }

    public QueryMetricsResponse query(QueryMetricsRequest request) {
        Validation v = new Validation();
        if (request.getNamesCount() == 0) {
            v.add("names", "at least one series name is required");
        }
        LabelMatchers matchers = matchers(request.getNamesList(), request.getMatchersList(), v);
        long now = clock.millis();
        long end = request.hasEnd() ? toMillis(request.getEnd()) : now;
        long start = request.hasStart() ? toMillis(request.getStart()) : end - Duration.ofHours(1).toMillis();
        if (start > end) {
            v.add("start", "must not be after end");
        }
        Duration step = null;
        if (request.hasStep()) {
            step = Duration.ofSeconds(request.getStep().getSeconds(), request.getStep().getNanos());
            if (!STEPS.contains(step)) {
                v.add("step", "must be one of 1m, 5m, 20m, 1h, 4h (or unset for the finest kept)");
            }
        }
        if (request.getMaxSeries() < 0 || request.getMaxSeries() > LIMIT_MAX_SERIES) {
            v.add("max_series", "must be between 0 (default " + DEFAULT_MAX_SERIES + ") and " + LIMIT_MAX_SERIES);
        }
        v.throwIfInvalid();
        int maxSeries = request.getMaxSeries() == 0 ? DEFAULT_MAX_SERIES : request.getMaxSeries();
        int tier = tierFor(start, step, now);

        List<StoredSeries> found = select(request.getNamesList(), matchers);
        if (found.size() > limits.maxSeries()) {
            throw Validation.exhausted(MAX_SERIES_SETTING, "the query matches " + found.size() + " series, over the limit of "
                    + limits.maxSeries() + "; narrow it with matchers (e.g. node=...)");
        }
        found.sort(Comparator.comparing(StoredSeries::key));
        QueryMetricsResponse.Builder response = QueryMetricsResponse.newBuilder().setTruncated(found.size() > maxSeries);
        int[] points = {0};
        try {
            for (StoredSeries s : found.subList(0, Math.min(maxSeries, found.size()))) {
                Series.Builder series = describe(s);
                if (step == null) {
                    s.read(tier, start, end, (t, value, backfill) -> {
                        count(points);
                        series.addPoints(Point.newBuilder().setTimeUnixMs(t).setValue(value).setBackfill(backfill));
                    });
                } else {
                    Buckets buckets = new Buckets(step.toMillis(), s.kind() == MetricKind.COUNTER, series, () -> count(points));
                    s.read(tier, start, end, buckets);
                    buckets.flush();
                }
                response.addSeries(series);
            }
        } catch (TooManyPoints e) {
            throw Validation.exhausted(MAX_POINTS_SETTING, "the answer would have more than " + limits.maxPoints()
                    + " points; ask for a coarser step, a shorter range or fewer series (max_series)");
        }
        return response.build();
    }

    private void count(int[] points) {
        if (++points[0] > limits.maxPoints()) {
            throw new TooManyPoints();
        }
    }

    /** Names and matchers checked against the limits, matchers compiled (problems into {@code v}). */
    private LabelMatchers matchers(List<String> names, List<dev.edgeplane.api.v1.LabelMatcher> matchers, Validation v) {
        v.atMost("names", names.size(), limits.maxNames(), "max-metrics-query-names");
        v.atMost("matchers", matchers.size(), limits.maxMatchers(), "max-metrics-query-matchers");
        if (names.size() > limits.maxNames() || matchers.size() > limits.maxMatchers()) {
            return LabelMatchers.none(); // not even looked at: refused anyway
        }
        names(names, v);
        return LabelMatchers.compile("matchers", matchers, v, limits.maxRegexBytes(), limits.maxRegexSteps());
    }

    /** The store's selection; regex matching past its budget is RESOURCE_EXHAUSTED naming the limit. */
    private List<StoredSeries> select(List<String> names, LabelMatchers matchers) {
        try {
            return store.select(names, matchers);
        } catch (LabelMatchers.TooCostly e) {
            throw Validation.exhausted(MAX_REGEX_STEPS_SETTING, e.getMessage());
        }
    }

    /**
     * The tier to read: one that still holds {@code start}, and among those the finest when no step
     * is asked for, else the coarsest whose resolution fits in the step (the least work for the same
     * answer). A start older than every tier reads the longest one.
     */
    int tierFor(long startMs, Duration step, long nowMs) {
        List<Tier> tiers = store.tiers();
        int chosen = -1;
        for (int i = 0; i < tiers.size(); i++) {
            Tier t = tiers.get(i);
            boolean holdsStart = nowMs - t.retention().toMillis() <= startMs;
            if (!holdsStart) {
                continue;
            }
            if (step == null) {
                return i;
            }
            if (t.resolution().compareTo(step) <= 0) {
                chosen = i;
            } else if (chosen < 0) {
                chosen = i;
            }
        }
        return chosen >= 0 ? chosen : tiers.size() - 1;
    }

    public ListSeriesResponse listSeries(ListSeriesRequest request) {
        Validation v = new Validation();
        LabelMatchers matchers = matchers(request.getNamesList(), request.getMatchersList(), v);
        if (request.getPageSize() < 0 || request.getPageSize() > LIMIT_PAGE_SIZE) {
            v.add("page_size", "must be between 0 (default " + DEFAULT_PAGE_SIZE + ") and " + LIMIT_PAGE_SIZE);
        }
        v.throwIfInvalid();
        int pageSize = request.getPageSize() == 0 ? DEFAULT_PAGE_SIZE : request.getPageSize();
        String after = request.getPageToken();
        // Each key's text once (it is the order and the page token), not once per comparison.
        record Named(String text, StoredSeries series) {}
        List<Named> page = select(request.getNamesList(), matchers).stream()
                .map(s -> new Named(s.key().toString(), s))
                .filter(n -> after.isEmpty() || n.text().compareTo(after) > 0)
                .sorted(Comparator.comparing(Named::text))
                .toList();
        ListSeriesResponse.Builder response = ListSeriesResponse.newBuilder();
        page.subList(0, Math.min(pageSize, page.size())).forEach(n -> response.addSeries(describe(n.series())));
        if (page.size() > pageSize) {
            response.setNextPageToken(page.get(pageSize - 1).text());
        }
        return response.build();
    }

    private static void names(List<String> names, Validation v) {
        for (int i = 0; i < names.size(); i++) {
            if (!METRIC_NAME.matcher(names.get(i)).matches()) {
                v.add("names[" + i + "]", "\"" + names.get(i) + "\" is not a series name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
            }
        }
    }

    private static Series.Builder describe(StoredSeries s) {
        return Series.newBuilder().setName(s.key().name()).putAllLabels(s.key().labels()).setKind(s.kind());
    }

    static long toMillis(Timestamp t) {
        return t.getSeconds() * 1000 + t.getNanos() / 1_000_000;
    }

    /** One point per step: the mean of the points in it (gauges) or the last (counters). */
    private static final class Buckets implements TierSeries.PointVisitor {
        private final long stepMs;
        private final boolean counter;
        private final Series.Builder out;
        private final Runnable onPoint;
        private long bucket = Long.MIN_VALUE;
        private double sum;
        private double last;
        private int count;
        private boolean backfill;

        Buckets(long stepMs, boolean counter, Series.Builder out, Runnable onPoint) {
            this.stepMs = stepMs;
            this.counter = counter;
            this.out = out;
            this.onPoint = onPoint;
        }

        @Override
        public void point(long timeMs, double value, boolean isBackfill) {
            long b = Math.floorDiv(timeMs, stepMs) * stepMs;
            if (b != bucket) {
                flush();
                bucket = b;
            }
            sum += value;
            last = value;
            count++;
            backfill |= isBackfill;
        }

        void flush() {
            if (count > 0) {
                onPoint.run();
                out.addPoints(Point.newBuilder().setTimeUnixMs(bucket).setValue(counter ? last : sum / count).setBackfill(backfill));
            }
            sum = 0;
            count = 0;
            backfill = false;
        }
    }
}
