package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.LabelMatcher;
import dev.edgeplane.api.v1.MetricsServiceGrpc;
import dev.edgeplane.api.v1.Point;
import dev.edgeplane.api.v1.QueryMetricsRequest;
import dev.edgeplane.api.v1.QueryMetricsResponse;
import dev.edgeplane.api.v1.Resources;
import dev.edgeplane.api.v1.Series;
import com.google.protobuf.Timestamp;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 6, the agent's side end to end: a real agent's node and container metrics reach the control
 * plane and are queryable with the node label and sane values (a container burning CPU shows more
 * than an idle one), and what the agent sampled while the control plane was down is uploaded after it
 * comes back, at the original timestamps, marked backfill.
 */
class MetricsE2ETest {
    private static final String NODE = "edge-metrics";
    /** Sample and upload every second; offline samples kept at 1 s so each one can be found again. */
    private static final List<String> AGENT = List.of("--backoff-initial", "1s", "--backoff-max", "4s", "--heartbeat", "2s",
            "--metrics-interval", "1s", "--metrics-flush", "1s", "--metrics-ring-resolution", "1s");
    /** A 1 s raw tier, so points keep their own second. */
    private static final Map<String, String> CLOUD = Map.of("EDGEPLANE_METRICS_TIERS", "1s:1h,1m:24h,5m:7d");

    @TempDir
    Path dir;

