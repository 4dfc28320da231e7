package dev.edgeplane.controlplane.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.MetricKind;
import dev.edgeplane.api.v1.MetricsBatch;
import dev.edgeplane.api.v1.NodeServiceGrpc;
import dev.edgeplane.api.v1.SampleFrame;
import dev.edgeplane.api.v1.SeriesDefinition;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.sync.TestAgent;
import dev.edgeplane.testkit.Commands;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GET /metrics is open, and what it serves parses with the Prometheus project's own Python parser. */
@QuarkusTest
@TestProfile(MetricsTestProfile.class)
@QuarkusTestResource(EtcdTestResource.class)
class PrometheusEndpointTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    /** Debian's interpreter, where python3-prometheus-client installs (another python3 may come first on PATH). */
    private static final String PYTHON = "/usr/bin/python3";

    /** Prints "family<TAB>type" and "sample<TAB>name<TAB>labels as k=v,..." lines; fails on any parse error. */
    private static final String PARSE = String.join("\n",
            "import sys",
            "from prometheus_client.parser import text_string_to_metric_families",
            "for f in text_string_to_metric_families(open(sys.argv[1]).read()):",
            "    print('family\\t' + f.name + '\\t' + f.type)",
            "    for s in f.samples:",
            "        print('sample\\t' + s.name + '\\t' + ','.join(k + '=' + v for k, v in sorted(s.labels.items())))");

    private static String get(String path) throws Exception {
        int port = ConfigProvider.getConfig().getValue("quarkus.http.test-port", Integer.class);
        HttpResponse<String> response = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(WAIT).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), path + " answers without a token: " + response.body());
        return response.body();
    }

    @Test
    void metricsEndpointParsesAndHasTheFamilies(@TempDir Path dir) throws Exception {
        assertTrue(get("/q/health").contains("UP"));
        try (TestApi api = new TestApi()) {
            // Traffic for the API and etcd meters: one good call and one refused for want of a token.
            api.nodes().listNodes(ListNodesRequest.newBuilder().build());
            assertThrows(StatusRuntimeException.class,
                    () -> NodeServiceGrpc.newBlockingStub(api.channel).listNodes(ListNodesRequest.newBuilder().build()));
            // A node reporting CPU and memory, for the per-node gauges.
            JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder()
                    .setToken(JoinToken.newBuilder().setSpec(JoinTokenSpec.newBuilder())).build());
            try (TestAgent agent = new TestAgent("prom-node")) {
                agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
                try (MetricsReporter reporter = new MetricsReporter(agent.syncChannel(TestApi.agentPort()))) {
                    reporter.sendAndAwaitAck(MetricsBatch.newBuilder().setSequence(1)
                            .addNewSeries(SeriesDefinition.newBuilder().setId(1).setName("node_cpu_usage_cores").setKind(MetricKind.GAUGE))
                            .addNewSeries(SeriesDefinition.newBuilder().setId(2).setName("node_memory_used_bytes").setKind(MetricKind.GAUGE))
                            .addFrames(SampleFrame.newBuilder().setTimeUnixMs(System.currentTimeMillis())
                                    .addAllSeriesIds(List.of(1, 2)).addAllValues(List.of(1.5, 123456789.0)))
                            .build(), WAIT);
                }
            }
            TestApi.await("the per-node gauge on /metrics", WAIT, () -> {
                try {
                    return get("/metrics").contains("edgeplane_fleet_node_cpu_usage_cores{node=\"prom-node\"");
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
        }

        Path text = dir.resolve("metrics.txt");
        Files.writeString(text, get("/metrics"));
        Commands.Result parsed = Commands.exec(List.of(PYTHON, "-c", PARSE, text.toString()), Map.of(), WAIT);
        assertEquals(0, parsed.exitCode(), "the Prometheus parser refused the text:\n" + parsed.output());
        Set<String> families = new HashSet<>();
        Set<String> samples = new HashSet<>();
        for (String line : parsed.output().split("\n")) {
            String[] parts = line.split("\t", -1);
            if (parts[0].equals("family")) {
                families.add(parts[1] + " " + parts[2]);
            } else if (parts[0].equals("sample")) {
                samples.add(parts[1] + "{" + parts[2] + "}");
            }
        }
        for (String family : List.of("edgeplane_agents_connected gauge", "edgeplane_fleet_nodes gauge", "edgeplane_fleet_replicas gauge",
                "edgeplane_fleet_node_cpu_usage_cores gauge", "edgeplane_fleet_node_memory_used_bytes gauge",
                "edgeplane_fleet_node_gauges_omitted gauge", "edgeplane_api_calls_seconds summary", "edgeplane_etcd_requests_seconds summary",
                "edgeplane_sync_fanout_seconds summary", "edgeplane_metrics_points_ingested counter", "edgeplane_metrics_points_refused counter",
                "edgeplane_metrics_series_refused counter", "edgeplane_metrics_series gauge", "edgeplane_secrets_sealed gauge",
                "edgeplane_fleet_object_gauges_omitted gauge", "edgeplane_agent_handshakes counter",
                "edgeplane_agent_handshakes_expired counter", "edgeplane_agent_handshakes_stalled counter", "edgeplane_agent_accept_pauses counter", "edgeplane_agent_handshakes_waiting gauge")) {
            assertTrue(families.contains(family), "family " + family + " expected in " + families);
        }
        assertTrue(samples.contains("edgeplane_fleet_node_cpu_usage_cores{node=prom-node}"), samples.toString());
        // The node's join and its Sync channel each passed the handshake gate.
        Matcher handshakes = Pattern.compile("(?m)^edgeplane_agent_handshakes_total ([0-9.eE+]+)$")
                .matcher(Files.readString(text));
        assertTrue(handshakes.find() && Double.parseDouble(handshakes.group(1)) >= 2, "handshakes counted by the gate");
        assertTrue(samples.contains("edgeplane_secrets_sealed{key_id=" + dev.edgeplane.controlplane.EtcdTestResource.TEST_KEY_ID + "}"),
                "secrets by key-encryption key: " + samples);
        assertTrue(samples.stream().anyMatch(s -> s.startsWith("edgeplane_api_calls_seconds_count{code=OK,method=edgeplane.v1.NodeService/ListNodes")), "API calls by method and code");
        assertTrue(samples.stream().anyMatch(s -> s.startsWith("edgeplane_api_calls_seconds_count{code=UNAUTHENTICATED,method=edgeplane.v1.NodeService/ListNodes")),
                "calls refused by the bearer check are counted");
        assertTrue(samples.contains("edgeplane_fleet_nodes{phase=READY}") || samples.contains("edgeplane_fleet_nodes{phase=PHASE_UNSPECIFIED}"), samples.toString());
    }
}
