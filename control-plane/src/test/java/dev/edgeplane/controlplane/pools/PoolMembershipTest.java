package dev.edgeplane.controlplane.pools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodePool;
import dev.edgeplane.api.v1.NodePoolSpec;
import dev.edgeplane.api.v1.NodeSpec;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Taint;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The pure rules: which pool a node is in, what a pool puts on it and takes back, the record's text form. */
class PoolMembershipTest {
    private static final String POOL = PoolMembership.POOL_LABEL;

    static NodePool pool(String name, NodePoolSpec.Builder spec) {
        return NodePool.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name)).setSpec(spec).build();
    }

    static Node node(String name, Map<String, String> labels, Taint... taints) {
        return Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).putAllLabels(labels))
                .setSpec(NodeSpec.newBuilder().addAllTaints(List.of(taints))).build();
    }

    static Taint taint(String key, String value, Taint.Effect effect) {
        return Taint.newBuilder().setKey(key).setValue(value).setEffect(effect).build();
    }

    @Test
    void theRecordRoundTripsAndAnythingElseReadsAsNothing() {
        PoolMembership.Applied applied = new PoolMembership.Applied("north", Map.of("tier", "edge", POOL, "north"),
                List.of(taint("dedicated", "north", Taint.Effect.NO_SCHEDULE), taint("gpu", "", Taint.Effect.NO_EXECUTE)));
        assertEquals("pool=north;labels=edgeplane.dev/pool=north,tier=edge;taints=dedicated=north:NO_SCHEDULE,gpu=:NO_EXECUTE",
                applied.format());
        assertEquals(applied, PoolMembership.Applied.parse(applied.format()));
        assertSame(PoolMembership.Applied.NONE, PoolMembership.Applied.parse("garbage"));
        assertSame(PoolMembership.Applied.NONE, PoolMembership.Applied.parse("pool=x;taints=k=v:NOT_AN_EFFECT"));
    }

    @Test
    void aNodeIsInItsOwnLabelsPoolThenTheFirstListingThenTheFirstMatchingSelector() {
        PoolIndex index = PoolIndex.of(List.of(
                pool("b-sel", NodePoolSpec.newBuilder().putNodeSelector("site", "x")),
                pool("a-sel", NodePoolSpec.newBuilder().putNodeSelector("site", "x").putNodeSelector("rack", "1")),
                pool("z-list", NodePoolSpec.newBuilder().addNodes("n1"))));
        assertEquals(new PoolIndex.Membership("own", PoolIndex.Via.LABEL), index.membership("n1", Map.of(POOL, "own", "site", "x")));
        assertEquals(new PoolIndex.Membership("z-list", PoolIndex.Via.LIST), index.membership("n1", Map.of("site", "x")));
        assertEquals(new PoolIndex.Membership("a-sel", PoolIndex.Via.SELECTOR), index.membership("n2", Map.of("site", "x", "rack", "1")));
        assertEquals(new PoolIndex.Membership("b-sel", PoolIndex.Via.SELECTOR), index.membership("n2", Map.of("site", "x")));
        assertNull(index.membership("n3", Map.of("site", "y")));
        index.remove("z-list");
        assertEquals("b-sel", index.membership("n1", Map.of("site", "x")).pool());
    }

    @Test
    void applyPutsWhatIsMissingKeepsTheNodesOwnAndTakesBackOnlyWhatItPut() {
        Taint own = taint("gpu", "yes", Taint.Effect.NO_EXECUTE);
        Taint dedicated = taint("dedicated", "north", Taint.Effect.NO_SCHEDULE);
        NodePool north = pool("north", NodePoolSpec.newBuilder().putLabels("region", "eu").putLabels("zone", "a")
                .addTaints(dedicated).addTaints(taint("gpu", "pool", Taint.Effect.NO_EXECUTE)));
        Node before = node("n1", Map.of("region", "mine"), own);

        Node member = PoolMembership.apply(before, north);
        assertEquals(Map.of("region", "mine", "zone", "a", POOL, "north"), member.getMetadata().getLabelsMap());
        assertEquals(List.of(own, dedicated), member.getSpec().getTaintsList());
        assertEquals(Map.of("zone", "a", POOL, "north"), PoolMembership.applied(member).labels());
        assertEquals(Map.of("region", "mine"), PoolMembership.ownLabels(member));
        assertSame(member, PoolMembership.apply(member, north), "applying again changes nothing");

        // An operator changed a label the pool put: it is theirs from then on.
        Node edited = member.toBuilder().setMetadata(member.getMetadata().toBuilder().putLabels("zone", "b")).build();
        Node left = PoolMembership.apply(edited, null);
        assertEquals(Map.of("region", "mine", "zone", "b"), left.getMetadata().getLabelsMap());
        assertEquals(List.of(own), left.getSpec().getTaintsList());
        assertTrue(left.getMetadata().getAnnotationsMap().isEmpty());
    }

    @Test
    void aPoolClaimingANodeOfAnotherIsAConflictNamingBoth() {
        PoolIndex others = PoolIndex.of(List.of(pool("a", NodePoolSpec.newBuilder().putNodeSelector("site", "a").addNodes("later"))));
        List<Node> nodes = List.of(node("n1", Map.of("site", "a", "rack", "1")), node("n2", Map.of(POOL, "b", "rack", "2")));
        assertEquals("node \"n1\" is already in pool \"a\" (matching its spec.node_selector); a node is in at most one pool",
                PoolMembership.conflict(pool("b", NodePoolSpec.newBuilder().putNodeSelector("rack", "1")), nodes, others).orElseThrow());
        assertEquals("node \"later\" is already in pool \"a\" (listed in its spec.nodes); a node is in at most one pool",
                PoolMembership.conflict(pool("b", NodePoolSpec.newBuilder().addNodes("later")), nodes, others).orElseThrow());
        assertTrue(PoolMembership.conflict(pool("b", NodePoolSpec.newBuilder().putNodeSelector("rack", "2")), nodes, others).isEmpty(),
                "n2 is in b by its own label");
        // A pool's own labels are not the node's: they never make it match another selector.
        Node labelledByA = PoolMembership.apply(node("n3", Map.of("site", "a")),
                pool("a", NodePoolSpec.newBuilder().putLabels("tier", "edge")));
        assertTrue(PoolMembership.conflict(pool("c", NodePoolSpec.newBuilder().putNodeSelector("tier", "edge")),
                List.of(labelledByA), PoolIndex.of(List.of(pool("a", NodePoolSpec.newBuilder().putNodeSelector("site", "a"))))).isEmpty());
    }
}