    @Test
    void nodeAndContainerMetricsArriveAndTheOfflineBacklogIsBackfilled() throws Exception {
        Map<String, String> env = new HashMap<>(EdgeCluster.FAST_FAULTS);
        env.putAll(CLOUD);
        try (EdgeCluster cluster = EdgeCluster.start(dir, env, AGENT, NODE)) {
            // The burner is held to 0.3 cores by a CFS quota: the machine is shared.
            App burner = cluster.app("burner", 1, "sh", "-c", "while :; do :; done");
            burner = burner.toBuilder().setSpec(burner.getSpec().toBuilder().setTemplate(burner.getSpec().getTemplate().toBuilder()
                    .setContainers(0, burner.getSpec().getTemplate().getContainers(0).toBuilder()
                            .setLimits(Resources.newBuilder().setCpuMillis(300))))).build();
            cluster.create(burner);
            cluster.create(cluster.app("idle", 1, "sleep", "3600"));
            cluster.awaitRunning("burner", 1);
            cluster.awaitRunning("idle", 1);

            // Node series, with the node label the control plane adds from the certificate.
            List<String> nodeNames = List.of("node_cpu_usage_cores", "node_cpu_usage_ratio", "node_cpu_cores", "node_load1",
                    "node_memory_total_bytes", "node_memory_available_bytes", "node_filesystem_free_bytes", "node_uptime_seconds",
                    "agent_connected_seconds_total", "agent_heap_used_bytes", "agent_resident_memory_bytes",
                    "agent_metrics_collect_seconds_total");
            QueryMetricsResponse[] node = new QueryMetricsResponse[1];
            Await.until("node series of " + NODE, EdgeCluster.CONVERGE, () -> String.valueOf(node[0]) + cluster.diagnostics(), () -> {
                node[0] = query(cluster, nodeNames, Duration.ofMinutes(5));
                return nodeNames.stream().allMatch(n -> node[0].getSeriesList().stream().anyMatch(s -> s.getName().equals(n)
                        && s.getPointsCount() > 0));
            });
            for (Series s : node[0].getSeriesList()) {
                assertEquals(NODE, s.getLabelsMap().get("node"), s.getName() + " carries the node label");
            }
            double cores = last(node[0], "node_cpu_cores", Map.of());
            assertTrue(cores >= Runtime.getRuntime().availableProcessors(), "same machine, its online CPUs: " + cores);
            double ratio = last(node[0], "node_cpu_usage_ratio", Map.of());
            assertTrue(ratio >= 0 && ratio <= 1, "cpu ratio " + ratio);
            double total = last(node[0], "node_memory_total_bytes", Map.of());
            double available = last(node[0], "node_memory_available_bytes", Map.of());
            assertTrue(total > 64e6 && available > 0 && available <= total, total + " / " + available);
            assertTrue(last(node[0], "node_filesystem_free_bytes", Map.of("mount", "root")) > 0);
            assertTrue(last(node[0], "node_filesystem_free_bytes", Map.of("mount", "data")) > 0);
            assertTrue(last(node[0], "agent_resident_memory_bytes", Map.of()) > 10e6);

            // Containers: the burner's CPU is above the idle one's, averaged over the last few seconds.
            double[] cpu = new double[2];
            Await.until("burner above idle", EdgeCluster.CONVERGE, () -> cpu[0] + " vs " + cpu[1] + "\n" + cluster.diagnostics(), () -> {
                QueryMetricsResponse r = query(cluster, List.of("container_cpu_usage_cores"), Duration.ofSeconds(20));
                cpu[0] = average(r, "burner");
                cpu[1] = average(r, "idle");
                return cpu[0] > 0.1 && cpu[0] > cpu[1] + 0.05;
            });
            QueryMetricsResponse containers = query(cluster, List.of("container_cpu_usage_cores", "container_memory_working_set_bytes",
                    "container_state", "container_restarts_total"), Duration.ofMinutes(1));
            Series burnerCpu = series(containers, "container_cpu_usage_cores", "burner");
            assertEquals("default", burnerCpu.getLabelsOrThrow("namespace"));
            assertEquals("main", burnerCpu.getLabelsOrThrow("container"));
            assertTrue(burnerCpu.getLabelsOrThrow("replica").startsWith("burner"), burnerCpu.getLabelsMap().toString());
            assertEquals(2.0, lastPoint(series(containers, "container_state", "idle")).getValue(), "running");
            assertEquals(0.0, lastPoint(series(containers, "container_restarts_total", "idle")).getValue());
            assertTrue(lastPoint(series(containers, "container_memory_working_set_bytes", "idle")).getValue() > 0);
            System.out.printf("container cpu: burner %.3f cores, idle %.3f cores%n", cpu[0], cpu[1]);

            // The same through edgectl, as an operator looks.
            String nodesTop = edgectl(cluster, "top", "nodes");
            assertTrue(nodesTop.contains(NODE), nodesTop);
            String podsTop = edgectl(cluster, "top", "pods", "-n", "default");
            assertTrue(podsTop.lines().anyMatch(l -> l.contains(burnerCpu.getLabelsOrThrow("replica")) && l.contains(NODE)), podsTop);
            String points = edgectl(cluster, "metrics", "node_memory_total_bytes", "-l", "node=" + NODE, "--since", "2m", "-o", "json");
            assertTrue(points.contains("node_memory_total_bytes") && points.contains(NODE), points);

            // The control plane goes away; the agent keeps sampling to its ring; it comes back.
            cluster.killCloud();
            Instant down = Instant.now();
            Thread.sleep(8_000);
            Instant up = Instant.now();
            cluster.startCloud();
            long from = down.plusSeconds(1).toEpochMilli();
            long to = up.minusSeconds(1).toEpochMilli();
            List<Point>[] offline = new List[1];
            Await.until("the offline backlog uploaded", EdgeCluster.CONVERGE, () -> offline[0] + "\n" + cluster.diagnostics(), () -> {
                QueryMetricsResponse r = query(cluster, List.of("node_uptime_seconds"), Duration.ofMinutes(5));
                offline[0] = r.getSeriesList().isEmpty() ? List.of() : r.getSeries(0).getPointsList().stream()
                        .filter(p -> p.getTimeUnixMs() >= from && p.getTimeUnixMs() <= to).toList();
                return offline[0].size() >= 5;
            });
            assertTrue(offline[0].stream().allMatch(Point::getBackfill), "recorded offline -> backfill: " + offline[0]);
            // At their original instants: one per second of the outage, uptime growing with the clock.
            for (int i = 1; i < offline[0].size(); i++) {
                Point a = offline[0].get(i - 1);
                Point b = offline[0].get(i);
                assertTrue(b.getTimeUnixMs() > a.getTimeUnixMs());
                double clock = (b.getTimeUnixMs() - a.getTimeUnixMs()) / 1000.0;
                assertEquals(clock, b.getValue() - a.getValue(), 0.5, "uptime advances with the original timestamps: " + a + " -> " + b);
            }
            // And live data flows again, not marked backfill.
            Await.until("live points after the restart", EdgeCluster.CONVERGE, cluster::diagnostics, () ->
                    query(cluster, List.of("node_uptime_seconds"), Duration.ofSeconds(10)).getSeriesList().stream()
                            .flatMap(s -> s.getPointsList().stream()).anyMatch(p -> !p.getBackfill() && p.getTimeUnixMs() > up.toEpochMilli()));
            // The agent counted the outage itself.
            Await.until("the agent's own link figures", EdgeCluster.CONVERGE, cluster::diagnostics, () -> {
                QueryMetricsResponse r = query(cluster, List.of("agent_offline_episodes_total", "agent_disconnected_seconds_total"),
                        Duration.ofSeconds(10));
                return r.getSeriesCount() == 2 && last(r, "agent_offline_episodes_total", Map.of()) >= 1
                        && last(r, "agent_disconnected_seconds_total", Map.of()) >= 5;
            });
            System.out.println("offline backlog: " + offline[0].size() + " points in " + Duration.between(down, up).toSeconds()
                    + " s of outage, all backfill");
        }
    }

