package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.Hello;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.api.v1.SyncRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A node whose stream is gone becomes UNREACHABLE, keeps its replicas (autonomy), and is READY again on reconnect. */
@QuarkusTest
@TestProfile(UnreachableNodeTest.ShortUnreachable.class)
@QuarkusTestResource(EtcdTestResource.class)
public class UnreachableNodeTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    public static class ShortUnreachable implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("edgeplane.node.unreachable-after", "2s", "edgeplane.fanout.hello-timeout", "3s");
        }
    }

    private NodeStatus.Phase phase(TestApi api, String node) {
        return api.nodes().getNode(GetNodeRequest.newBuilder().setName(node).build()).getStatus().getPhase();
    }

    @Test
    void lostStreamMakesTheNodeUnreachableButKeepsItsReplicas() throws Exception {
        try (TestApi api = new TestApi(); TestAgent agent = new TestAgent("edge-away")) {
            JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder().setToken(JoinToken.newBuilder()
                    .setSpec(JoinTokenSpec.newBuilder().putNodeLabels("pool", "away"))).build());
            agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
            assertEquals(NodeStatus.Phase.NOT_READY, phase(api, "edge-away"), "joined, not yet connected");

            try (TestAgent.Stream stale = new TestAgent.Stream(agent.syncChannel(TestApi.agentPort()));
                 TestAgent.Stream stream = new TestAgent.Stream(agent.syncChannel(TestApi.agentPort()))) {
                stale.send(SyncRequest.newBuilder().setHello(Hello.newBuilder()).build());
                assertTrue(stale.next(WAIT).hasSnapshot());
                // A newer stream of the same node replaces the older one.
                stream.send(SyncRequest.newBuilder().setHello(Hello.newBuilder()).build());
                assertTrue(stream.next(WAIT).hasSnapshot());
                assertEquals(io.grpc.Status.Code.ABORTED, io.grpc.Status.fromThrowable(stale.awaitError(WAIT)).getCode());
                TestApi.await("READY", WAIT, () -> phase(api, "edge-away") == NodeStatus.Phase.READY);

                api.apps().createApp(CreateAppRequest.newBuilder().setApp(App.newBuilder()
                        .setMetadata(ObjectMeta.newBuilder().setName("kept"))
                        .setSpec(AppSpec.newBuilder().setReplicas(1).putNodeSelector("pool", "away")
                                .setTemplate(PodTemplate.newBuilder().addContainers(Container.newBuilder().setName("c").setImage("img")))))
                        .build());
                assertTrue(stream.next(WAIT).hasChanges());
                stream.send(SyncRequest.newBuilder().setStatus(StatusReport.newBuilder().addReplicas(ReplicaStatus.newBuilder()
                        .setNamespace("default").setName("kept-0").setApp("kept").setPhase(ReplicaStatus.Phase.RUNNING).setReady(true))).build());
                TestApi.await("available", WAIT, () -> api.apps().getApp(GetAppRequest.newBuilder().setName("kept").build())
                        .getStatus().getAvailableReplicas() == 1);
                // Connected and silent (no heartbeats) is still reachable: the stream is what counts.
            }

            TestApi.await("UNREACHABLE", WAIT, () -> phase(api, "edge-away") == NodeStatus.Phase.UNREACHABLE);
            assertNotNull(api.etcdGet("/edgeplane/assignments/edge-away/default/kept-0"), "an unreachable node keeps its replicas");
            App app = api.apps().getApp(GetAppRequest.newBuilder().setName("kept").build());
            assertEquals(0, app.getStatus().getAvailableReplicas());
            assertEquals(ReplicaStatus.Phase.UNKNOWN, app.getStatus().getReplicas(0).getPhase());

            try (TestAgent.Stream back = new TestAgent.Stream(agent.syncChannel(TestApi.agentPort()))) {
                back.send(SyncRequest.newBuilder().setHello(Hello.newBuilder()).build());
                assertTrue(back.next(WAIT).getSnapshot().getAssignmentsCount() == 1);
                TestApi.await("READY again", WAIT, () -> phase(api, "edge-away") == NodeStatus.Phase.READY);
            }
        }
    }
}
