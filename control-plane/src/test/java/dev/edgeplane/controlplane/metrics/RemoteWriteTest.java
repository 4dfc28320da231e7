package dev.edgeplane.controlplane.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.MetricKind;
import dev.edgeplane.api.v1.MetricsBatch;
import dev.edgeplane.api.v1.SampleFrame;
import dev.edgeplane.api.v1.SeriesDefinition;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.sync.TestAgent;
import dev.edgeplane.testkit.FreePorts;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Remote-write to Debian's real Prometheus (remote-write receiver on): samples reported while it is
 * down wait in the queue and all arrive once it is up; past the queue's bound the oldest are dropped
 * and counted, and everything within the bound arrives.
 */
@QuarkusTest
@TestProfile(RemoteWriteTest.ToPrometheus.class)
@QuarkusTestResource(EtcdTestResource.class)
class RemoteWriteTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    /** Chosen where the profile is made (another class loader than the test's: read it back from the config). */
    static final int PROFILE_PORT = FreePorts.belowEphemeralRange();
    static final int QUEUE = 300;
    private static final Pattern VALUE = Pattern.compile("\"value\":\\[[0-9.]+,\"([0-9.]+)\"\\]");
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    public static class ToPrometheus implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("edgeplane.remote-write.url", "http://127.0.0.1:" + PROFILE_PORT + "/api/v1/write",
                    "edgeplane.remote-write.queue-capacity", String.valueOf(QUEUE),
                    "edgeplane.remote-write.max-samples-per-send", "50",
                    "edgeplane.remote-write.batch-send-deadline", "200ms",
                    "edgeplane.remote-write.max-backoff", "500ms",
                    "quarkus.log.category.\"dev.edgeplane.controlplane.metrics.RemoteWriter\".level", "DEBUG");
        }
    }

    @Inject
    MeterRegistry registry;

    private static int prometheusPort() {
        return URI.create(ConfigProvider.getConfig().getValue("edgeplane.remote-write.url", String.class)).getPort();
    }

    @TempDir
    Path dir;

    /** A Prometheus receiving remote-write, its data in {@code data} (kept across a restart). */
    private Process prometheus(Path data) throws Exception {
        java.nio.file.Files.writeString(dir.resolve("prometheus.yml"), "global: {scrape_interval: 1m}\n");
        return new ProcessBuilder("prometheus", "--config.file=" + dir.resolve("prometheus.yml"), "--storage.tsdb.path=" + data,
                "--web.listen-address=127.0.0.1:" + prometheusPort(), "--web.enable-remote-write-receiver")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(Path.of("target", "remote-write-prometheus.log").toFile())).start();
    }

    private static void stop(Process p) throws InterruptedException {
        p.destroy();
        if (!p.waitFor(20, java.util.concurrent.TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
        }
    }

    /** Samples of the series Prometheus holds, or -1 while it does not answer. */
    private static long stored(String series) {
        try {
            String query = "count_over_time(" + series + "[1d])";
            String body = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + prometheusPort() + "/api/v1/query?query="
                    + URLEncoder.encode(query, StandardCharsets.UTF_8))).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            Matcher m = VALUE.matcher(body);
            return m.find() ? (long) Double.parseDouble(m.group(1)) : 0;
        } catch (Exception e) {
            return -1;
        }
    }

    private double counter(String name, String... tags) {
        var c = registry.find(name).tags(tags).counter();
        if (c != null) {
            return c.count();
        }
        var f = registry.find(name).tags(tags).functionCounter();
        return f == null ? 0 : f.count();
    }

    private static MetricsBatch batch(long sequence, long startMs, int samples) {
        MetricsBatch.Builder b = MetricsBatch.newBuilder().setSequence(sequence);
        if (sequence == 1) {
            b.addNewSeries(SeriesDefinition.newBuilder().setId(1).setName("remote_written").setKind(MetricKind.GAUGE)
                    .putLabels("site", "shop-1"));
        }
        for (int i = 0; i < samples; i++) {
            SampleFrame.Builder f = SampleFrame.newBuilder().setTimeUnixMs(startMs + i * 1000L).addValues(i);
            if (i == 0) {
                f.addSeriesIds(1);
            }
            b.addFrames(f);
        }
        return b.build();
    }

    @Test
    void samplesWaitOutAnOutageWithinTheBoundAndTheRestAreCounted() throws Exception {
        long start = System.currentTimeMillis() - 3_600_000; // an hour back: room for 600 one-second samples
        String series = "remote_written{node=\"rw-node\",site=\"shop-1\"}";
        List<Process> started = new ArrayList<>();
        try (TestApi api = new TestApi(); TestAgent agent = new TestAgent("rw-node")) {
            JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder()
                    .setToken(JoinToken.newBuilder().setSpec(JoinTokenSpec.newBuilder())).build());
            agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
            try (MetricsReporter reporter = new MetricsReporter(agent.syncChannel(TestApi.agentPort()))) {
                // Prometheus is not there yet: 100 samples wait.
                reporter.sendAndAwaitAck(batch(1, start, 100), WAIT);
                TestApi.await("retried while the receiver is down", WAIT, () -> counter("edgeplane.remote.write.failures") > 0);
                Process first = prometheus(dir.resolve("data"));
                started.add(first);
                TestApi.await("all 100 in Prometheus", WAIT, () -> stored(series) == 100);
                assertEquals(100.0, counter("edgeplane.remote.write.samples.sent"));

                // Down again: 500 more, over the queue's 300; the oldest 200 of them are dropped and counted.
                stop(first);
                reporter.sendAndAwaitAck(batch(2, start + 100_000, 500), WAIT);
                TestApi.await("the queue full", WAIT, () -> counter("edgeplane.remote.write.samples.dropped", "reason", "queue_full") >= 200);
                Process second = prometheus(dir.resolve("data"));
                started.add(second);
                TestApi.await("the 300 the queue held in Prometheus too", WAIT, () -> stored(series) == 400);
                assertEquals(200.0, counter("edgeplane.remote.write.samples.dropped", "reason", "queue_full"));
                assertEquals(400.0, counter("edgeplane.remote.write.samples.sent"));
                assertEquals(0.0, counter("edgeplane.remote.write.samples.dropped", "reason", "rejected"));
                assertTrue(registry.find("edgeplane.remote.write.samples.pending").gauge().value() == 0);
            }
        } finally {
            for (Process p : started) {
                stop(p);
            }
        }
    }
}
