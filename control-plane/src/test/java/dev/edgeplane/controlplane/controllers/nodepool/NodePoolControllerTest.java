package dev.edgeplane.controlplane.controllers.nodepool;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodePool;
import dev.edgeplane.api.v1.NodePoolSpec;
import dev.edgeplane.api.v1.NodeSpec;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Taint;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.pools.PoolMembership;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.EtcdStoreExtension;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The NodePool controller against a real etcd: what reaches members, what leaving takes back, status, and what wakes it. */
class NodePoolControllerTest {
    @RegisterExtension
    static final EtcdStoreExtension etcd = new EtcdStoreExtension();
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final Duration STATUS_BATCH = Duration.ofMillis(100);
    private static final String POOL = PoolMembership.POOL_LABEL;

    static EtcdStore store;
    static StateCaches caches;
    static LeaderLock leader;
    static NodePoolController controller;

    @BeforeAll
    static void start() {
        store = etcd.store();
        caches = new StateCaches(store);
        caches.start();
        leader = new LeaderLock(store);
        controller = new NodePoolController(store, caches, leader, STATUS_BATCH);
        controller.start();
        leader.start(() -> {});
        await("leadership", leader::isLeader);
    }

    @AfterAll
    static void stop() {
        controller.stop();
        leader.stop();
        caches.close();
    }