    private static String edgectl(EdgeCluster cluster, String... args) {
        List<String> cmd = new java.util.ArrayList<>(Binaries.edgectl());
        cmd.addAll(List.of("--insecure", "--server", cluster.cloud.apiAddress(), "--token-file", cluster.cloud.adminTokenFile().toString()));
        cmd.addAll(List.of(args));
        dev.edgeplane.testkit.Commands.Result r = dev.edgeplane.testkit.Commands.exec(cmd, Map.of(), Duration.ofSeconds(60));
        assertEquals(0, r.exitCode(), String.join(" ", args) + ": " + r.output());
        return r.output();
    }

    private static QueryMetricsResponse query(EdgeCluster cluster, List<String> names, Duration back) {
        Instant now = Instant.now();
        ManagedChannel channel = NettyChannelBuilder.forTarget(cluster.cloud.apiAddress()).usePlaintext().build();
        try {
            return MetricsServiceGrpc.newBlockingStub(channel).withCallCredentials(ControlPlane.bearer(cluster.cloud.adminToken()))
                    .withDeadlineAfter(20, TimeUnit.SECONDS)
                    .queryMetrics(QueryMetricsRequest.newBuilder().addAllNames(names)
                            .addMatchers(LabelMatcher.newBuilder().setName("node").setOp(LabelMatcher.Op.EQUAL).setValue(NODE))
                            .setStart(timestamp(now.minus(back))).setEnd(timestamp(now.plusSeconds(5))).build());
        } finally {
            channel.shutdownNow();
        }
    }

    private static Timestamp timestamp(Instant t) {
        return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
    }

    private static double last(QueryMetricsResponse r, String name, Map<String, String> labels) {
        return r.getSeriesList().stream()
                .filter(s -> s.getName().equals(name) && labels.entrySet().stream()
                        .allMatch(e -> e.getValue().equals(s.getLabelsMap().get(e.getKey()))))
                .map(MetricsE2ETest::lastPoint).map(Point::getValue).findFirst()
                .orElseThrow(() -> new AssertionError("no " + name + labels));
    }

    private static Series series(QueryMetricsResponse r, String name, String app) {
        return r.getSeriesList().stream().filter(s -> s.getName().equals(name) && app.equals(s.getLabelsMap().get("app")))
                .findFirst().orElseThrow(() -> new AssertionError("no " + name + " of " + app + " in " + r));
    }

    private static Point lastPoint(Series s) {
        return s.getPoints(s.getPointsCount() - 1);
    }

    /** Average of an app's container_cpu_usage_cores points in the response; -1 when there are none. */
    private static double average(QueryMetricsResponse r, String app) {
        return r.getSeriesList().stream().filter(s -> app.equals(s.getLabelsMap().get("app")))
                .flatMap(s -> s.getPointsList().stream()).mapToDouble(Point::getValue).average().orElse(-1);
    }

}
