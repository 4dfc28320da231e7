package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** The cursors' own rules: an idle node follows the watch; a change freezes it; an older agent is not moved. */
class NodeCursorsTest {
    private final NodeCursors cursors = new NodeCursors();

    @Test
    void anIdleNodeFollowsTheWatchAndAChangeFreezesItsCursor() {
        cursors.reset(10);
        cursors.changed("n1", 11);
        cursors.advance(11);
        cursors.acked("n1", 11);
        cursors.advance(50); // other nodes' changes or a progress notification
        assertEquals(50, cursors.resumeFrom("n1", 11), "nothing of n1 changed after its ack");
        assertEquals(60, cursors.resumeFrom("n1", 60), "an agent ahead of the cursor keeps its own");
        assertEquals(5, cursors.resumeFrom("n1", 5), "an agent behind its ack (lost journal) resumes from its own");
        assertEquals(0, cursors.resumeFrom("n1", 0), "revision 0 stays a snapshot");
        assertEquals(7, cursors.resumeFrom("unknown", 7));

        cursors.changed("n1", 51);
        cursors.advance(51);
        cursors.advance(80);
        assertEquals(50, cursors.resumeFrom("n1", 11), "quiet only up to the revision before its change");
        cursors.acked("n1", 80);
        assertEquals(80, cursors.resumeFrom("n1", 80));
        cursors.advance(90);
        assertEquals(90, cursors.resumeFrom("n1", 80), "idle again after acking the change");
    }

    @Test
    void aResetOrARestartKeepsWhatWasKnownButStopsFollowing() {
        cursors.reset(10);
        cursors.acked("n1", 10);
        cursors.advance(40);
        cursors.reset(100); // watch re-listed: (40, 100] unknown
        cursors.advance(120);
        assertEquals(40, cursors.resumeFrom("n1", 10));

        NodeCursors restarted = new NodeCursors();
        restarted.reset(200);
        restarted.load(cursors.checkpoint());
        restarted.advance(250);
        assertEquals(new NodeCursors.Cursor(10, 40), restarted.cursor("n1"));
        assertEquals(40, restarted.resumeFrom("n1", 10));
        restarted.acked("n1", 250);
        restarted.advance(300);
        assertEquals(300, restarted.resumeFrom("n1", 250), "following again once it acked past the restart");
    }

    @Test
    void checkpointTextRoundTrips() {
        Map<String, NodeCursors.Cursor> cursors = Map.of("a", new NodeCursors.Cursor(5, 9), "b-2", new NodeCursors.Cursor(7, 7));
        assertEquals(cursors, CursorCheckpoints.decode(CursorCheckpoints.encode(cursors)));
        assertEquals(Map.of(), CursorCheckpoints.decode("something else\nx 1 2\n".getBytes()));
    }
}
