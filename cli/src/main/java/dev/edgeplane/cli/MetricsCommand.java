package dev.edgeplane.cli;

import dev.edgeplane.api.v1.Point;
import dev.edgeplane.api.v1.QueryMetricsRequest;
import dev.edgeplane.api.v1.QueryMetricsResponse;
import dev.edgeplane.api.v1.Series;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** Points of stored series: edgectl metrics NAME... [-l k=v] [--since 1h] [--step 1m] [-o json]. */
@Command(name = "metrics", description = "Print the points of series the agents report (names in docs/metrics.md), "
        + "e.g. edgectl metrics node_cpu_usage_cores -l node=edge-1 --since 6h --step 5m")
final class MetricsCommand implements Callable<Integer> {
    @ParentCommand Edgectl root;
    @Spec CommandSpec spec;

    @Parameters(arity = "1..*", paramLabel = "NAME", description = "Series names.")
    List<String> names;

    @Option(names = {"-l", "--label"}, paramLabel = "MATCHER",
            description = "Label matcher, repeatable: k=v, k!=v, k=~regex, k!~regex (regexes match whole values).")
    List<String> matchers = new ArrayList<>();

    @Option(names = "--since", paramLabel = "DURATION", description = "How far back (default 1h).")
    String since = "1h";

    @Option(names = "--step", paramLabel = "STEP", description = "1m, 5m, 20m, 1h or 4h: one point per step "
            + "(mean of gauges, last of counters). Default: every point of the finest resolution kept.")
    String step;

    @Option(names = "--max-series", description = "At most this many series (default 1000).")
    int maxSeries;

    @Option(names = {"-o", "--output"}, description = "table (default), json or yaml")
    Output.Format format = Output.Format.table;

    @Override
    public Integer call() throws Exception {
        var out = spec.commandLine().getOut();
        Instant now = Instant.now();
        QueryMetricsRequest.Builder request = QueryMetricsRequest.newBuilder().addAllNames(names)
                .setStart(MetricsView.timestamp(now.minus(Durations.parse(since)))).setEnd(MetricsView.timestamp(now))
                .setMaxSeries(maxSeries);
        matchers.forEach(m -> request.addMatchers(MetricsView.matcher(m)));
        if (step != null) {
            Duration d = Durations.parse(step);
            request.setStep(com.google.protobuf.Duration.newBuilder().setSeconds(d.getSeconds()));
        }
        QueryMetricsResponse response;
        try (ApiClient api = root.connect()) {
            response = api.metrics().queryMetrics(request.build());
        }
        if (!format.isTable()) {
            Output.print(out, format, List.of(response), List.of(), m -> List.of());
        } else {
            List<List<String>> rows = new ArrayList<>();
            for (Series s : response.getSeriesList()) {
                String series = MetricsView.describe(s);
                for (Point p : s.getPointsList()) {
                    rows.add(List.of(series, Instant.ofEpochMilli(p.getTimeUnixMs()).toString(), MetricsView.number(p.getValue()),
                            p.getBackfill() ? "yes" : ""));
                }
            }
            Output.table(out, List.of("SERIES", "TIME", "VALUE", "BACKFILL"), rows);
        }
        if (response.getTruncated()) {
            spec.commandLine().getErr().println("(more series matched than --max-series; showing the first "
                    + response.getSeriesCount() + ")");
        }
        return 0;
    }
}
