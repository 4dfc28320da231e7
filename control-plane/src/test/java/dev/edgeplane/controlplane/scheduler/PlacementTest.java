package dev.edgeplane.controlplane.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeSpec;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Taint;
import dev.edgeplane.api.v1.Toleration;
import dev.edgeplane.controlplane.join.Joiner;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Pure placement logic: no etcd, no Quarkus. */
class PlacementTest {
    private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");

    static Node node(String name, NodeStatus.Phase phase, Map<String, String> labels, Taint... taints) {
        return Node.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name).putAllLabels(labels))
                .setSpec(NodeSpec.newBuilder().addAllTaints(List.of(taints)))
                .setStatus(NodeStatus.newBuilder().setPhase(phase).setLastHeartbeat(Joiner.timestamp(NOW.minusSeconds(60))))
                .build();
    }

    static Node ready(String name, Taint... taints) {
        return node(name, NodeStatus.Phase.READY, Map.of(), taints);
    }

    static App app(String name, int replicas) {
        return App.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).setNamespace("default"))
                .setSpec(AppSpec.newBuilder().setReplicas(replicas)).build();
    }

    static App with(App app, java.util.function.UnaryOperator<AppSpec.Builder> change) {
        return app.toBuilder().setSpec(change.apply(app.getSpec().toBuilder())).build();
    }

    static Taint taint(String key, Taint.Effect effect) {
        return Taint.newBuilder().setKey(key).setValue("true").setEffect(effect).build();
    }

    @Test
    void spreadsReplicasAcrossNodesPreferringTheLeastLoaded() {
        List<Node> nodes = List.of(ready("a"), ready("b"), ready("c"));
        Map<String, String> placed = Placement.place(app("web", 3), nodes, Map.of(), Map.of(), NOW);
        assertEquals(3, placed.size());
        assertEquals(3, Map.copyOf(placed).values().stream().distinct().count(), "one per node: " + placed);

        // With other apps loading a and b, two replicas go to c first... then spread.
        Map<String, String> two = Placement.place(app("api", 2), nodes, Map.of(), Map.of("a", 5, "b", 1), NOW);
        assertEquals(Map.of("api-0", "c", "api-1", "b"), two);

        // More replicas than nodes: evenly 2/2/1.
        Map<String, String> five = Placement.place(app("big", 5), nodes, Map.of(), Map.of(), NOW);
        Map<String, Integer> perNode = new HashMap<>();
        five.values().forEach(n -> perNode.merge(n, 1, Integer::sum));
        assertTrue(perNode.values().stream().allMatch(c -> c >= 1 && c <= 2), perNode.toString());
    }

    @Test
    void onlyReadySchedulableNodesGetNewReplicas() {
        Node cordoned = ready("cordoned").toBuilder().setSpec(NodeSpec.newBuilder().setUnschedulable(true)).build();
        List<Node> nodes = List.of(node("joining", NodeStatus.Phase.NOT_READY, Map.of()),
                node("gone", NodeStatus.Phase.UNREACHABLE, Map.of()), cordoned, ready("ok"));
        assertEquals(Map.of("web-0", "ok", "web-1", "ok"), Placement.place(app("web", 2), nodes, Map.of(), Map.of(), NOW));
        assertEquals(Map.of(), Placement.place(app("web", 2), nodes.subList(0, 3), Map.of(), Map.of(), NOW), "pending: nowhere to go");
    }

    @Test
    void nodeSelectorMustMatch() {
        List<Node> nodes = List.of(node("berlin", NodeStatus.Phase.READY, Map.of("site", "berlin")),
                node("paris", NodeStatus.Phase.READY, Map.of("site", "paris", "gpu", "yes")));
        App app = with(app("web", 2), s -> s.putNodeSelector("site", "paris"));
        assertEquals(Map.of("web-0", "paris", "web-1", "paris"), Placement.place(app, nodes, Map.of(), Map.of(), NOW));
        App none = with(app("web", 1), s -> s.putNodeSelector("site", "rome"));
        assertEquals(Map.of(), Placement.place(none, nodes, Map.of(), Map.of(), NOW));
    }

    @Test
    void taintsNeedTolerations() {
        List<Node> nodes = List.of(ready("tainted", taint("dedicated", Taint.Effect.NO_SCHEDULE)),
                ready("evicting", taint("maintenance", Taint.Effect.NO_EXECUTE)),
                ready("soft", taint("slow", Taint.Effect.PREFER_NO_SCHEDULE)));
        assertEquals(Map.of("web-0", "soft"), Placement.place(app("web", 1), nodes.subList(0, 3), Map.of(), Map.of(), NOW),
                "PreferNoSchedule never blocks; NoSchedule and NoExecute do");

        App tolerant = with(app("web", 3), s -> s
                .addTolerations(Toleration.newBuilder().setKey("dedicated").setOperator(Toleration.Operator.EQUAL).setValue("true"))
                .addTolerations(Toleration.newBuilder().setKey("maintenance").setOperator(Toleration.Operator.EXISTS)
                        .setEffect(Taint.Effect.NO_EXECUTE)));
        assertEquals(3, Map.copyOf(Placement.place(tolerant, nodes, Map.of(), Map.of(), NOW)).values().stream().distinct().count());

        App wrongValue = with(app("web", 1), s -> s.addTolerations(Toleration.newBuilder().setKey("dedicated").setValue("false")));
        assertFalse(Placement.place(wrongValue, nodes.subList(0, 1), Map.of(), Map.of(), NOW).containsKey("web-0"));
        App wrongEffect = with(app("web", 1), s -> s.addTolerations(Toleration.newBuilder().setKey("maintenance")
                .setOperator(Toleration.Operator.EXISTS).setEffect(Taint.Effect.NO_SCHEDULE)));
        assertFalse(Placement.place(wrongEffect, nodes.subList(1, 2), Map.of(), Map.of(), NOW).containsKey("web-0"));
        App everything = with(app("web", 1), s -> s.addTolerations(Toleration.newBuilder().setOperator(Toleration.Operator.EXISTS)));
        assertEquals(1, Placement.place(everything, nodes.subList(0, 2), Map.of(), Map.of(), NOW).size());
    }

    @Test
    void existingPlacementsStayPut() {
        List<Node> nodes = List.of(ready("a"), ready("b"), ready("c"));
        Map<String, String> current = Map.of("web-0", "c", "web-1", "c");
        // Even though a and b are emptier, placed replicas do not move.
        assertEquals(Map.of("web-0", "c", "web-1", "c", "web-2", "a"), Placement.place(app("web", 3), nodes, current, Map.of(), NOW));
        // Scale down removes the highest ordinals, keeps the rest where they are.
        assertEquals(Map.of("web-0", "c"), Placement.place(app("web", 1), nodes, current, Map.of(), NOW));

        // An unreachable node keeps its replicas (autonomy), a NoSchedule taint added later does not evict...
        List<Node> later = List.of(node("a", NodeStatus.Phase.UNREACHABLE, Map.of()),
                ready("b", taint("dedicated", Taint.Effect.NO_SCHEDULE)), ready("c", taint("drain", Taint.Effect.NO_EXECUTE)));
        Map<String, String> kept = Placement.place(app("web", 3), later, Map.of("web-0", "a", "web-1", "b", "web-2", "c"), Map.of(), NOW);
        assertEquals("a", kept.get("web-0"));
        assertEquals("b", kept.get("web-1"));
        // ...but NoExecute does, and there is nowhere else to go.
        assertFalse(kept.containsKey("web-2"));

        // A deleted node's replica moves to a live one.
        assertEquals(Map.of("web-0", "b"), Placement.place(app("web", 1), List.of(ready("b")), Map.of("web-0", "a"), Map.of(), NOW));

        // With reschedule_after_unreachable, a long-gone node's replicas move.
        App impatient = with(app("web", 1), s -> s.setRescheduleAfterUnreachable(com.google.protobuf.Duration.newBuilder().setSeconds(30)));
        assertEquals(Map.of("web-0", "b"), Placement.place(impatient, List.of(node("a", NodeStatus.Phase.UNREACHABLE, Map.of()), ready("b")),
                Map.of("web-0", "a"), Map.of(), NOW));
        App patient = with(app("web", 1), s -> s.setRescheduleAfterUnreachable(com.google.protobuf.Duration.newBuilder().setSeconds(3600)));
        assertEquals(Map.of("web-0", "a"), Placement.place(patient, List.of(node("a", NodeStatus.Phase.UNREACHABLE, Map.of()), ready("b")),
                Map.of("web-0", "a"), Map.of(), NOW));
    }

    @Test
    void everyNodeRunsOneReplicaPerMatchingNode() {
        App daemon = with(app("agent", 0), s -> s.setMode(AppSpec.Mode.EVERY_NODE).putNodeSelector("role", "edge"));
        List<Node> nodes = List.of(node("e1", NodeStatus.Phase.READY, Map.of("role", "edge")),
                node("e2", NodeStatus.Phase.NOT_READY, Map.of("role", "edge")),
                node("core", NodeStatus.Phase.READY, Map.of("role", "core")),
                node("e3", NodeStatus.Phase.READY, Map.of("role", "edge"), taint("dedicated", Taint.Effect.NO_SCHEDULE)));
        assertEquals(Map.of("agent-e1", "e1", "agent-e2", "e2"), Placement.place(daemon, nodes, Map.of(), Map.of(), NOW));

        // A node joins: it gets one; a node leaves: its replica is gone.
        List<Node> grown = new java.util.ArrayList<>(nodes);
        grown.add(node("e4", NodeStatus.Phase.READY, Map.of("role", "edge")));
        grown.remove(0);
        assertEquals(Map.of("agent-e2", "e2", "agent-e4", "e4"),
                Placement.place(daemon, grown, Map.of("agent-e1", "e1", "agent-e2", "e2"), Map.of(), NOW));

        // Cordoning keeps an existing one; a new cordoned node gets none.
        Node cordoned = nodes.get(0).toBuilder().setSpec(NodeSpec.newBuilder().setUnschedulable(true)).build();
        assertEquals(Map.of("agent-e1", "e1"), Placement.place(daemon, List.of(cordoned), Map.of("agent-e1", "e1"), Map.of(), NOW));
        assertEquals(Map.of(), Placement.place(daemon, List.of(cordoned), Map.of(), Map.of(), NOW));
    }

    /**
     * Without a node selector, placement reads only the least loaded nodes from the index; with one
     * that every node matches, it looks at them all. Both must say the same, in fleets where nodes are
     * not ready, cordoned, full or already hold the App.
     */
    @Test
    void placingFromTheLeastLoadedNodesDecidesAsLookingAtTheWholeFleet() {
        java.util.Random random = new java.util.Random(42);
        dev.edgeplane.api.v1.PodTemplate template = dev.edgeplane.api.v1.PodTemplate.newBuilder()
                .addContainers(dev.edgeplane.api.v1.Container.newBuilder().setName("c").setImage("i:1")
                        .setRequests(dev.edgeplane.api.v1.Resources.newBuilder().setCpuMillis(100)))
                .build();
        PodRequests requests = PodRequests.of(template);
        for (int round = 0; round < 200; round++) {
            int size = 1 + random.nextInt(300);
            NodeIndex index = new NodeIndex();
            List<String> names = new java.util.ArrayList<>();
            for (int i = 0; i < size; i++) {
                String name = "n" + i;
                names.add(name);
                NodeStatus.Phase phase = random.nextInt(10) == 0 ? NodeStatus.Phase.UNREACHABLE : NodeStatus.Phase.READY;
                Node node = node(name, phase, Map.of("fleet", "all"));
                int capacity = List.of(0, 150, 250, 1000).get(random.nextInt(4)); // 0: not reported, not checked
                node = node.toBuilder().setSpec(node.getSpec().toBuilder().setUnschedulable(random.nextInt(20) == 0))
                        .setStatus(node.getStatus().toBuilder().setCapacity(dev.edgeplane.api.v1.Resources.newBuilder()
                                .setCpuMillis(capacity))).build();
                index.put(node);
                for (int r = random.nextInt(4); r > 0; r--) {
                    index.count(name, requests, 1);
                }
            }
            int replicas = random.nextInt(2 * size + 3);
            Map<String, String> current = new HashMap<>();
            Map<String, Integer> ownLoad = new HashMap<>();
            for (int r = 0; r < replicas + 3; r++) { // some placed already, some of them beyond the replicas wanted
                if (random.nextInt(3) == 0) {
                    String at = names.get(random.nextInt(size));
                    current.put("web-" + r, at);
                    ownLoad.merge(at, 1, Integer::sum);
                    index.count(at, requests, 1);
                }
            }
            App anywhere = with(app("web", replicas), s -> s.setTemplate(template));
            App everywhereSelected = with(anywhere, s -> s.putNodeSelector("fleet", "all"));
            int budget = random.nextBoolean() ? Integer.MAX_VALUE : 1 + random.nextInt(size);
            Placement.Result fromTheFew = Placement.place(anywhere, index, current, ownLoad, NOW, java.util.Optional.empty(), budget);
            Placement.Result fromAll = Placement.place(everywhereSelected, index, current, ownLoad, NOW, java.util.Optional.empty(), budget);
            String round_ = "round " + round + ": " + size + " nodes, " + replicas + " replicas, budget " + budget;
            assertEquals(fromAll.desired(), fromTheFew.desired(), round_);
            assertEquals(fromAll.deferred(), fromTheFew.deferred(), round_);
            assertEquals(fromAll.pending(everywhereSelected), fromTheFew.pending(anywhere), round_);
            assertEquals(fromAll.unschedulable().isPresent(), fromTheFew.unschedulable().isPresent(), round_);
        }
    }
}
