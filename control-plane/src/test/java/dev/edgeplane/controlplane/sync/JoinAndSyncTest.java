package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Duration;
import dev.edgeplane.api.v1.Ack;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.Changes;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.DeleteNodeRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.Heartbeat;
import dev.edgeplane.api.v1.Hello;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeCondition;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.api.v1.SyncRequest;
import dev.edgeplane.api.v1.SyncResponse;
import dev.edgeplane.api.v1.UpdateAppRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class JoinAndSyncTest {
    private static final java.time.Duration WAIT = java.time.Duration.ofSeconds(20);
    private TestApi api;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @BeforeEach
    void connect() {
        api = new TestApi();
    }

    @AfterEach
    void disconnect() throws Exception {
        for (AutoCloseable c : closeables) {
            c.close();
        }
        api.close();
    }

    private JoinToken token(JoinTokenSpec.Builder spec) {
        return api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder()
                .setToken(JoinToken.newBuilder().setSpec(spec)).build());
    }

    private TestAgent agent(String name) throws Exception {
        TestAgent agent = new TestAgent(name);
        closeables.add(agent);
        return agent;
    }

    private TestAgent.Stream stream(TestAgent agent) throws Exception {
        TestAgent.Stream stream = new TestAgent.Stream(agent.syncChannel(TestApi.agentPort()));
        closeables.add(0, stream);
        return stream;
    }

    @Test
    void joinWithAGoodTokenRecordsTheNodeAndSignsItsCertificate() throws Exception {
        JoinToken token = token(JoinTokenSpec.newBuilder().setMaxUses(2).putNodeLabels("site", "berlin"));
        TestAgent agent = agent("join-good");
        var response = agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
        assertEquals("join-good", response.getNodeName());
        assertEquals("127.0.0.1:" + TestApi.agentPort(), response.getSyncEndpoint());
        X509Certificate cert = TestAgent.parse(response.getCertificatePem());
        assertTrue(cert.getSubjectX500Principal().getName().contains("CN=join-good"), "CN is the node name, not what the CSR asked");
        assertEquals(agent.key.getPublic(), cert.getPublicKey());
        cert.verify(TestAgent.parse(response.getCaBundlePem()).getPublicKey());

        Node node = api.nodes().getNode(GetNodeRequest.newBuilder().setName("join-good").build());
        assertEquals("berlin", node.getMetadata().getLabelsOrThrow("site"));
        assertEquals("yes", node.getMetadata().getLabelsOrThrow("agent.edgeplane.dev/from-agent"));
        assertEquals("join-good.example", node.getStatus().getHostname());
        assertEquals("join-good", node.getMetadata().getLabelsOrThrow("edgeplane.dev/hostname"), "well-known labels from what the host reports");
        assertEquals(node.getStatus().getArch(), node.getMetadata().getLabelsOrThrow("edgeplane.dev/arch"));
        assertEquals(node.getStatus().getOs(), node.getMetadata().getLabelsOrThrow("edgeplane.dev/os"));
        assertEquals(1, api.tokens().getJoinToken(dev.edgeplane.api.v1.GetJoinTokenRequest.newBuilder()
                .setName(token.getMetadata().getName()).build()).getStatus().getUses());

        // Another host taking the same name is refused.
        TestAgent impostor = new TestAgent("join-good");
        closeables.add(impostor);
        StatusRuntimeException taken = assertThrows(StatusRuntimeException.class, () -> {
            var channel = io.grpc.netty.NettyChannelBuilder.forAddress("127.0.0.1", TestApi.agentPort())
                    .sslContext(io.grpc.netty.GrpcSslContexts.forClient().trustManager(TestAgent.parse(response.getCaBundlePem())).build()).build();
            try {
                dev.edgeplane.api.v1.AgentServiceGrpc.newBlockingStub(channel).join(dev.edgeplane.api.v1.JoinRequest.newBuilder()
                        .setToken(token.getStatus().getToken()).setCsrPem(impostor.csrPem()).setNodeName("join-good")
                        .setInfo(dev.edgeplane.api.v1.NodeInfo.newBuilder().setHostname("other-host")).build());
            } finally {
                channel.shutdownNow();
            }
        });
        assertEquals(Status.Code.ALREADY_EXISTS, taken.getStatus().getCode());
    }

    @Test
    void aTokenBoundToANodeAdmitsOnlyItAndAgentsSetOnlyTheirOwnLabels() throws Exception {
        int port = TestApi.agentPort();
        JoinToken bound = token(JoinTokenSpec.newBuilder().setMaxUses(3).setNodeName("bound-1"));
        StatusRuntimeException other = assertThrows(StatusRuntimeException.class,
                () -> agent("bound-2").join(port, bound.getStatus().getToken(), bound.getStatus().getCaHash()));
        assertEquals(Status.Code.PERMISSION_DENIED, other.getStatus().getCode());
        assertEquals(0, api.tokens().getJoinToken(dev.edgeplane.api.v1.GetJoinTokenRequest.newBuilder()
                .setName(bound.getMetadata().getName()).build()).getStatus().getUses(), "a refused join uses nothing");
        var joined = agent("bound-1").join(port, bound.getStatus().getToken(), bound.getStatus().getCaHash());

        JoinToken open = token(JoinTokenSpec.newBuilder());
        TestAgent steering = agent("steering");
        StatusRuntimeException labelled = assertThrows(StatusRuntimeException.class, () -> {
            var channel = io.grpc.netty.NettyChannelBuilder.forAddress("127.0.0.1", port)
                    .sslContext(io.grpc.netty.GrpcSslContexts.forClient().trustManager(TestAgent.parse(joined.getCaBundlePem())).build())
                    .build();
            try {
                dev.edgeplane.api.v1.AgentServiceGrpc.newBlockingStub(channel).join(dev.edgeplane.api.v1.JoinRequest.newBuilder()
                        .setToken(open.getStatus().getToken()).setCsrPem(steering.csrPem()).setNodeName("steering")
                        .putLabels("pool", "payments").build());
            } finally {
                channel.shutdownNow();
            }
        });
        assertEquals(Status.Code.INVALID_ARGUMENT, labelled.getStatus().getCode());
        assertTrue(labelled.getStatus().getDescription().contains("labels[pool]"), labelled.getStatus().getDescription());

        // A token bound to a pool puts its nodes there, whatever its other labels say; a contradiction is refused up front.
        JoinToken pooled = token(JoinTokenSpec.newBuilder().setPool("berlin-store-7").putNodeLabels("tier", "edge"));
        agent("pooled-1").join(port, pooled.getStatus().getToken(), pooled.getStatus().getCaHash());
        Map<String, String> labels = api.nodes().getNode(dev.edgeplane.api.v1.GetNodeRequest.newBuilder().setName("pooled-1").build())
                .getMetadata().getLabelsMap();
        assertEquals("berlin-store-7", labels.get("edgeplane.dev/pool"));
        assertEquals("edge", labels.get("tier"));
        StatusRuntimeException contradicted = assertThrows(StatusRuntimeException.class, () -> token(JoinTokenSpec.newBuilder()
                .setPool("berlin-store-7").putNodeLabels("edgeplane.dev/pool", "munich-store-1")));
        assertEquals(Status.Code.INVALID_ARGUMENT, contradicted.getStatus().getCode());
        assertTrue(contradicted.getStatus().getDescription().contains("token.spec.pool"), contradicted.getStatus().getDescription());

        StatusRuntimeException longLived = assertThrows(StatusRuntimeException.class, () -> token(JoinTokenSpec.newBuilder()
                .setTtl(com.google.protobuf.Duration.newBuilder().setSeconds(java.time.Duration.ofDays(365).toSeconds()))));
        assertEquals(Status.Code.INVALID_ARGUMENT, longLived.getStatus().getCode());
    }

    /**
     * A flood of refused joins from one address (a token guesser) is told to wait, naming the limit;
     * other addresses are not. From 127.0.0.2/3, so the other tests' joins from 127.0.0.1 are untouched.
     */
    @Test
    void refusedJoinsFromOneAddressAreThrottledWithoutTouchingOthers() throws Exception {
        StatusRuntimeException last = null;
        int refused = 0;
        for (int i = 0; i < 40 && (last == null || last.getStatus().getCode() != Status.Code.RESOURCE_EXHAUSTED); i++) {
            last = assertThrows(StatusRuntimeException.class, () -> joinFrom("127.0.0.2", "abcdef.0123456789abcdef"));
            if (last.getStatus().getCode() == Status.Code.UNAUTHENTICATED) {
                refused++;
            }
        }
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, last.getStatus().getCode(), "throttled after " + refused + " refusals");
        assertTrue(refused >= 20, "a burst of refusals is allowed first: " + refused);
        assertTrue(last.getStatus().getDescription().contains("edgeplane.agent.join-failures-per-address"), last.getStatus().getDescription());
        assertEquals(Status.Code.UNAUTHENTICATED, assertThrows(StatusRuntimeException.class,
                () -> joinFrom("127.0.0.3", "abcdef.0123456789abcdef")).getStatus().getCode(), "another address is not throttled");
    }

    private static void joinFrom(String localAddress, String token) throws Exception {
        // The CA pin is not the point here (JoinE2ETest checks it): any server certificate will do.
        io.grpc.ManagedChannel channel = io.grpc.netty.NettyChannelBuilder.forAddress("127.0.0.1", TestApi.agentPort())
                .localSocketPicker(new io.grpc.netty.NettyChannelBuilder.LocalSocketPicker() {
                    @Override
                    public java.net.SocketAddress createSocketAddress(java.net.SocketAddress remote, io.grpc.Attributes attrs) {
                        return new java.net.InetSocketAddress(localAddress, 0);
                    }
                })
                .sslContext(io.grpc.netty.GrpcSslContexts.forClient()
                        .trustManager(io.netty.handler.ssl.util.InsecureTrustManagerFactory.INSTANCE).build())
                .build();
        try {
            dev.edgeplane.api.v1.AgentServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, java.util.concurrent.TimeUnit.SECONDS)
                    .join(dev.edgeplane.api.v1.JoinRequest.newBuilder().setToken(token).setNodeName("guesser")
                            .setCsrPem("not a csr").build());
        } finally {
            channel.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    @Test
    void joinRefusesUnknownExpiredAndUsedUpTokens() throws Exception {
        JoinToken good = token(JoinTokenSpec.newBuilder());
        String caHash = good.getStatus().getCaHash();
        int port = TestApi.agentPort();

        StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class,
                () -> agent("join-unknown").join(port, "abcdef.0123456789abcdef", caHash));
        assertEquals(Status.Code.UNAUTHENTICATED, unknown.getStatus().getCode());
        assertTrue(unknown.getStatus().getDescription().contains("unknown token"), unknown.getStatus().getDescription());

        String wrongSecret = good.getMetadata().getName() + ".0000000000000000";
        StatusRuntimeException badSecret = assertThrows(StatusRuntimeException.class, () -> agent("join-badsecret").join(port, wrongSecret, caHash));
        assertTrue(badSecret.getStatus().getDescription().contains("unknown token"));

        JoinToken expired = token(JoinTokenSpec.newBuilder().setTtl(Duration.newBuilder().setNanos(1)));
        StatusRuntimeException exp = assertThrows(StatusRuntimeException.class,
                () -> agent("join-expired").join(port, expired.getStatus().getToken(), caHash));
        assertEquals(Status.Code.UNAUTHENTICATED, exp.getStatus().getCode());
        assertTrue(exp.getStatus().getDescription().contains("token expired"), exp.getStatus().getDescription());

        agent("join-first").join(port, good.getStatus().getToken(), caHash);
        StatusRuntimeException used = assertThrows(StatusRuntimeException.class,
                () -> agent("join-second").join(port, good.getStatus().getToken(), caHash));
        assertEquals(Status.Code.UNAUTHENTICATED, used.getStatus().getCode());
        assertTrue(used.getStatus().getDescription().contains("token used up"), used.getStatus().getDescription());
        assertEquals(Status.Code.NOT_FOUND, assertThrows(StatusRuntimeException.class,
                () -> api.nodes().getNode(GetNodeRequest.newBuilder().setName("join-second").build())).getStatus().getCode());

        // A token deleted right after it admitted a node admits no other: the join reads the token from
        // the informer, which may not show the delete yet, and the transaction's check on it refuses.
        JoinToken revoked = token(JoinTokenSpec.newBuilder().setMaxUses(2));
        agent("join-before-delete").join(port, revoked.getStatus().getToken(), caHash);
        api.tokens().deleteJoinToken(dev.edgeplane.api.v1.DeleteJoinTokenRequest.newBuilder().setName(revoked.getMetadata().getName()).build());
        StatusRuntimeException deleted = assertThrows(StatusRuntimeException.class,
                () -> agent("join-after-delete").join(port, revoked.getStatus().getToken(), caHash));
        assertEquals(Status.Code.UNAUTHENTICATED, deleted.getStatus().getCode());
        assertTrue(deleted.getStatus().getDescription().contains("unknown token"), deleted.getStatus().getDescription());
        assertEquals(Status.Code.NOT_FOUND, assertThrows(StatusRuntimeException.class,
                () -> api.nodes().getNode(GetNodeRequest.newBuilder().setName("join-after-delete").build())).getStatus().getCode());

        // An agent pinning another CA hash refuses the server.
        JoinToken other = token(JoinTokenSpec.newBuilder());
        assertThrows(StatusRuntimeException.class, () -> agent("join-wrongca").join(port, other.getStatus().getToken(), "sha256:" + "0".repeat(64)));
    }

    /** The image of an assignment's first container: inline, or from the template stored once by its hash. */
    private String imageOf(dev.edgeplane.api.v1.Assignment assignment) {
        if (assignment.hasTemplate()) {
            return assignment.getTemplate().getContainers(0).getImage();
        }
        byte[] stored = api.etcdGet(dev.edgeplane.controlplane.store.Keys.template(assignment.getNamespace(), assignment.getApp(),
                assignment.getTemplateHash()));
        if (stored == null) {
            return null; // not stored (or already collected): no image to compare
        }
        try {
            return PodTemplate.parseFrom(stored).getContainers(0).getImage();
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
    }

    private static dev.edgeplane.api.v1.Assignment assignment(byte[] bytes) {
        try {
            return dev.edgeplane.api.v1.Assignment.parseFrom(bytes);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
    }

    private static App app(String name, String selectorValue, String image) {
        return App.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name).setNamespace("sync"))
                .setSpec(AppSpec.newBuilder().setReplicas(1).putNodeSelector("pool", selectorValue)
                        .setTemplate(PodTemplate.newBuilder().addContainers(Container.newBuilder().setName("main").setImage(image))))
                .build();
    }

    private void awaitReady(String node) {
        TestApi.await(node + " READY", WAIT, () -> api.nodes().getNode(GetNodeRequest.newBuilder().setName(node).build())
                .getStatus().getPhase() == NodeStatus.Phase.READY);
    }

    /** Reads Changes until {@code key} appears; returns every change seen on the way, by key. */
    /** Reads Changes until every key has been seen: the scheduler places Apps in no promised order. */
    private static Map<String, Change> changesUntil(TestAgent.Stream stream, List<String> keys, List<Long> revisions) throws Exception {
        Map<String, Change> seen = new TreeMap<>();
        while (!seen.keySet().containsAll(keys)) {
            SyncResponse r = stream.next(WAIT);
            assertTrue(r.hasChanges(), "expected Changes, got " + r);
            for (Change c : r.getChanges().getChangesList()) {
                seen.put(c.getKey(), c);
            }
            revisions.add(r.getChanges().getRevision());
        }
        return seen;
    }

    @Test
    void aNodeUnderPressureTakesNoNewReplicaUntilItRecovers() throws Exception {
        int port = TestApi.agentPort();
        JoinToken t = token(JoinTokenSpec.newBuilder().putNodeLabels("pool", "pressed"));
        TestAgent a = agent("pressed-1");
        a.join(port, t.getStatus().getToken(), t.getStatus().getCaHash());
        TestAgent.Stream stream = stream(a);
        stream.send(SyncRequest.newBuilder().setHello(Hello.newBuilder().setLastAppliedRevision(0)).build());
        assertTrue(stream.next(WAIT).hasSnapshot());
        awaitReady("pressed-1");

        NodeCondition memory = NodeCondition.newBuilder().setType("MemoryPressure").setMessage("available memory below 100 MiB").build();
        stream.send(SyncRequest.newBuilder().setHeartbeat(Heartbeat.newBuilder().addConditions(memory)).build());
        TestApi.await("the condition on the Node", WAIT, () -> api.nodes().getNode(GetNodeRequest.newBuilder().setName("pressed-1").build())
                .getStatus().getConditionsCount() == 1);
        NodeCondition stored = api.nodes().getNode(GetNodeRequest.newBuilder().setName("pressed-1").build()).getStatus().getConditions(0);
        assertEquals("MemoryPressure", stored.getType());
        assertTrue(stored.hasLastTransitionTime());
        long revision = api.nodes().getNode(GetNodeRequest.newBuilder().setName("pressed-1").build()).getMetadata().getResourceVersion();
        stream.send(SyncRequest.newBuilder().setHeartbeat(Heartbeat.newBuilder().addConditions(memory)).build());

        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("squeezed", "pressed", "img:1")).build());
        TestApi.await("pending, saying why", WAIT, () -> api.apps().getApp(GetAppRequest.newBuilder().setNamespace("sync").setName("squeezed").build())
                .getStatus().getMessage().contains("1 under MemoryPressure"));
        assertEquals(null, api.etcdGet("/edgeplane/assignments/pressed-1/sync/squeezed-0"), "no replica on a node under pressure");
        assertEquals(revision, api.nodes().getNode(GetNodeRequest.newBuilder().setName("pressed-1").build()).getMetadata().getResourceVersion(),
                "the same condition again writes nothing");

        // Conditions are written on the Node: an unknown one is refused, naming it, and nothing is written.
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> dev.edgeplane.api.v1.AgentServiceGrpc.newBlockingStub(a.syncChannel(port, true))
                .heartbeat(Heartbeat.newBuilder().addConditions(memory).addConditions(NodeCondition.newBuilder().setType("Haunted")).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, refused.getStatus().getCode());
        assertTrue(refused.getStatus().getDescription().contains("conditions[1].type"), refused.getStatus().getDescription());
        assertEquals(revision, api.nodes().getNode(GetNodeRequest.newBuilder().setName("pressed-1").build()).getMetadata().getResourceVersion());

        stream.send(SyncRequest.newBuilder().setHeartbeat(Heartbeat.getDefaultInstance()).build());
        TestApi.await("recovered: placed", WAIT, () -> api.etcdGet("/edgeplane/assignments/pressed-1/sync/squeezed-0") != null);
        assertEquals(0, api.nodes().getNode(GetNodeRequest.newBuilder().setName("pressed-1").build()).getStatus().getConditionsCount());
        api.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace("sync").setName("squeezed").build());
    }

    @Test
    void syncSnapshotThenChangesThenResumeWithOnlyTheDelta() throws Exception {
        int port = TestApi.agentPort();
        JoinToken t1 = token(JoinTokenSpec.newBuilder().putNodeLabels("pool", "sync-a"));
        JoinToken t2 = token(JoinTokenSpec.newBuilder().putNodeLabels("pool", "sync-b"));
        TestAgent a = agent("sync-a");
        a.join(port, t1.getStatus().getToken(), t1.getStatus().getCaHash());
        TestAgent b = agent("sync-b");
        b.join(port, t2.getStatus().getToken(), t2.getStatus().getCaHash());

        TestAgent.Stream sa = stream(a);
        sa.send(SyncRequest.newBuilder().setHello(Hello.newBuilder().setLastAppliedRevision(0)).build());
        SyncResponse snapshot = sa.next(WAIT);
        assertTrue(snapshot.hasSnapshot(), "revision 0 gets a Snapshot: " + snapshot);
        assertEquals(0, snapshot.getSnapshot().getAssignmentsCount());
        TestAgent.Stream sb = stream(b);
        sb.send(SyncRequest.newBuilder().setHello(Hello.newBuilder().setLastAppliedRevision(0)).build());
        assertTrue(sb.next(WAIT).hasSnapshot());
        awaitReady("sync-a");
        awaitReady("sync-b");

        // Apps for node a; one for node b.
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("steady", "sync-a", "img:1")).build());
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("changing", "sync-a", "img:1")).build());
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("other", "sync-b", "img:1")).build());
        List<Long> revisions = new ArrayList<>();
        Map<String, Change> forA = changesUntil(sa, List.of("sync/steady-0", "sync/changing-0"), revisions);
        assertEquals(Change.Type.PUT, forA.get("sync/changing-0").getType());
        assertEquals("sync-a", forA.get("sync/changing-0").getAssignment().getNode());
        assertEquals("img:1", imageOf(forA.get("sync/changing-0").getAssignment()));
        Map<String, Change> forB = changesUntil(sb, List.of("sync/other-0"), new ArrayList<>());
        assertEquals(1, forB.size(), "node b sees only its own: " + forB.keySet());

        // The agent acks, reports status and heartbeats, then goes away.
        long acked = revisions.get(revisions.size() - 1);
        sa.send(SyncRequest.newBuilder().setAck(Ack.newBuilder().setRevision(acked)).build());
        sa.send(SyncRequest.newBuilder().setStatus(StatusReport.newBuilder().setFull(true).addReplicas(ReplicaStatus.newBuilder()
                .setName("steady-0").setNamespace("sync").setApp("steady").setPhase(ReplicaStatus.Phase.RUNNING).setReady(true).setGeneration(1))).build());
        sa.send(SyncRequest.newBuilder().setHeartbeat(Heartbeat.newBuilder().setRunningReplicas(1).setDesiredReplicas(2)).build());
        TestApi.await("replica status in App.status", WAIT, () -> api.apps().getApp(GetAppRequest.newBuilder()
                .setNamespace("sync").setName("steady").build()).getStatus().getReadyReplicas() == 1);
        App steady = api.apps().getApp(GetAppRequest.newBuilder().setNamespace("sync").setName("steady").build());
        assertEquals("sync-a", steady.getStatus().getReplicas(0).getNode());
        sa.close();

        // While it is away: one App changes, one is added, one is deleted... and node b's keep changing.
        App changing = api.apps().getApp(GetAppRequest.newBuilder().setNamespace("sync").setName("changing").build());
        api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(changing.toBuilder().setSpec(changing.getSpec().toBuilder()
                .setTemplate(changing.getSpec().getTemplate().toBuilder().setContainers(0,
                        changing.getSpec().getTemplate().getContainers(0).toBuilder().setImage("img:2"))))).build());
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("added", "sync-a", "img:1")).build());
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("doomed", "sync-a", "img:1")).build());
        TestApi.await("doomed placed", WAIT, () -> api.etcdGet("/edgeplane/assignments/sync-a/sync/doomed-0") != null);
        api.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace("sync").setName("doomed").build());
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("other2", "sync-b", "img:1")).build());
        TestApi.await("scheduler caught up", WAIT, () -> api.etcdGet("/edgeplane/assignments/sync-a/sync/added-0") != null
                && api.etcdGet("/edgeplane/assignments/sync-a/sync/doomed-0") == null
                && api.etcdGet("/edgeplane/assignments/sync-b/sync/other2-0") != null
                && "img:2".equals(imageOf(assignment(api.etcdGet("/edgeplane/assignments/sync-a/sync/changing-0")))));

        // Resume from the acked revision: exactly the delta, coalesced, nothing of node b.
        TestAgent.Stream resumed = stream(a);
        resumed.send(SyncRequest.newBuilder().setHello(Hello.newBuilder().setLastAppliedRevision(acked)).build());
        SyncResponse delta = resumed.next(WAIT);
        assertTrue(delta.hasChanges(), "a known revision gets Changes, not a Snapshot: " + delta);
        Changes changes = delta.getChanges();
        Map<String, Change.Type> byKey = new TreeMap<>();
        for (Change c : changes.getChangesList()) {
            assertEquals(null, byKey.put(c.getKey(), c.getType()), "one change per key");
            assertTrue(c.getModRevision() > acked);
        }
        assertEquals(Map.of("sync/changing-0", Change.Type.PUT, "sync/added-0", Change.Type.PUT, "sync/doomed-0", Change.Type.DELETE), byKey);
        assertTrue(changes.getRevision() >= changes.getChangesList().stream().mapToLong(Change::getModRevision).max().orElse(0));
        Change changed = changes.getChangesList().stream().filter(c -> c.getKey().equals("sync/changing-0")).findFirst().orElseThrow();
        assertEquals("img:2", imageOf(changed.getAssignment()));

        // Live changes keep flowing on the resumed stream.
        long started = System.nanoTime();
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("later", "sync-a", "img:1")).build());
        Map<String, Change> live = changesUntil(resumed, List.of("sync/later-0"), new ArrayList<>());
        // A figure, not an assertion: CreateApp -> scheduled -> assignment on the agent's stream.
        System.out.printf("FIGURE control-plane CreateApp to assignment on the Sync stream: %.1f ms%n", (System.nanoTime() - started) / 1e6);
        assertTrue(live.keySet().stream().allMatch(k -> !k.contains("other")), "never another node's: " + live.keySet());

        // A revision the server cannot answer exactly (0) gets a Snapshot of the whole desired state.
        TestAgent.Stream fresh = stream(a);
        fresh.send(SyncRequest.newBuilder().setHello(Hello.newBuilder().setLastAppliedRevision(0)).build());
        SyncResponse full = fresh.next(WAIT);
        assertTrue(full.hasSnapshot());
        assertEquals(List.of("added-0", "changing-0", "later-0", "steady-0"),
                full.getSnapshot().getAssignmentsList().stream().map(x -> x.getReplica()).sorted().toList());
        assertTrue(full.getSnapshot().getAssignmentsList().stream().allMatch(x -> x.getNode().equals("sync-a")));
    }

    /** A node that reopens Sync in a loop is told to wait after its burst: it cannot crowd out the fleet's opens. */
    @Test
    void aNodeReopeningSyncInALoopIsThrottled() throws Exception {
        int port = TestApi.agentPort();
        JoinToken t = token(JoinTokenSpec.newBuilder());
        TestAgent looping = agent("sync-looping");
        looping.join(port, t.getStatus().getToken(), t.getStatus().getCaHash());
        Throwable refused = null;
        int opened = 0;
        for (int i = 0; i < 20 && refused == null; i++) {
            try (TestAgent.Stream s = new TestAgent.Stream(looping.syncChannel(port))) {
                s.send(SyncRequest.newBuilder().setHello(Hello.newBuilder().setLastAppliedRevision(0)).build());
                try {
                    assertTrue(s.next(WAIT).hasSnapshot());
                    opened++;
                } catch (AssertionError e) {
                    refused = s.awaitError(WAIT);
                }
            }
        }
        // 10 at once, one more every 3 s: a slow machine may get one or two extra.
        assertTrue(opened >= 10 && opened < 20, "the burst of opens is served, then a refusal: " + opened);
        Status status = Status.fromThrowable(refused);
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, status.getCode());
        assertTrue(status.getDescription().contains("edgeplane.agent.sync-opens-per-node-per-minute"), status.getDescription());
    }

    @Test
    void syncWithoutAClientCertificateOrForADeletedNodeIsRefused() throws Exception {
        int port = TestApi.agentPort();
        JoinToken t = token(JoinTokenSpec.newBuilder());
        TestAgent agent = agent("sync-refused");
        agent.join(port, t.getStatus().getToken(), t.getStatus().getCaHash());

        TestAgent.Stream anonymous = new TestAgent.Stream(agent.syncChannel(port, false));
        closeables.add(0, anonymous);
        anonymous.send(SyncRequest.newBuilder().setHello(Hello.newBuilder()).build());
        Throwable error = anonymous.awaitError(WAIT);
        assertNotNull(error, "Sync without a client certificate must fail");
        assertEquals(Status.Code.UNAUTHENTICATED, Status.fromThrowable(error).getCode());

        TestAgent.Stream ok = stream(agent);
        ok.send(SyncRequest.newBuilder().setHello(Hello.newBuilder()).build());
        assertTrue(ok.next(WAIT).hasSnapshot());
        api.nodes().deleteNode(DeleteNodeRequest.newBuilder().setName("sync-refused").build());
        Throwable cut = ok.awaitError(WAIT);
        assertNotNull(cut, "the stream of a deleted node is closed");
        assertEquals(Status.Code.UNAUTHENTICATED, Status.fromThrowable(cut).getCode());

        TestAgent.Stream again = stream(agent);
        again.send(SyncRequest.newBuilder().setHello(Hello.newBuilder()).build());
        Throwable refused = again.awaitError(WAIT);
        assertNotNull(refused, "a deleted node's certificate is refused");
        assertEquals(Status.Code.UNAUTHENTICATED, Status.fromThrowable(refused).getCode());
    }
    @Test
    void aTokenHolderCannotReKeyAnExistingNodeOnlyAnIdentityResetLetsTheNextJoinDoIt() throws Exception {
        int port = TestApi.agentPort();
        JoinToken t = token(JoinTokenSpec.newBuilder().setMaxUses(5));
        TestAgent real = agent("rekey");
        real.join(port, t.getStatus().getToken(), t.getStatus().getCaHash());
        TestAgent.Stream running = stream(real);
        running.send(SyncRequest.newBuilder().setHello(Hello.newBuilder()).build());
        assertTrue(running.next(WAIT).hasSnapshot());
        String before = api.nodes().getNode(GetNodeRequest.newBuilder().setName("rekey").build()).getMetadata()
                .getAnnotationsOrThrow(dev.edgeplane.controlplane.join.Joiner.CERT_HASH_ANNOTATION);

        // Same name, same self-reported hostname, a valid token: still not the node.
        TestAgent thief = agent("rekey");
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class,
                () -> thief.join(port, t.getStatus().getToken(), t.getStatus().getCaHash()));
        assertEquals(Status.Code.ALREADY_EXISTS, refused.getStatus().getCode());
        assertTrue(refused.getStatus().getDescription().contains("reset-identity"), refused.getStatus().getDescription());
        Node unchanged = api.nodes().getNode(GetNodeRequest.newBuilder().setName("rekey").build());
        assertEquals(before, unchanged.getMetadata().getAnnotationsOrThrow(dev.edgeplane.controlplane.join.Joiner.CERT_HASH_ANNOTATION),
                "nothing changed");
        running.send(SyncRequest.newBuilder().setHeartbeat(dev.edgeplane.api.v1.Heartbeat.newBuilder()).build());
        assertNull(running.awaitError(java.time.Duration.ofMillis(500)), "the real node keeps its stream");

        api.nodes().resetNodeIdentity(dev.edgeplane.api.v1.ResetNodeIdentityRequest.newBuilder().setName("rekey").build());
        Throwable cut = running.awaitError(WAIT);
        assertNotNull(cut, "a reset revokes the certificate at once");
        assertEquals(Status.Code.UNAUTHENTICATED, Status.fromThrowable(cut).getCode());

        TestAgent comingBack = agent("rekey");
        comingBack.join(port, t.getStatus().getToken(), t.getStatus().getCaHash());
        Node rekeyed = api.nodes().getNode(GetNodeRequest.newBuilder().setName("rekey").build());
        assertFalse(rekeyed.getMetadata().containsAnnotations(dev.edgeplane.controlplane.join.Joiner.IDENTITY_RESET_ANNOTATION),
                "the reset is used up by that join");
        TestAgent.Stream fresh = stream(comingBack);
        fresh.send(SyncRequest.newBuilder().setHello(Hello.newBuilder()).build());
        assertTrue(fresh.next(WAIT).hasSnapshot(), "the new key syncs");
        TestAgent.Stream old = stream(real);
        old.send(SyncRequest.newBuilder().setHello(Hello.newBuilder()).build());
        assertEquals(Status.Code.UNAUTHENTICATED, Status.fromThrowable(old.awaitError(WAIT)).getCode(), "the old key does not");
        StatusRuntimeException again = assertThrows(StatusRuntimeException.class,
                () -> agent("rekey").join(port, t.getStatus().getToken(), t.getStatus().getCaHash()));
        assertEquals(Status.Code.ALREADY_EXISTS, again.getStatus().getCode(), "one reset, one re-key");
    }

    @Test
    void aSingleUseTokenAdmitsOneNodeHoweverJoinsRace() throws Exception {
        JoinToken token = token(JoinTokenSpec.newBuilder().setMaxUses(1));
        int port = TestApi.agentPort();
        List<TestAgent> agents = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            agents.add(agent("race-" + i));
        }
        var pool = java.util.concurrent.Executors.newFixedThreadPool(agents.size());
        try {
            List<java.util.concurrent.Future<Boolean>> results = new ArrayList<>();
            for (TestAgent agent : agents) {
                results.add(pool.submit(() -> {
                    try {
                        agent.join(port, token.getStatus().getToken(), token.getStatus().getCaHash());
                        return true;
                    } catch (StatusRuntimeException e) {
                        assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode(), e.getStatus().toString());
                        return false;
                    }
                }));
            }
            int joined = 0;
            for (var r : results) {
                joined += r.get(30, java.util.concurrent.TimeUnit.SECONDS) ? 1 : 0;
            }
            assertEquals(1, joined, "exactly one join may use a single-use token");
            assertEquals(1, api.nodes().listNodes(dev.edgeplane.api.v1.ListNodesRequest.newBuilder().build()).getNodesList().stream()
                    .filter(n -> n.getMetadata().getName().startsWith("race-")).count());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void schedulerFollowsNodesScaleAndDeletes() throws Exception {
        int port = TestApi.agentPort();
        JoinToken t = token(JoinTokenSpec.newBuilder().setMaxUses(2).putNodeLabels("pool", "fleet"));
        List<TestAgent.Stream> streams = new ArrayList<>();
        for (String name : List.of("fleet-1", "fleet-2")) {
            TestAgent agent = agent(name);
            agent.join(port, t.getStatus().getToken(), t.getStatus().getCaHash());
            TestAgent.Stream s = stream(agent);
            s.send(SyncRequest.newBuilder().setHello(Hello.newBuilder()).build());
            streams.add(s);
            awaitReady(name);
        }
        App daemon = App.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("daemon").setNamespace("fleet"))
                .setSpec(AppSpec.newBuilder().setMode(AppSpec.Mode.EVERY_NODE).putNodeSelector("pool", "fleet")
                        .setTemplate(PodTemplate.newBuilder().addContainers(Container.newBuilder().setName("c").setImage("img"))))
                .build();
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(daemon).build());
        App web = App.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("web").setNamespace("fleet"))
                .setSpec(AppSpec.newBuilder().setReplicas(2).putNodeSelector("pool", "fleet")
                        .setTemplate(PodTemplate.newBuilder().addContainers(Container.newBuilder().setName("c").setImage("img"))))
                .build();
        App created = api.apps().createApp(CreateAppRequest.newBuilder().setApp(web).build());
        TestApi.await("every node runs the daemon, web spread over both", WAIT, () ->
                api.etcdGet("/edgeplane/assignments/fleet-1/fleet/daemon-fleet-1") != null
                        && api.etcdGet("/edgeplane/assignments/fleet-2/fleet/daemon-fleet-2") != null
                        && api.etcdCount("/edgeplane/assignments/fleet-1/fleet/web-") == 1
                        && api.etcdCount("/edgeplane/assignments/fleet-2/fleet/web-") == 1);

        // Scale to 0: web's assignments go, the daemon stays.
        App current = api.apps().getApp(GetAppRequest.newBuilder().setNamespace("fleet").setName("web").build());
        api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(current.toBuilder()
                .setSpec(current.getSpec().toBuilder().setReplicas(0))).build());
        TestApi.await("scaled to 0", WAIT, () -> api.etcdCount("/edgeplane/assignments/fleet-1/fleet/web-") == 0
                && api.etcdCount("/edgeplane/assignments/fleet-2/fleet/web-") == 0);
        assertEquals(2, api.etcdCount("/edgeplane/assignments/fleet-1/fleet/") + api.etcdCount("/edgeplane/assignments/fleet-2/fleet/"));

        // A node leaves: its daemon replica goes with it.
        api.nodes().deleteNode(DeleteNodeRequest.newBuilder().setName("fleet-2").build());
        TestApi.await("daemon follows the node away", WAIT, () -> api.etcdCount("/edgeplane/assignments/fleet-2/") == 0);
        assertNotNull(api.etcdGet("/edgeplane/assignments/fleet-1/fleet/daemon-fleet-1"));

        // Deleting the App removes its assignments (and statuses).
        api.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace("fleet").setName("daemon").build());
        TestApi.await("app deleted", WAIT, () -> api.etcdCount("/edgeplane/assignments/fleet-1/") == 0);
        assertEquals(0, api.etcdCount("/edgeplane/replicastatus/fleet/"));
        assertTrue(created.getMetadata().getResourceVersion() > 0);
    }
}
