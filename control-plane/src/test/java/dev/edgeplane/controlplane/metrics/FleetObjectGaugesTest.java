package dev.edgeplane.controlplane.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppStatus;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.MetricKind;
import dev.edgeplane.api.v1.MetricsBatch;
import dev.edgeplane.api.v1.SampleFrame;
import dev.edgeplane.api.v1.SeriesDefinition;
import dev.edgeplane.api.v1.UpdateAppRequest;
import java.util.List;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.Heartbeat;
import dev.edgeplane.api.v1.Hello;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.NodeCondition;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.api.v1.SyncRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.api.AppStatusComposer;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.sync.TestAgent;
import dev.edgeplane.controlplane.sync.UnreachableNodeTest;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.microprofile.config.ConfigProvider;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The per-object gauges the alerting rules read: a row only for what is worth an alert (an
 * unreachable node, a condition, a waiting replica), each App's desired and available counts, and
 * the caps counted as omitted; and every series the shipped Grafana dashboard (deploy/grafana)
 * queries is served on /metrics once the fleet is in the states it shows.
 */
@QuarkusTest
@TestProfile(UnreachableNodeTest.ShortUnreachable.class) // unreachable-after 2s; shares its Quarkus start
@QuarkusTestResource(EtcdTestResource.class)
class FleetObjectGaugesTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    @Inject
    StateCaches caches;
    @Inject
    AppStatusComposer composer;

    private static final Path DASHBOARD = Path.of("..", "deploy", "grafana", "edgeplane.json");
    /** A query in the dashboard's JSON (the series names need no unescaping). */
    private static final Pattern EXPR = Pattern.compile("\"expr\":\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");
    /** Series names in a PromQL expression: ours, and the JVM's and process's that Micrometer serves. */
    private static final Pattern SERIES = Pattern.compile("\\b((?:edgeplane|jvm|process|system)_[a-z0-9_]+)\\b");

    /** The series names the dashboard's queries use. */
    static Set<String> dashboardSeries() throws Exception {
        Set<String> names = new TreeSet<>();
        Matcher expr = EXPR.matcher(java.nio.file.Files.readString(DASHBOARD));
        while (expr.find()) {
            Matcher m = SERIES.matcher(expr.group(1));
            while (m.find()) {
                names.add(m.group(1));
            }
        }
        return names;
    }

    /** HTTP/1.1: no h2c upgrade on the port that also serves gRPC. */
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    /** The sample names /metrics serves now. */
    private static Set<String> served() throws Exception {
        int port = ConfigProvider.getConfig().getValue("quarkus.http.test-port", Integer.class);
        String text = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()).body();
        Set<String> names = new TreeSet<>();
        for (String line : text.split("\n")) {
            if (!line.startsWith("#") && !line.isBlank()) {
                names.add(line.split("[{ ]", 2)[0]);
            }
        }
        return names;
    }

    /** What of {@code wanted} /metrics does not serve, once it is {@code expected} or after WAIT. */
    private static Set<String> missing(Set<String> wanted, Set<String> expected) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            Set<String> missing = new TreeSet<>(wanted);
            missing.removeAll(served());
            if (missing.equals(expected) || System.nanoTime() > deadline) {
                return missing;
            }
            Thread.sleep(250);
        }
    }

    private static Double value(SimpleMeterRegistry registry, String name, String... tags) {
        Gauge gauge = registry.find(name).tags(tags).gauge();
        return gauge == null ? null : gauge.value();
    }

    @Test
    void rowsFollowWhatIsWorthAnAlert() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        FleetObjectGauges gauges = new FleetObjectGauges(registry, caches, composer, 50, 1, Clock.systemUTC());
        try (TestApi api = new TestApi(); TestAgent agent = new TestAgent("gauged-1")) {
            JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder().setToken(JoinToken.newBuilder()
                    .setSpec(JoinTokenSpec.newBuilder().putNodeLabels("pool", "gauged"))).build());
            agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
            App app = App.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("gauged").setNamespace("gauges"))
                    .setSpec(AppSpec.newBuilder().setReplicas(1).putNodeSelector("pool", "gauged")
                            .setTemplate(PodTemplate.newBuilder().addContainers(Container.newBuilder().setName("main").setImage("img:1"))))
                    .build();
            try (TestAgent.Stream stream = new TestAgent.Stream(agent.syncChannel(TestApi.agentPort()))) {
                stream.send(SyncRequest.newBuilder().setHello(Hello.newBuilder().setLastAppliedRevision(0)).build());
                assertTrue(stream.next(WAIT).hasSnapshot());
                TestApi.await("READY", WAIT, () -> phase(api) == NodeStatus.Phase.READY);

                gauges.refresh();
                assertNull(value(registry, "edgeplane.node.unreachable", "node", "gauged-1"), "a READY node has no row");
                assertNull(value(registry, "edgeplane.node.condition", "node", "gauged-1"));

                api.apps().createApp(CreateAppRequest.newBuilder().setApp(app).build());
                TestApi.await("placed", WAIT, () -> api.etcdGet("/edgeplane/assignments/gauged-1/gauges/gauged-0") != null);
                stream.send(SyncRequest.newBuilder().setHeartbeat(Heartbeat.newBuilder().addConditions(
                        NodeCondition.newBuilder().setType("DiskPressure").setMessage("free space below 5%"))).build());
                stream.send(SyncRequest.newBuilder().setStatus(StatusReport.newBuilder().setFull(true).addReplicas(ReplicaStatus.newBuilder()
                        .setName("gauged-0").setNamespace("gauges").setApp("gauged").setPhase(ReplicaStatus.Phase.PENDING)
                        .setReason("CrashLoopBackOff").setRestartCount(4).setGeneration(1))).build());
                TestApi.await("the condition and the waiting reason stored", WAIT, () -> {
                    gauges.refresh();
                    return value(registry, "edgeplane.node.condition", "node", "gauged-1", "condition", "DiskPressure") != null
                            && value(registry, "edgeplane.replica.waiting.reason", "replica", "gauged-0", "reason", "CrashLoopBackOff") != null;
                });
                assertEquals(1.0, value(registry, "edgeplane.app.replicas.desired", "namespace", "gauges", "app", "gauged"));
                assertEquals(0.0, value(registry, "edgeplane.app.replicas.available", "namespace", "gauges", "app", "gauged"));
                assertEquals(1.0, value(registry, "edgeplane.replica.waiting.reason", "namespace", "gauges", "app", "gauged",
                        "replica", "gauged-0", "node", "gauged-1", "reason", "CrashLoopBackOff"));

                // The dashboard's series: all served while the node is up, but the unreachable one, once
                // the node has reported CPU and memory and a rollout is under way.
                try (MetricsReporter reporter = new MetricsReporter(agent.syncChannel(TestApi.agentPort()))) {
                    reporter.sendAndAwaitAck(MetricsBatch.newBuilder().setSequence(1)
                            .addNewSeries(SeriesDefinition.newBuilder().setId(1).setName("node_cpu_usage_cores").setKind(MetricKind.GAUGE))
                            .addNewSeries(SeriesDefinition.newBuilder().setId(2).setName("node_memory_used_bytes").setKind(MetricKind.GAUGE))
                            .addFrames(SampleFrame.newBuilder().setTimeUnixMs(System.currentTimeMillis())
                                    .addAllSeriesIds(List.of(1, 2)).addAllValues(List.of(0.5, 1e9)))
                            .build(), WAIT);
                }
                App current = api.apps().getApp(GetAppRequest.newBuilder().setNamespace("gauges").setName("gauged").build());
                api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(current.toBuilder().setStatus(AppStatus.getDefaultInstance())
                        .setSpec(current.getSpec().toBuilder().setTemplate(current.getSpec().getTemplate().toBuilder()
                                .setContainers(0, current.getSpec().getTemplate().getContainers(0).toBuilder().setImage("img:2"))))).build());
                Set<String> wanted = dashboardSeries();
                assertTrue(wanted.size() > 15, "the dashboard's queries: " + wanted);
                Set<String> missing = missing(wanted, Set.of("edgeplane_node_unreachable_seconds"));
                assertEquals(Set.of("edgeplane_node_unreachable_seconds"), missing, "the dashboard's series not on /metrics");
            }

            // The stream is gone: after unreachable-after the node has a row, its seconds away.
            TestApi.await("UNREACHABLE", WAIT, () -> phase(api) == NodeStatus.Phase.UNREACHABLE);
            gauges.refresh();
            Double away = value(registry, "edgeplane.node.unreachable", "node", "gauged-1");
            assertTrue(away != null && away >= 0 && away < 60, "seconds since last heard from: " + away);
            TestApi.await("the unreachable node's series on /metrics", WAIT, () -> {
                try {
                    return served().contains("edgeplane_node_unreachable_seconds");
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });

            // Apps are capped (1 here): a second App is left out and counted.
            api.apps().createApp(CreateAppRequest.newBuilder().setApp(app.toBuilder().setMetadata(
                    app.getMetadata().toBuilder().setName("gauged-too"))).build());
            TestApi.await("the second App cached", WAIT, () -> caches.apps().all().stream()
                    .anyMatch(e -> e.value().getMetadata().getName().equals("gauged-too")));
            gauges.refresh();
            assertTrue(value(registry, "edgeplane.fleet.object.gauges.omitted", "kind", "app") >= 1.0);
            api.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace("gauges").setName("gauged").build());
            api.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace("gauges").setName("gauged-too").build());
        }
    }

    private static NodeStatus.Phase phase(TestApi api) {
        return api.nodes().getNode(GetNodeRequest.newBuilder().setName("gauged-1").build()).getStatus().getPhase();
    }
}
