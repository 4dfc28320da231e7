package dev.edgeplane.controlplane.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.Resources;
import dev.edgeplane.controlplane.join.Joiner;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class NodeIndexTest {
    private static Set<String> names(List<Node> nodes) {
        return nodes.stream().map(n -> n.getMetadata().getName()).collect(Collectors.toSet());
    }

    @Test
    void findsASelectorsNodesThroughTheLabelIndexAndFollowsLabelChanges() {
        NodeIndex index = NodeIndex.of(List.of(
                PlacementTest.node("a", NodeStatus.Phase.READY, Map.of("zone", "x", "gpu", "yes")),
                PlacementTest.node("b", NodeStatus.Phase.READY, Map.of("zone", "x")),
                PlacementTest.node("c", NodeStatus.Phase.READY, Map.of("zone", "y"))));
        assertEquals(Set.of("a", "b", "c"), names(index.matching(Map.of())));
        assertEquals(Set.of("a", "b"), names(index.matching(Map.of("zone", "x"))));
        assertEquals(Set.of("a"), names(index.matching(Map.of("zone", "x", "gpu", "yes"))));
        assertEquals(Set.of(), names(index.matching(Map.of("zone", "z"))));

        assertTrue(index.put(PlacementTest.node("b", NodeStatus.Phase.READY, Map.of("zone", "y"))), "a label change matters");
        assertEquals(Set.of("a"), names(index.matching(Map.of("zone", "x"))));
        assertEquals(Set.of("b", "c"), names(index.matching(Map.of("zone", "y"))));
        assertTrue(index.remove("c"));
        assertFalse(index.remove("c"));
        assertEquals(Set.of("b"), names(index.matching(Map.of("zone", "y"))));
        assertEquals(2, index.size());
    }

    @Test
    void heartbeatsAndStatusDetailsAreNotPlacementChanges() {
        Node ready = PlacementTest.ready("a");
        NodeIndex index = NodeIndex.of(List.of(ready));
        Node heartbeat = ready.toBuilder().setStatus(ready.getStatus().toBuilder()
                .setLastHeartbeat(Joiner.timestamp(Instant.parse("2026-01-02T00:00:00Z")))
                .setAppliedRevision(42).setRunningReplicas(3).setAgentVersion("2.0")).build();
        assertFalse(index.put(heartbeat), "heartbeat, applied revision, replica counts, version");

        assertTrue(NodeIndex.placementChanged(ready, ready.toBuilder().setStatus(ready.getStatus().toBuilder()
                .setPhase(NodeStatus.Phase.UNREACHABLE)).build()), "phase");
        assertTrue(NodeIndex.placementChanged(ready, ready.toBuilder().setSpec(ready.getSpec().toBuilder()
                .setUnschedulable(true)).build()), "cordon");
        assertTrue(NodeIndex.placementChanged(ready, ready.toBuilder().setSpec(ready.getSpec().toBuilder()
                .setDrained(true)).build()), "drain");
        assertTrue(NodeIndex.placementChanged(ready, ready.toBuilder().setSpec(ready.getSpec().toBuilder()
                .addTaints(PlacementTest.taint("k", dev.edgeplane.api.v1.Taint.Effect.NO_SCHEDULE))).build()), "taint");
        assertTrue(NodeIndex.placementChanged(ready, ready.toBuilder().setStatus(ready.getStatus().toBuilder()
                .setCapacity(Resources.newBuilder().setMemoryBytes(1 << 30))).build()), "capacity");
        assertTrue(NodeIndex.placementChanged(ready, ready.toBuilder().setMetadata(ready.getMetadata().toBuilder()
                .putLabels("zone", "x")).build()), "labels");
        assertTrue(index.put(PlacementTest.ready("new")), "a new node");
    }

    @Test
    void countsReplicasAndWhatTheyReservePerNode() {
        NodeIndex index = new NodeIndex();
        PodRequests web = new PodRequests(250, 64L << 20, List.of("8088/tcp"));
        index.count("a", web, 1);
        index.count("a", PodRequests.NONE, 1);
        index.count("b", web, 1);
        assertEquals(new NodeIndex.Usage(2, 250, 64L << 20, Map.of("8088/tcp", 1)), index.usage("a"));
        index.count("a", web, -1);
        assertEquals(1, index.replicas("a"));
        assertEquals(NodeIndex.Usage.NONE.hostPorts(), index.usage("a").hostPorts(), "the port is free again");
        assertEquals(0, index.usage("a").cpuMillis());
        index.count("b", web, -1);
        assertEquals(0, index.replicas("b"));
        assertEquals(NodeIndex.Usage.NONE, index.usage("unknown"));
    }

    @Test
    void findsTheLeastLoadedNodesInOrderLookingOnlyAtThoseItReturns() {
        NodeIndex index = new NodeIndex();
        for (String name : List.of("a", "b", "c", "d", "e")) {
            index.put(PlacementTest.ready(name));
        }
        index.count("a", PodRequests.NONE, 1);
        index.count("a", PodRequests.NONE, 1);
        index.count("b", PodRequests.NONE, 1);
        index.count("ghost", PodRequests.NONE, 1); // a node not (yet) in the index: counted, never returned
        assertEquals(List.of(new NodeIndex.Load("c", 0), new NodeIndex.Load("d", 0), new NodeIndex.Load("e", 0),
                new NodeIndex.Load("b", 1), new NodeIndex.Load("a", 2)), index.leastLoaded(10, n -> true));

        int[] looked = {0};
        assertEquals(List.of(new NodeIndex.Load("c", 0), new NodeIndex.Load("d", 0)), index.leastLoaded(2, n -> ++looked[0] > 0));
        assertEquals(2, looked[0], "stops once it has enough");
        assertEquals(List.of(new NodeIndex.Load("d", 0), new NodeIndex.Load("b", 1)),
                index.leastLoaded(2, n -> !Set.of("c", "e").contains(n.getMetadata().getName())), "skips what is not eligible");

        // The order follows the counts, node changes and removals.
        index.count("a", PodRequests.NONE, -1);
        index.count("a", PodRequests.NONE, -1);
        index.count("c", PodRequests.NONE, 1);
        index.put(PlacementTest.ready("d").toBuilder().setMetadata(PlacementTest.ready("d").getMetadata().toBuilder()
                .putLabels("zone", "x")).build());
        index.remove("e");
        index.put(PlacementTest.ready("ghost"));
        assertEquals(List.of("a", "d", "b", "c", "ghost"), index.leastLoaded(10, n -> true).stream().map(NodeIndex.Load::node).toList());
        index.clearReplicas();
        assertEquals(List.of("a", "b", "c", "d", "ghost"), index.leastLoaded(10, n -> true).stream().map(NodeIndex.Load::node).toList());
    }
}
