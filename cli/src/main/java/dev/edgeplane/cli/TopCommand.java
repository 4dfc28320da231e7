package dev.edgeplane.cli;

import dev.edgeplane.api.v1.LabelMatcher;
import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.ListNodesResponse;
import dev.edgeplane.api.v1.Series;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** Latest CPU and memory per node or per container, from the metrics the agents report. */
@Command(name = "top", description = "Latest CPU and memory use: edgectl top nodes | edgectl top pods [-n NS]")
final class TopCommand implements Callable<Integer> {
    @ParentCommand Edgectl root;
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "WHAT", description = "nodes or pods")
    String what;

    @Option(names = {"-n", "--namespace"}, description = "Pods: only this namespace (default: all).")
    String namespace;

    @Override
    public Integer call() throws Exception {
        var out = spec.commandLine().getOut();
        Instant now = Instant.now();
        try (ApiClient api = root.connect()) {
            switch (what) {
                case "nodes", "node", "no" -> Output.table(out, List.of("NAME", "CPU(cores)", "CPU%", "MEMORY", "MEMORY%"), nodes(api, now));
                case "pods", "pod", "po", "replicas" -> Output.table(out,
                        List.of("NAMESPACE", "REPLICA", "CONTAINER", "NODE", "CPU(cores)", "MEMORY"), pods(api, now));
                default -> throw new UsageException("top shows nodes or pods, not '" + what + "'");
            }
        }
        return 0;
    }

    private List<List<String>> nodes(ApiClient api, Instant now) {
        // Nodes that report nothing still get a row.
        TreeSet<String> names = new TreeSet<>();
        String page = "";
        do {
            ListNodesResponse r = api.nodes().listNodes(ListNodesRequest.newBuilder().setPageToken(page).build());
            r.getNodesList().forEach(n -> names.add(n.getMetadata().getName()));
            page = r.getNextPageToken();
        } while (!page.isEmpty());
        Map<String, Map<String, Double>> latest = new HashMap<>();
        for (Series s : MetricsView.latest(api, List.of("node_cpu_usage_cores", "node_cpu_cores", "node_memory_used_bytes",
                "node_memory_total_bytes"), List.of(), now).getSeriesList()) {
            String node = s.getLabelsOrDefault("node", "");
            names.add(node);
            latest.computeIfAbsent(node, n -> new HashMap<>()).put(s.getName(), MetricsView.last(s));
        }
        List<List<String>> rows = new ArrayList<>();
        for (String node : names) {
            Map<String, Double> v = latest.getOrDefault(node, Map.of());
            double cpu = v.getOrDefault("node_cpu_usage_cores", Double.NaN);
            double mem = v.getOrDefault("node_memory_used_bytes", Double.NaN);
            rows.add(List.of(node, MetricsView.cores(cpu), MetricsView.percent(cpu, v.getOrDefault("node_cpu_cores", Double.NaN)),
                    MetricsView.bytes(mem), MetricsView.percent(mem, v.getOrDefault("node_memory_total_bytes", Double.NaN))));
        }
        return rows;
    }

    private List<List<String>> pods(ApiClient api, Instant now) {
        List<LabelMatcher> matchers = namespace == null ? List.of()
                : List.of(LabelMatcher.newBuilder().setName("namespace").setValue(namespace).build());
        record Container(String namespace, String replica, String container, String node) {}
        Map<Container, Map<String, Double>> latest = new TreeMap<>(
                java.util.Comparator.comparing(Container::namespace).thenComparing(Container::replica).thenComparing(Container::container));
        for (Series s : MetricsView.latest(api, List.of("container_cpu_usage_cores", "container_memory_working_set_bytes"),
                matchers, now).getSeriesList()) {
            Container c = new Container(s.getLabelsOrDefault("namespace", ""), s.getLabelsOrDefault("replica", ""),
                    s.getLabelsOrDefault("container", ""), s.getLabelsOrDefault("node", ""));
            latest.computeIfAbsent(c, k -> new HashMap<>()).put(s.getName(), MetricsView.last(s));
        }
        List<List<String>> rows = new ArrayList<>();
        latest.forEach((c, v) -> rows.add(List.of(c.namespace(), c.replica(), c.container(), c.node(),
                MetricsView.cores(v.getOrDefault("container_cpu_usage_cores", Double.NaN)),
                MetricsView.bytes(v.getOrDefault("container_memory_working_set_bytes", Double.NaN)))));
        return rows;
    }
}
