package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.Heartbeat;
import dev.edgeplane.api.v1.HeartbeatAck;
import dev.edgeplane.api.v1.Hello;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.SyncRequest;
import dev.edgeplane.api.v1.SyncResponse;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.time.Duration;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Heartbeats are never queued behind bulk data: a Snapshot of a thousand assignments of twenty Apps
 * (their twenty templates, about 2.6 MB, well over the HTTP/2 flow-control window) is in flight on the node's Sync stream, held there by HTTP/2 flow control because the agent reads
 * slowly (here: not at all until told), and Heartbeats on the same connection are answered meanwhile.
 * The proof is ordering, not time: the control plane answers a Heartbeat only once the Sync stream is
 * registered, which happens after the Snapshot was handed to the stream; each ack arrives while the
 * Snapshot has still not been delivered.
 */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class HeartbeatUnderBulkTest {
    private static final Duration WAIT = Duration.ofSeconds(120);
    private static final String NODE = "bulk-node";
    private static final int REPLICAS = 1000;
    /** Templates travel once per stream by hash: the bulk is distinct templates, each near the template size limit. */
    private static final int APPS = 20;

    @Test
    void heartbeatsAreAnsweredWhileALargeSnapshotIsStillInFlight() throws Exception {
        try (TestApi api = new TestApi(); TestAgent agent = new TestAgent(NODE)) {
            JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder().setToken(JoinToken.newBuilder()
                    .setSpec(JoinTokenSpec.newBuilder().putNodeLabels("pool", NODE))).build());
            agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
            ManagedChannel channel = agent.syncChannel(TestApi.agentPort());

            // A READY node gets its thousand assignments: 20 Apps, each template with 8 arguments of 16,000 bytes.
            try (TestAgent.Stream first = new TestAgent.Stream(channel)) {
                first.send(SyncRequest.newBuilder().setHello(Hello.newBuilder().setLastAppliedRevision(0)).build());
                assertTrue(first.next(Duration.ofSeconds(20)).hasSnapshot());
                TestApi.await(NODE + " READY", WAIT, () -> api.nodes().getNode(GetNodeRequest.newBuilder().setName(NODE).build())
                        .getStatus().getPhase() == NodeStatus.Phase.READY);
                for (int i = 0; i < APPS; i++) {
                    Container.Builder main = Container.newBuilder().setName("main").setImage("example/bulk:" + i);
                    for (int arg = 0; arg < 8; arg++) {
                        main.addCommand(Character.toString('a' + arg).repeat(16_000));
                    }
                    api.apps().createApp(CreateAppRequest.newBuilder().setApp(App.newBuilder()
                            .setMetadata(ObjectMeta.newBuilder().setName("bulk-" + i))
                            .setSpec(AppSpec.newBuilder().setReplicas(REPLICAS / APPS).putNodeSelector("pool", NODE)
                                    .setTemplate(PodTemplate.newBuilder().addContainers(main))))
                            .build());
                }
                TestApi.await(REPLICAS + " assignments written", WAIT,
                        () -> api.etcdCount("/edgeplane/assignments/" + NODE + "/") == REPLICAS);
            }

            // A new stream whose agent does not read: the Snapshot stays in flight.
            LinkedBlockingQueue<SyncResponse> received = new LinkedBlockingQueue<>();
            AtomicReference<ClientCallStreamObserver<SyncRequest>> call = new AtomicReference<>();
            io.grpc.Context.CancellableContext context = io.grpc.Context.current().withCancellation();
            try {
                context.run(() -> AgentServiceGrpc.newStub(channel).sync(new ClientResponseObserver<SyncRequest, SyncResponse>() {
                    @Override
                    public void beforeStart(ClientCallStreamObserver<SyncRequest> requests) {
                        requests.disableAutoRequestWithInitial(0);
                        call.set(requests);
                    }

                    @Override
                    public void onNext(SyncResponse value) {
                        received.add(value);
                    }

                    @Override
                    public void onError(Throwable t) {}

                    @Override
                    public void onCompleted() {}
                }));
                call.get().onNext(SyncRequest.newBuilder().setHello(Hello.newBuilder().setLastAppliedRevision(0)).build());

                var heartbeats = AgentServiceGrpc.newBlockingStub(channel);
                int acked = 0;
                long deadline = System.nanoTime() + WAIT.toNanos();
                while (acked < 5) {
                    assertTrue(System.nanoTime() < deadline, "heartbeats were not answered while the Snapshot was in flight");
                    try {
                        HeartbeatAck ack = heartbeats.withDeadlineAfter(10, TimeUnit.SECONDS)
                                .heartbeat(Heartbeat.newBuilder().setRunningReplicas(acked).build());
                        assertTrue(ack.hasTime());
                        acked++;
                    } catch (StatusRuntimeException e) {
                        // Until the control plane has processed the Hello (and so handed over the Snapshot).
                        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e.toString());
                        Thread.sleep(20);
                    }
                    assertTrue(received.isEmpty(), "the Snapshot cannot have been delivered yet");
                }

                // Now the agent reads: the whole Snapshot arrives, after the heartbeats.
                call.get().request(1);
                SyncResponse snapshot = received.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
                assertTrue(snapshot != null && snapshot.hasSnapshot(), "the Snapshot arrives once read: " + snapshot);
                assertEquals(REPLICAS, snapshot.getSnapshot().getAssignmentsCount());
                assertEquals(APPS, snapshot.getSnapshot().getTemplatesCount(), "each template once");
                assertTrue(snapshot.getSerializedSize() > 2_000_000, "bulk indeed: " + snapshot.getSerializedSize() + " bytes");
            } finally {
                context.cancel(null);
                for (int i = 0; i < APPS; i++) {
                    api.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace("default").setName("bulk-" + i).build());
                }
            }
        }
    }
}
