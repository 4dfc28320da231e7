package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.edgeplane.testkit.FreePorts;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real agent's node and container series reach Debian's VictoriaMetrics through the control plane's
 * remote-write, with the node label the control plane sets and the container labels the agent sets.
 */
class RemoteWriteE2ETest {
    private static final String NODE = "edge-remote-write";
    private static final List<String> AGENT = List.of("--backoff-initial", "1s", "--backoff-max", "4s", "--heartbeat", "2s",
            "--metrics-interval", "1s", "--metrics-flush", "1s");
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    @Test
    void agentSeriesArriveInVictoriaMetrics() throws Exception {
        int vmPort = FreePorts.belowEphemeralRange();
        String vm = "http://127.0.0.1:" + vmPort;
        Map<String, String> env = new HashMap<>();
        env.put("EDGEPLANE_REMOTE_WRITE_URL", vm + "/api/v1/write");
        env.put("EDGEPLANE_REMOTE_WRITE_BATCH_SEND_DEADLINE", "1s");
        try (ManagedProcess victoria = ManagedProcess.start("victoria-metrics", List.of("victoria-metrics",
                     "-httpListenAddr=127.0.0.1:" + vmPort, "-storageDataPath=" + dir.resolve("vm-data"), "-retentionPeriod=1d",
                     "-search.latencyOffset=0s"), Map.of(), dir.resolve("victoria-metrics.log"));
             EdgeCluster cluster = EdgeCluster.start(dir.resolve("cluster"), env, AGENT, NODE)) {
            cluster.create(cluster.app("idle", 1, "sleep", "3600"));
            cluster.awaitRunning("idle", 1);
            Await.until("node and container series in VictoriaMetrics", EdgeCluster.CONVERGE,
                    () -> victoria.logTail() + cluster.diagnostics(),
                    () -> !series(vm, "node_cpu_usage_cores{node=\"" + NODE + "\"}").isEmpty()
                            && !series(vm, "container_memory_working_set_bytes{node=\"" + NODE + "\",app=\"idle\"}").isEmpty());
            JsonNode container = series(vm, "container_memory_working_set_bytes{node=\"" + NODE + "\",app=\"idle\"}").get(0);
            assertEquals("default", container.path("metric").path("namespace").asText(), container.toString());
            assertTrue(container.path("metric").path("replica").asText().startsWith("idle-"), container.toString());
            assertTrue(container.path("value").path(1).asDouble() > 0, "a working set: " + container);
        }
    }

    /** The series matching {@code selector} with a point in the last 5 minutes (Prometheus query API). */
    private List<JsonNode> series(String vm, String selector) {
        try {
            String body = http.send(HttpRequest.newBuilder(URI.create(vm + "/api/v1/query?query="
                    + URLEncoder.encode("last_over_time(" + selector + "[5m])", StandardCharsets.UTF_8)))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()).body();
            List<JsonNode> found = new java.util.ArrayList<>();
            JSON.readTree(body).path("data").path("result").forEach(found::add);
            return found;
        } catch (java.io.IOException e) {
            return List.of();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
