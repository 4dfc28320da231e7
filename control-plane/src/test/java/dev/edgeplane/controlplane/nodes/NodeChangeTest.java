package dev.edgeplane.controlplane.nodes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.controlplane.join.Joiner;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** Which node changes are written at all, and how changes queued for one node coalesce. */
class NodeChangeTest {
    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static final NodeInfo INFO = NodeInfo.newBuilder().setHostname("h1").setAgentVersion("1.0").build();
    private static final NodeStatus READY = NodeStatus.newBuilder().setPhase(NodeStatus.Phase.READY)
            .setHostname("h1").setAgentVersion("1.0").setLastHeartbeat(Joiner.timestamp(T0)).build();
    private static final NodeLiveness.View LIVE = new NodeLiveness.View(true, T0.plusSeconds(30), 42, 3, 4, true);

    @Test
    void aConnectOfANodeNotReadyIsWrittenWithTheLiveValues() {
        NodeStatus joined = NodeStatus.newBuilder().setPhase(NodeStatus.Phase.NOT_READY).build();
        NodeStatus next = NodeChange.connected(INFO, T0.plusSeconds(10)).apply(joined, LIVE, true).orElseThrow();
        assertEquals(NodeStatus.Phase.READY, next.getPhase());
        assertEquals("h1", next.getHostname());
        assertEquals(T0.plusSeconds(30), Joiner.toInstant(next.getLastHeartbeat()), "the newest last-seen known");
        assertEquals(42, next.getAppliedRevision());
        assertEquals(3, next.getRunningReplicas());
    }

    @Test
    void aReconnectOfAReadyNodeWithTheSameInfoWritesNothing() {
        assertTrue(NodeChange.connected(INFO, T0.plusSeconds(60)).apply(READY, LIVE, true).isEmpty());
    }

    @Test
    void newHostInfoIsWrittenEvenWhenAlreadyReady() {
        NodeInfo upgraded = INFO.toBuilder().setAgentVersion("1.1").build();
        assertEquals("1.1", NodeChange.connected(upgraded, T0).apply(READY, LIVE, true).orElseThrow().getAgentVersion());
    }

    @Test
    void aDisconnectPersistsWhenTheNodeWasLastSeen() {
        NodeStatus next = NodeChange.disconnected(T0.plusSeconds(90)).apply(READY, null, false).orElseThrow();
        assertEquals(NodeStatus.Phase.READY, next.getPhase());
        assertEquals(T0.plusSeconds(90), Joiner.toInstant(next.getLastHeartbeat()));
    }

    @Test
    void anUnreachableVerdictAppliesOnlyToAReadyNodeWithNoStream() {
        NodeChange verdict = NodeChange.unreachable(T0.plusSeconds(5));
        NodeStatus next = verdict.apply(READY, null, false).orElseThrow();
        assertEquals(NodeStatus.Phase.UNREACHABLE, next.getPhase());
        assertEquals(T0.plusSeconds(5), Joiner.toInstant(next.getLastHeartbeat()), "when it was last seen");
        assertTrue(verdict.apply(READY, LIVE, true).isEmpty(), "a stream opened meanwhile: void");
        assertTrue(verdict.apply(next, null, false).isEmpty(), "already UNREACHABLE: written once");
        NodeStatus notReady = READY.toBuilder().setPhase(NodeStatus.Phase.NOT_READY).build();
        assertTrue(verdict.apply(notReady, null, false).isEmpty());
    }

    @Test
    void changesCoalesceAndTheLaterConnectOrVerdictWins() {
        NodeChange connectThenLeave = NodeChange.connected(INFO, T0).then(NodeChange.disconnected(T0.plusSeconds(3)));
        assertTrue(connectThenLeave.ready(), "the connect still counts");
        assertTrue(connectThenLeave.persistLastSeen());
        assertEquals(T0.plusSeconds(3), connectThenLeave.lastSeen());

        NodeChange replaced = NodeChange.disconnected(T0).then(NodeChange.connected(INFO, T0.plusMillis(5)));
        assertTrue(replaced.apply(READY, LIVE, true).isEmpty(), "a stream replaced by a new one at once: nothing to write");

        NodeChange verdictThenBack = NodeChange.unreachable(T0).then(NodeChange.connected(INFO, T0.plusSeconds(50)));
        assertNull(verdictThenBack.unreachableSince());
        assertTrue(verdictThenBack.ready());

        NodeChange backThenVerdict = NodeChange.connected(INFO, T0).then(NodeChange.unreachable(T0.plusSeconds(50)));
        assertEquals(T0.plusSeconds(50), backThenVerdict.unreachableSince());
        assertTrue(!backThenVerdict.ready());
        assertEquals(INFO, backThenVerdict.info(), "host info is kept");
    }
}
