package dev.edgeplane.controlplane.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
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
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The per-object gauges the alerting rules read: a row only for what is worth an alert (an
 * unreachable node, a condition, a waiting replica), each App's desired and available counts, and
 * the caps counted as omitted.
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
            }

            // The stream is gone: after unreachable-after the node has a row, its seconds away.
            TestApi.await("UNREACHABLE", WAIT, () -> phase(api) == NodeStatus.Phase.UNREACHABLE);
            gauges.refresh();
            Double away = value(registry, "edgeplane.node.unreachable", "node", "gauged-1");
            assertTrue(away != null && away >= 0 && away < 60, "seconds since last heard from: " + away);

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
