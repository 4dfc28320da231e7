package dev.edgeplane.controlplane.scheduler;

import static dev.edgeplane.controlplane.scheduler.PlacementTest.app;
import static dev.edgeplane.controlplane.scheduler.PlacementTest.node;
import static dev.edgeplane.controlplane.scheduler.PlacementTest.ready;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** A replica whose volume is bound to a node goes there, only there, and stays there. */
class VolumePlacementTest {
    private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");

    @Test
    void unboundVolumeLetsTheReplicaGoAnywhereAndPinnedOneOnlyToItsNode() {
        List<Node> nodes = List.of(ready("a"), ready("b"), ready("c"));
        // Wait-for-first-consumer: nothing bound yet, the usual choice (least loaded: c).
        assertEquals(Map.of("cam-0", "c"), Placement.place(app("cam", 1), nodes, Map.of(), Map.of("a", 3, "b", 2), NOW, Optional.empty()));
        // Bound to b: b, even though it is busier.
        assertEquals(Map.of("cam-0", "b"), Placement.place(app("cam", 1), nodes, Map.of(), Map.of("a", 3, "b", 2), NOW, Optional.of("b")));
        // A replica elsewhere moves to the volume's node.
        assertEquals(Map.of("cam-0", "b"), Placement.place(app("cam", 1), nodes, Map.of("cam-0", "a"), Map.of(), NOW, Optional.of("b")));
    }

    @Test
    void pinnedReplicaWaitsForItsNodeAndNeverMoves() {
        Node away = node("b", NodeStatus.Phase.UNREACHABLE, Map.of());
        List<Node> nodes = List.of(ready("a"), away);
        // Not yet placed and its node is not ready: pending, not elsewhere.
        assertEquals(Map.of(), Placement.place(app("cam", 1), nodes, Map.of(), Map.of(), NOW, Optional.of("b")));
        // Placed there and the App would reschedule after 1 s away: it stays with its data.
        var rescheduling = PlacementTest.with(app("cam", 1), s -> s.setRescheduleAfterUnreachable(
                com.google.protobuf.Duration.newBuilder().setSeconds(1)));
        assertEquals(Map.of("cam-0", "b"), Placement.place(rescheduling, nodes, Map.of("cam-0", "b"), Map.of(), NOW, Optional.of("b")));
        // Its node is gone: pending.
        assertEquals(Map.of(), Placement.place(app("cam", 1), List.of(ready("a")), Map.of("cam-0", "b"), Map.of(), NOW, Optional.of("b")));
    }
}
