package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.rpc.BadRequest;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.CreateNodePoolRequest;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.DeleteNodePoolRequest;
import dev.edgeplane.api.v1.GetNodePoolRequest;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.ListNodePoolsRequest;
import dev.edgeplane.api.v1.ListNodePoolsResponse;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodePool;
import dev.edgeplane.api.v1.NodePoolServiceGrpc;
import dev.edgeplane.api.v1.NodePoolSpec;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Taint;
import dev.edgeplane.api.v1.UpdateNodePoolRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.pools.PoolMembership;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.sync.TestAgent;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** NodePoolService through the public API, with the control plane's own NodePool controller running. */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class NodePoolApiTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private TestApi api;
    @Inject
    EtcdStore store;
    @Inject
    StateCaches caches;

    @BeforeEach
    void connect() {
        api = new TestApi();
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    private NodePoolServiceGrpc.NodePoolServiceBlockingStub pools() {
        return api.withToken(NodePoolServiceGrpc.newBlockingStub(api.channel), api.adminToken);
    }

    private static NodePool pool(String name, NodePoolSpec.Builder spec) {
        return NodePool.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name)).setSpec(spec).build();
    }

    private NodePool create(NodePool pool) {
        return pools().createNodePool(CreateNodePoolRequest.newBuilder().setNodePool(pool).build());
    }

    /** A node as Join would leave it, seen by this process's informer (the overlap check reads it). */
    private void node(String name, Map<String, String> labels) {
        long revision = store.put(Keys.node(name), Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).putAllLabels(labels))
                .setStatus(NodeStatus.newBuilder().setPhase(NodeStatus.Phase.READY)).build().toByteArray());
        TestApi.await("node " + name + " seen", WAIT, () -> caches.nodes().revision() >= revision);
    }

    private Map<String, String> labels(String node) {
        return api.nodes().getNode(GetNodeRequest.newBuilder().setName(node).build()).getMetadata().getLabelsMap();
    }

    @Test
    void createGetListUpdateAndDeleteWithResourceVersions() {
        NodePool created = create(pool("crud", NodePoolSpec.newBuilder().setDescription("shop 12").putLabels("site", "shop-12")));
        assertTrue(created.getMetadata().getResourceVersion() > 0);
        assertEquals(1, created.getMetadata().getGeneration());
        StatusRuntimeException taken = assertThrows(StatusRuntimeException.class,
                () -> create(pool("crud", NodePoolSpec.newBuilder())));
        assertEquals(Status.Code.ABORTED, taken.getStatus().getCode());

        NodePool got = pools().getNodePool(GetNodePoolRequest.newBuilder().setName("crud").build());
        assertEquals("shop 12", got.getSpec().getDescription());
        ListNodePoolsResponse listed = pools().listNodePools(ListNodePoolsRequest.newBuilder().build());
        assertTrue(listed.getNodePoolsList().stream().anyMatch(p -> p.getMetadata().getName().equals("crud")));

        NodePool changed = got.toBuilder().setSpec(got.getSpec().toBuilder().putLabels("tier", "edge")).build();
        NodePool updated = pools().updateNodePool(UpdateNodePoolRequest.newBuilder().setNodePool(changed).build());
        assertEquals(2, updated.getMetadata().getGeneration());
        StatusRuntimeException stale = assertThrows(StatusRuntimeException.class,
                () -> pools().updateNodePool(UpdateNodePoolRequest.newBuilder().setNodePool(changed).build()));
        assertEquals(Status.Code.ABORTED, stale.getStatus().getCode());
        assertTrue(stale.getStatus().getDescription().contains("node pool \"crud\""), stale.getStatus().getDescription());
        StatusRuntimeException staleDelete = assertThrows(StatusRuntimeException.class, () -> pools().deleteNodePool(
                DeleteNodePoolRequest.newBuilder().setName("crud").setResourceVersion(got.getMetadata().getResourceVersion()).build()));
        assertEquals(Status.Code.ABORTED, staleDelete.getStatus().getCode());

        pools().deleteNodePool(DeleteNodePoolRequest.newBuilder().setName("crud").build());
        StatusRuntimeException gone = assertThrows(StatusRuntimeException.class,
                () -> pools().getNodePool(GetNodePoolRequest.newBuilder().setName("crud").build()));
        assertEquals(Status.Code.NOT_FOUND, gone.getStatus().getCode());
    }

    @Test
    void validationErrorsNameTheField() {
        NodePoolSpec.Builder bad = NodePoolSpec.newBuilder()
                .putNodeSelector(PoolMembership.POOL_LABEL, "x")
                .putLabels("bad key!", "v")
                .addNodes("Not_A_Name").addNodes("n1").addNodes("n1")
                .addTaints(Taint.newBuilder().setKey("dedicated").setValue("a b"));
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create(pool("Bad_Name", bad)));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        List<String> fields = AdmissionLimitsTest.detail(e, BadRequest.class).getFieldViolationsList().stream()
                .map(BadRequest.FieldViolation::getField).toList();
        assertTrue(fields.contains("node_pool.metadata.name"), fields.toString());
        assertTrue(fields.contains("node_pool.spec.node_selector[" + PoolMembership.POOL_LABEL + "]"), fields.toString());
        assertTrue(fields.contains("node_pool.spec.labels[bad key!]"), fields.toString());
        assertTrue(fields.contains("node_pool.spec.nodes[0]"), fields.toString());
        assertTrue(fields.contains("node_pool.spec.nodes[2]"), fields.toString());
        assertTrue(fields.contains("node_pool.spec.taints[0].effect"), fields.toString());
        assertTrue(fields.contains("node_pool.spec.taints[0].value"), fields.toString());

        NodePoolSpec.Builder tooMany = NodePoolSpec.newBuilder();
        for (int i = 0; i < NodePoolApi.MAX_TAINTS + 1; i++) {
            tooMany.addTaints(Taint.newBuilder().setKey("k" + i).setEffect(Taint.Effect.NO_SCHEDULE));
        }
        StatusRuntimeException many = assertThrows(StatusRuntimeException.class, () -> create(pool("many", tooMany)));
        assertEquals("node_pool.spec.taints", AdmissionLimitsTest.detail(many, BadRequest.class).getFieldViolations(0).getField());
    }

    @Test
    void aPoolClaimingANodeOfAnotherPoolIsRefusedNamingBoth() {
        node("ovl-a1", Map.of("site", "ovl-a", "rack", "r1"));
        node("ovl-joined", Map.of(PoolMembership.POOL_LABEL, "ovl-j", "rack", "r9"));
        create(pool("ovl-a", NodePoolSpec.newBuilder().putNodeSelector("site", "ovl-a")));
        TestApi.await("pool seen", WAIT, () -> caches.nodePools().get(Keys.nodePool("ovl-a")) != null);

        StatusRuntimeException bySelector = assertThrows(StatusRuntimeException.class,
                () -> create(pool("ovl-b", NodePoolSpec.newBuilder().putNodeSelector("rack", "r1"))));
        assertEquals(Status.Code.FAILED_PRECONDITION, bySelector.getStatus().getCode());
        assertTrue(bySelector.getStatus().getDescription().contains("node \"ovl-a1\" is already in pool \"ovl-a\""),
                bySelector.getStatus().getDescription());

        StatusRuntimeException byList = assertThrows(StatusRuntimeException.class,
                () -> create(pool("ovl-c", NodePoolSpec.newBuilder().addNodes("ovl-joined"))));
        assertEquals(Status.Code.FAILED_PRECONDITION, byList.getStatus().getCode());
        assertTrue(byList.getStatus().getDescription().contains("node \"ovl-joined\" is already in pool \"ovl-j\" (by its label"),
                byList.getStatus().getDescription());

        NodePool b = create(pool("ovl-b", NodePoolSpec.newBuilder().putNodeSelector("rack", "r2")));
        StatusRuntimeException update = assertThrows(StatusRuntimeException.class, () -> pools().updateNodePool(UpdateNodePoolRequest.newBuilder()
                .setNodePool(b.toBuilder().setSpec(NodePoolSpec.newBuilder().addNodes("ovl-a1"))).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, update.getStatus().getCode());
        pools().deleteNodePool(DeleteNodePoolRequest.newBuilder().setName("ovl-a").build());
        pools().deleteNodePool(DeleteNodePoolRequest.newBuilder().setName("ovl-b").build());
    }

    @Test
    void aHostJoinedWithAPoolsTokenGetsWhatThePoolPuts() throws Exception {
        create(pool("join-site", NodePoolSpec.newBuilder().putLabels("tier", "store")
                .addTaints(Taint.newBuilder().setKey("dedicated").setValue("store").setEffect(Taint.Effect.NO_SCHEDULE))));
        JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder()
                .setToken(JoinToken.newBuilder().setSpec(JoinTokenSpec.newBuilder().setPool("join-site"))).build());
        try (TestAgent agent = new TestAgent("join-site-1")) {
            agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
        }
        TestApi.await("the pool's labels on the joined node", WAIT, () -> "store".equals(labels("join-site-1").get("tier")));
        Node joined = api.nodes().getNode(GetNodeRequest.newBuilder().setName("join-site-1").build());
        assertEquals("join-site", joined.getStatus().getPool());
        assertEquals("dedicated", joined.getSpec().getTaints(0).getKey());
        TestApi.await("counted", WAIT, () -> pools().getNodePool(GetNodePoolRequest.newBuilder().setName("join-site").build())
                .getStatus().getNodesList().equals(List.of("join-site-1")));
    }

    @Test
    void membersGetThePoolsLabelsAndShowTheirPool() {
        node("site-x1", Map.of("site", "x"));
        node("site-x2", Map.of());
        create(pool("site-x", NodePoolSpec.newBuilder().putNodeSelector("site", "x").addNodes("site-x2").putLabels("tier", "edge")
                .addTaints(Taint.newBuilder().setKey("dedicated").setValue("x").setEffect(Taint.Effect.NO_SCHEDULE))));
        TestApi.await("labels reach both members", WAIT, () -> "edge".equals(labels("site-x1").get("tier"))
                && "edge".equals(labels("site-x2").get("tier")));
        Node member = api.nodes().getNode(GetNodeRequest.newBuilder().setName("site-x2").build());
        assertEquals("site-x", member.getStatus().getPool());
        assertEquals("dedicated", member.getSpec().getTaints(0).getKey());
        TestApi.await("status counts", WAIT, () -> pools().getNodePool(GetNodePoolRequest.newBuilder().setName("site-x").build())
                .getStatus().getNodeCount() == 2);
        assertEquals(List.of("site-x1", "site-x2"), pools().getNodePool(GetNodePoolRequest.newBuilder().setName("site-x").build())
                .getStatus().getNodesList());

        pools().deleteNodePool(DeleteNodePoolRequest.newBuilder().setName("site-x").build());
        TestApi.await("taken back", WAIT, () -> !labels("site-x1").containsKey("tier") && !labels("site-x2").containsKey("tier"));
        assertEquals("", api.nodes().getNode(GetNodeRequest.newBuilder().setName("site-x2").build()).getStatus().getPool());
    }
}
