package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.edgeplane.testkit.Commands;
import dev.edgeplane.testkit.FreePorts;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The alerting in deploy/prometheus/ against Debian's real Prometheus and Alertmanager: the shipped
 * files pass their own tools (promtool check and unit tests, amtool), and a real control plane scraped
 * by Prometheus with the shipped rules and Alertmanager configuration fires NodeUnreachable in
 * Alertmanager when an agent stops; the Grafana dashboard's queries are valid to that Prometheus.
 */
class AlertingE2ETest {
    static final Path DIR = Path.of("..", "deploy", "prometheus").toAbsolutePath().normalize();
    private static final Duration TOOL = Duration.ofSeconds(60);
    private static final Duration UP = Duration.ofSeconds(60);
    private static final String NODE = "edge-alerting";
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    private static void tool(String... command) {
        Commands.Result r = Commands.exec(List.of(command), Map.of(), TOOL);
        assertEquals(0, r.exitCode(), String.join(" ", command) + ":\n" + r.output());
    }

    @Test
    void theShippedRulesAndConfigurationsPassTheirTools() {
        tool("promtool", "check", "rules", DIR.resolve("edgeplane-rules.yml").toString());
        tool("promtool", "test", "rules", DIR.resolve("edgeplane-rules-test.yml").toString());
        tool("promtool", "check", "config", DIR.resolve("prometheus.yml").toString());
        tool("amtool", "check-config", DIR.resolve("alertmanager.yml").toString());
    }

    @Test
    void stoppingAnAgentFiresNodeUnreachableInAlertmanager() throws Exception {
        Map<String, String> env = new HashMap<>(EdgeCluster.FAST_FAULTS);
        env.put("EDGEPLANE_METRICS_PROMETHEUS_REFRESH_INTERVAL", "1s");
        try (EdgeCluster cluster = EdgeCluster.start(dir, env, EdgeCluster.FAST_AGENT, NODE)) {
            // Drawn once the control plane holds its ports, so neither can be one of them.
            int promPort = FreePorts.belowEphemeralRange();
            int amPort = FreePorts.belowEphemeralRange(promPort);
            // The shipped rules and Alertmanager configuration as they are; only ports, paths and
            // intervals are this test's.
            Files.copy(DIR.resolve("edgeplane-rules.yml"), dir.resolve("edgeplane-rules.yml"));
            Files.writeString(dir.resolve("prometheus.yml"), String.join("\n",
                    "global: {scrape_interval: 1s, evaluation_interval: 1s}",
                    "rule_files: [edgeplane-rules.yml]",
                    "alerting: {alertmanagers: [{static_configs: [{targets: ['127.0.0.1:" + amPort + "']}]}]}",
                    "scrape_configs:",
                    "  - job_name: edgeplane-control-plane",
                    "    static_configs: [{targets: ['127.0.0.1:" + cluster.apiPort + "']}]", ""));
            tool("promtool", "check", "config", dir.resolve("prometheus.yml").toString());
            try (ManagedProcess alertmanager = ManagedProcess.start("alertmanager", List.of("prometheus-alertmanager",
                         "--config.file=" + DIR.resolve("alertmanager.yml"), "--storage.path=" + dir.resolve("am-data"),
                         "--web.listen-address=127.0.0.1:" + amPort, "--cluster.listen-address="), Map.of(), dir.resolve("alertmanager.log"));
                 ManagedProcess prometheus = ManagedProcess.start("prometheus", List.of("prometheus",
                         "--config.file=" + dir.resolve("prometheus.yml"), "--storage.tsdb.path=" + dir.resolve("prom-data"),
                         "--web.listen-address=127.0.0.1:" + promPort), Map.of(), dir.resolve("prometheus.log"))) {
                String prom = "http://127.0.0.1:" + promPort;
                String am = "http://127.0.0.1:" + amPort;
                Await.until("Prometheus scraping the control plane", UP, prometheus::logTail, () ->
                        query(prom, "up{job=\"edgeplane-control-plane\"}").path("data").path("result").path(0).path("value").path(1)
                                .asText().equals("1"));
                Await.until("Alertmanager ready", UP, alertmanager::logTail, () -> status(am + "/-/ready") == 200);
                Await.until("the node's own series scraped", UP, prometheus::logTail, () ->
                        query(prom, "edgeplane_fleet_nodes{phase=\"READY\"}").path("data").path("result").path(0).path("value").path(1)
                                .asText().equals("1"));
                assertEquals(0, alerts(am, NODE).size(), "nothing fires while the node is up");

                long stopped = System.nanoTime();
                cluster.host.stopAgent();
                // unreachable-after 6 s, the gauge refreshed every second, the rule's `for: 30s`.
                Await.until("NodeUnreachable for " + NODE + " in Alertmanager", Duration.ofSeconds(120),
                        () -> prometheus.logTail() + alertmanager.logTail(), () -> !alerts(am, NODE).isEmpty());
                System.out.printf("FIGURE alerting agent stopped to NodeUnreachable in Alertmanager: %.1f s%n",
                        (System.nanoTime() - stopped) / 1e9);
                JsonNode alert = alerts(am, NODE).get(0);
                assertEquals("warning", alert.path("labels").path("severity").asText());
                assertEquals("edgeplane-control-plane", alert.path("labels").path("job").asText());
                assertEquals("active", alert.path("status").path("state").asText());
                assertTrue(alert.path("annotations").path("summary").asText().contains(NODE), alert.toString());
                assertTrue(alert.path("receivers").toString().contains("fleet-team"), "routed by the shipped route: " + alert);

                // Every query of the shipped Grafana dashboard is valid PromQL to this Prometheus.
                List<JsonNode> exprs = JSON.readTree(DIR.resolveSibling("grafana").resolve("edgeplane.json").toFile()).findValues("expr");
                assertTrue(exprs.size() > 15, "the dashboard's queries");
                for (JsonNode expr : exprs) {
                    String q = expr.asText().replace("$job", ".*").replace("$__rate_interval", "1m");
                    JsonNode answer = query(prom, q);
                    assertEquals("success", answer.path("status").asText(), q + " -> " + answer);
                }
            }
        }
    }

    private JsonNode query(String prometheus, String expr) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(prometheus + "/api/v1/query?query="
                    + java.net.URLEncoder.encode(expr, java.nio.charset.StandardCharsets.UTF_8))).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.ofString());
            return JSON.readTree(r.body());
        } catch (java.io.IOException e) {
            return JSON.createObjectNode(); // not up yet
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private int status(String url) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (java.io.IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Alertmanager's active NodeUnreachable alerts for the node (API v2). */
    private List<JsonNode> alerts(String alertmanager, String node) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(alertmanager
                    + "/api/v2/alerts?filter=" + java.net.URLEncoder.encode("alertname=\"NodeUnreachable\"", java.nio.charset.StandardCharsets.UTF_8)))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            List<JsonNode> found = new java.util.ArrayList<>();
            JSON.readTree(r.body()).forEach(a -> {
                if (node.equals(a.path("labels").path("node").asText())) {
                    found.add(a);
                }
            });
            return found;
        } catch (java.io.IOException e) {
            return List.of();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
