package dev.edgeplane.controlplane.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The per-node autonomy switch: off, an UNREACHABLE node's replicas move; the App's toleration still counts. */
class AutonomySwitchTest {
    static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");

    private static Node unreachable(String name, boolean autonomyDisabled, Instant lastHeartbeat) {
        Node n = PlacementTest.node(name, NodeStatus.Phase.UNREACHABLE, Map.of());
        return n.toBuilder().setSpec(n.getSpec().toBuilder().setAutonomyDisabled(autonomyDisabled))
                .setStatus(n.getStatus().toBuilder().setLastHeartbeat(com.google.protobuf.Timestamp.newBuilder()
                        .setSeconds(lastHeartbeat.getEpochSecond())))
                .build();
    }

    @Test
    void aDrainedNodeGivesUpReplicatedReplicasButKeepsEveryNodeOnes() {
        Node a = PlacementTest.ready("a");
        Node drained = a.toBuilder().setSpec(a.getSpec().toBuilder().setUnschedulable(true).setDrained(true)).build();
        Node b = PlacementTest.ready("b");
        assertEquals(Map.of("web-0", "b"), Placement.place(PlacementTest.app("web", 1), List.of(drained, b),
                Map.of("web-0", "a"), Map.of(), NOW));
        App daemon = PlacementTest.with(PlacementTest.app("daemon", 0), s -> s.setMode(dev.edgeplane.api.v1.AppSpec.Mode.EVERY_NODE));
        assertEquals(Map.of("daemon-a", "a", "daemon-b", "b"), Placement.place(daemon, List.of(drained, b),
                Map.of("daemon-a", "a", "daemon-b", "b"), Map.of(), NOW));
    }

    @Test
    void autonomyOffMovesReplicasOfAnUnreachableNode() {
        App web = PlacementTest.app("web", 1);
        Node b = PlacementTest.ready("b");
        assertEquals(Map.of("web-0", "a"), Placement.place(web, List.of(unreachable("a", false, NOW.minusSeconds(600)), b),
                Map.of("web-0", "a"), Map.of(), NOW), "autonomous: kept");
        assertEquals(Map.of("web-0", "b"), Placement.place(web, List.of(unreachable("a", true, NOW.minusSeconds(1)), b),
                Map.of("web-0", "a"), Map.of(), NOW), "autonomy off: moved");
        App patient = PlacementTest.with(web, s -> s.setRescheduleAfterUnreachable(com.google.protobuf.Duration.newBuilder().setSeconds(3600)));
        assertEquals(Map.of("web-0", "a"), Placement.place(patient, List.of(unreachable("a", true, NOW.minusSeconds(60)), b),
                Map.of("web-0", "a"), Map.of(), NOW), "the App's own toleration applies");
    }
}
