package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.SyncResponse;
import dev.edgeplane.controlplane.store.Entry;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** A Hello older than the process's memory (a restarted control plane), answered with etcd's keys at R. */
class AssignmentIndexHistoryTest {
    private final AssignmentIndex index = new AssignmentIndex(new NodeCursors(), new InlineSender());

    private static Entry<Assignment> entry(String node, String replica, long rev) {
        Assignment a = Assignment.newBuilder().setNode(node).setNamespace("default").setReplica(replica).setApp("app").build();
        return new Entry<>(key(node, replica), a, rev, rev);
    }

    private static String key(String node, String replica) {
        return "/edgeplane/assignments/" + node + "/default/" + replica;
    }

    private List<SyncResponse> hello(String node, long revision, Optional<List<String>> keysThen) {
        List<SyncResponse> received = new ArrayList<>();
        SyncSession session = index.session(node, "hash", new StreamObserver<>() {
            public void onNext(SyncResponse value) {
                received.add(value);
            }

            public void onError(Throwable t) {}

            public void onCompleted() {}
        });
        index.open(session, revision, keysThen, java.util.Map.of());
        index.close(session);
        return received;
    }

    @Test
    void keysAtTheAgentsRevisionTurnAnOldHelloIntoChanges() {
        // A fresh process listed at 100: a unchanged since 20, b rewritten at 90, c created at 95; d gone.
        index.onReset(Map.of(key("n1", "a"), entry("n1", "a", 20), key("n1", "b"), entry("n1", "b", 90),
                key("n1", "c"), entry("n1", "c", 95)), 100);
        assertTrue(index.needsKeysAt("n1", 50));
        assertFalse(index.needsKeysAt("n1", 100), "memory answers from its own floor on");
        assertFalse(index.needsKeysAt("n1", 0), "revision 0 always gets a snapshot");

        SyncResponse r = hello("n1", 50, Optional.of(List.of(key("n1", "a"), key("n1", "b"), key("n1", "d")))).get(0);
        assertTrue(r.hasChanges(), r.toString());
        assertEquals(100, r.getChanges().getRevision());
        Map<String, Change.Type> got = new TreeMap<>();
        r.getChanges().getChangesList().forEach(c -> got.put(c.getKey(), c.getType()));
        assertEquals(Map.of("default/b", Change.Type.PUT, "default/c", Change.Type.PUT, "default/d", Change.Type.DELETE), got);
    }

    @Test
    void afterARestartOnlyNodesUnchangedSinceTheCheckpointFollowAgain() {
        NodeCursors cursors = index.cursors();
        index.onReset(Map.of(key("n1", "a"), entry("n1", "a", 20), key("n2", "b"), entry("n2", "b", 20),
                key("n3", "c"), entry("n3", "c", 80)), 100);
        cursors.load(Map.of("n1", new NodeCursors.Cursor(10, 50), "n2", new NodeCursors.Cursor(10, 50),
                "n3", new NodeCursors.Cursor(10, 50)));
        // At 50: n2 also had x (deleted since), n3's c was rewritten at 80.
        index.confirmQuiet(List.of("n1", "n2", "n3"), 50, List.of(key("n1", "a"), key("n2", "b"), key("n2", "x"), key("n3", "c")));
        assertEquals(100, cursors.resumeFrom("n1", 10), "unchanged: follows the watch again");
        assertEquals(50, cursors.resumeFrom("n2", 10), "a key deleted since: stays at its checkpoint");
        assertEquals(50, cursors.resumeFrom("n3", 10), "a key rewritten since: stays at its checkpoint");
    }

    @Test
    void withoutEtcdHistoryAnOldHelloGetsASnapshot() {
        index.onReset(Map.of(key("n1", "a"), entry("n1", "a", 20)), 100);
        SyncResponse r = hello("n1", 50, Optional.empty()).get(0);
        assertTrue(r.hasSnapshot());
        assertEquals(1, r.getSnapshot().getAssignmentsCount());
    }
}
