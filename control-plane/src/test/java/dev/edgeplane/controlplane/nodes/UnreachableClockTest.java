package dev.edgeplane.controlplane.nodes;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Instant;
import org.junit.jupiter.api.Test;

/** Where a READY node's unreachable-after counts from (NodeTracker.judgedFrom): pure, no etcd. */
class UnreachableClockTest {
    private static final Instant STARTED = Instant.parse("2026-12-06T05:00:00Z");

    @Test
    void aNodeSeenHereCountsFromWhenItWasLastSeenWhateverTheBacklog() {
        Instant seen = STARTED.plusSeconds(30);
        assertEquals(seen, NodeTracker.judgedFrom(seen, true, STARTED.plusSeconds(90), STARTED));
    }

    @Test
    void aNodeNotBackSinceTheStartCountsFromTheBacklogsEnd() {
        assertEquals(STARTED.plusSeconds(90), NodeTracker.judgedFrom(STARTED, false, STARTED.plusSeconds(90), STARTED));
    }

    @Test
    void withoutABacklogANodeNotBackCountsFromTheStart() {
        assertEquals(STARTED, NodeTracker.judgedFrom(STARTED, false, Instant.MIN, STARTED));
        assertEquals(STARTED, NodeTracker.judgedFrom(STARTED, false, STARTED.minusSeconds(5), STARTED));
    }

    @Test
    void aBacklogThatNeverEndsPostponesTheVerdictTenMinutesAtMost() {
        Instant flood = STARTED.plusSeconds(3_600);
        assertEquals(STARTED.plus(NodeTracker.MAX_BACKLOG_GRACE), NodeTracker.judgedFrom(STARTED, false, flood, STARTED));
    }

    @Test
    void aHeartbeatPersistedAfterTheCapStillCounts() {
        Instant persisted = STARTED.plusSeconds(900);
        assertEquals(persisted, NodeTracker.judgedFrom(persisted, false, STARTED.plusSeconds(3_600), STARTED));
    }
}