    static void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    static Node node(String name, Map<String, String> labels, Taint... taints) {
        return Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).setGeneration(1).putAllLabels(labels))
                .setSpec(NodeSpec.newBuilder().addAllTaints(List.of(taints)))
                .setStatus(NodeStatus.newBuilder().setPhase(NodeStatus.Phase.READY).setLastHeartbeat(Joiner.timestamp(Instant.now())))
                .build();
    }

    static Taint taint(String key, String value, Taint.Effect effect) {
        return Taint.newBuilder().setKey(key).setValue(value).setEffect(effect).build();
    }

    static NodePool pool(String name, NodePoolSpec.Builder spec) {
        return NodePool.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).setGeneration(1)).setSpec(spec).build();
    }

    static long put(Node node) {
        return store.put(Keys.node(node.getMetadata().getName()), node.toByteArray());
    }

    static long put(NodePool pool) {
        return store.put(Keys.nodePool(pool.getMetadata().getName()), pool.toByteArray());
    }

    static Node read(String node) {
        return store.get(Keys.node(node), Node.parser()).orElseThrow().value();
    }

    static NodePool readPool(String pool) {
        return store.get(Keys.nodePool(pool), NodePool.parser()).orElseThrow().value();
    }

    /** Read-modify-write, guarded on the mod revision as UpdateNode and the status writer do. */
    static void change(String name, UnaryOperator<Node> change) {
        for (int attempt = 0; attempt < 10; attempt++) {
            Entry<Node> current = store.get(Keys.node(name), Node.parser()).orElseThrow();
            if (store.update(Keys.node(name), change.apply(current.value()).toByteArray(), current.modRevision()).isPresent()) {
                return;
            }
        }
        throw new AssertionError("could not change " + name);
    }

    static Map<String, String> labels(String node) {
        return read(node).getMetadata().getLabelsMap();
    }

    @Test
    void aPoolsLabelsAndTaintsReachMembersBySelectorByListAndByTheJoinLabel() {
        put(node("north-sel", Map.of("site", "north")));
        put(node("north-listed", Map.of()));
        put(node("north-joined", Map.of(POOL, "north")).toBuilder().setStatus(NodeStatus.newBuilder()
                .setPhase(NodeStatus.Phase.UNREACHABLE)).build());
        put(node("south-1", Map.of("site", "south")));
        Taint dedicated = taint("dedicated", "north", Taint.Effect.NO_SCHEDULE);
        put(pool("north", NodePoolSpec.newBuilder().putNodeSelector("site", "north").addNodes("north-listed")
                .putLabels("tier", "edge").putLabels("region", "eu").addTaints(dedicated)));

        for (String member : List.of("north-sel", "north-listed", "north-joined")) {
            await(member + " labelled and tainted", () -> {
                Node n = read(member);
                return "edge".equals(n.getMetadata().getLabelsMap().get("tier")) && "eu".equals(n.getMetadata().getLabelsMap().get("region"))
                        && "north".equals(n.getMetadata().getLabelsMap().get(POOL)) && n.getSpec().getTaintsList().contains(dedicated);
            });
        }
        Node joined = read("north-joined");
        assertFalse(PoolMembership.applied(joined).labels().containsKey(POOL), "its join label is its own, not recorded as the pool's");
        assertEquals(Map.of("site", "south"), labels("south-1"), "a node of no pool is left alone");
        assertEquals(0, read("south-1").getSpec().getTaintsCount());

        await("status counts", () -> readPool("north").getStatus().getNodeCount() == 3);
        assertEquals(List.of("north-joined", "north-listed", "north-sel"), readPool("north").getStatus().getNodesList());
        assertEquals(2, readPool("north").getStatus().getReadyNodes(), "north-joined is UNREACHABLE");

        change("north-joined", n -> n.toBuilder().setStatus(n.getStatus().toBuilder().setPhase(NodeStatus.Phase.READY)).build());
        await("ready count follows the phase", () -> readPool("north").getStatus().getReadyNodes() == 3);
    }

    @Test
    void leavingThePoolRemovesExactlyWhatItPutAndNeverTheNodesOwn() {
        Taint own = taint("gpu", "yes", Taint.Effect.NO_EXECUTE);
        put(node("west-1", Map.of("site", "west", "region", "mine", "keep", "yes"), own));
        Taint dedicated = taint("dedicated", "west", Taint.Effect.NO_SCHEDULE);
        put(pool("west", NodePoolSpec.newBuilder().putNodeSelector("site", "west").putLabels("region", "eu").putLabels("zone", "a")
                .addTaints(dedicated).addTaints(taint("gpu", "pool", Taint.Effect.NO_EXECUTE))));

        await("applied", () -> "a".equals(labels("west-1").get("zone")) && "west".equals(labels("west-1").get(POOL)));
        Node member = read("west-1");
        assertEquals("mine", member.getMetadata().getLabelsMap().get("region"), "the node's own label wins over the pool's");
        assertEquals(List.of(own, dedicated), member.getSpec().getTaintsList(), "its own taint of the same key and effect stays as it is");
        assertEquals(Map.of("zone", "a", POOL, "west"), PoolMembership.applied(member).labels());

        // The operator relabels the node out of the pool (UpdateNode keeps what else is there).
        change("west-1", n -> n.toBuilder().setMetadata(n.getMetadata().toBuilder().removeLabels("site")).build());
        await("taken back", () -> !labels("west-1").containsKey("zone"));
        Node left = read("west-1");
        assertEquals(Map.of("region", "mine", "keep", "yes"), left.getMetadata().getLabelsMap());
        assertEquals(List.of(own), left.getSpec().getTaintsList());
        assertFalse(left.getMetadata().containsAnnotations(PoolMembership.APPLIED_ANNOTATION), "nothing recorded any more");
        await("status: no members", () -> readPool("west").getStatus().getNodeCount() == 0);
    }

    @Test
    void deletingAPoolTakesBackWhatItPutButNotTheJoinTokensLabel() {
        put(node("east-listed", Map.of("app", "x")));
        put(node("east-joined", Map.of(POOL, "east")));
        put(pool("east", NodePoolSpec.newBuilder().addNodes("east-listed").putLabels("site", "east")));
        await("applied", () -> "east".equals(labels("east-listed").get("site")) && "east".equals(labels("east-joined").get("site")));

        store.delete(Keys.nodePool("east"));
        await("taken back", () -> !labels("east-listed").containsKey("site") && !labels("east-joined").containsKey("site"));
        assertEquals(Map.of("app", "x"), labels("east-listed"));
        assertEquals(Map.of(POOL, "east"), labels("east-joined"), "its own pool label stays: the pool may come back");
        assertEquals("east", controller.poolOf("east-joined"));
        assertNull(controller.poolOf("east-listed"));

        put(pool("east", NodePoolSpec.newBuilder().putLabels("site", "east-again")));
        await("a pool created again applies to the nodes carrying its label", () -> "east-again".equals(labels("east-joined").get("site")));
        assertFalse(labels("east-listed").containsKey("site"), "no longer listed");
    }

    @Test
    void aHeartbeatWakesNothingAndWritesNothing() throws Exception {
        put(node("beat-1", Map.of("site", "beat")));
        put(pool("beat", NodePoolSpec.newBuilder().putNodeSelector("site", "beat").putLabels("tier", "edge")));
        await("applied and counted", () -> "edge".equals(labels("beat-1").get("tier")) && readPool("beat").getStatus().getReadyNodes() == 1);
        await("quiet", controller::quiet);
        Thread.sleep(STATUS_BATCH.toMillis() * 3);
        await("quiet", controller::quiet);
        long reconciles = controller.nodeReconciles("beat-1");
        long statusReconciles = controller.statusReconciles();
        long nodeWrites = controller.nodeWrites();
        long statusWrites = controller.statusWrites();
        long poolRevision = store.get(Keys.nodePool("beat"), NodePool.parser()).orElseThrow().modRevision();

        for (int i = 1; i <= 5; i++) {
            int beat = i;
            change("beat-1", n -> n.toBuilder().setStatus(n.getStatus().toBuilder().setLastHeartbeat(Joiner.timestamp(Instant.now()))
                    .setRunningReplicas(beat).setDesiredReplicas(beat).setAppliedRevision(beat)).build());
        }
        long seen = store.get(Keys.node("beat-1")).orElseThrow().modRevision();
        await("the informer saw the heartbeats", () -> caches.nodes().revision() >= seen);
        Thread.sleep(STATUS_BATCH.toMillis() * 3);
        assertEquals(reconciles, controller.nodeReconciles("beat-1"), "no node reconcile for a heartbeat");
        assertEquals(statusReconciles, controller.statusReconciles(), "no status reconcile for a heartbeat");
        assertEquals(nodeWrites, controller.nodeWrites());
        assertEquals(statusWrites, controller.statusWrites());
        assertEquals(poolRevision, store.get(Keys.nodePool("beat"), NodePool.parser()).orElseThrow().modRevision());

        change("beat-1", n -> n.toBuilder().setStatus(n.getStatus().toBuilder().setPhase(NodeStatus.Phase.UNREACHABLE)).build());
        await("a phase change is counted", () -> readPool("beat").getStatus().getReadyNodes() == 0);
        assertEquals(reconciles, controller.nodeReconciles("beat-1"), "a phase change touches the status only");
    }

    @Test
    void statusWritesRacingThePoolsNodeWritesAreKept() {
        put(node("race-1", Map.of("site", "race")));
        put(pool("race", NodePoolSpec.newBuilder().putNodeSelector("site", "race").putLabels("tier", "edge")
                .addTaints(taint("race", "", Taint.Effect.PREFER_NO_SCHEDULE))));
        for (int i = 1; i <= 50; i++) {
            int beat = i;
            change("race-1", n -> n.toBuilder().setStatus(n.getStatus().toBuilder().setRunningReplicas(beat)).build());
        }
        await("applied", () -> "edge".equals(labels("race-1").get("tier")));
        Node raced = read("race-1");
        assertEquals(50, raced.getStatus().getRunningReplicas(), "the pool's writes never overwrite a status write");
        assertEquals(1, raced.getSpec().getTaintsCount());
        assertTrue(raced.getMetadata().getGeneration() >= 2, "a taint is a spec change: generation bumped");
    }
}
