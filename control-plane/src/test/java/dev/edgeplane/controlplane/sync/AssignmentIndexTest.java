package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.SyncResponse;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.PrefixCache;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** The index's own logic (history, coalescing, floors, resets) with events fed by hand. */
class AssignmentIndexTest {
    private final AssignmentIndex index = new AssignmentIndex(new NodeCursors(), new InlineSender());

    private static Entry<Assignment> entry(String node, String replica, String image, long rev) {
        Assignment a = Assignment.newBuilder().setNode(node).setNamespace("default").setReplica(replica).setApp("app")
                .setTemplate(dev.edgeplane.api.v1.PodTemplate.newBuilder().addContainers(
                        dev.edgeplane.api.v1.Container.newBuilder().setName("c").setImage(image)))
                .build();
        return new Entry<>("/edgeplane/assignments/" + node + "/default/" + replica, a, rev, rev);
    }

    private void put(Entry<Assignment> e) {
        index.onEvents(List.of(new PrefixCache.Put<>(e, null)), e.modRevision());
    }

    private void delete(String node, String replica, long rev) {
        index.onEvents(List.of(new PrefixCache.Delete<>("/edgeplane/assignments/" + node + "/default/" + replica, rev,
                entry(node, replica, "x", 1))), rev);
    }

    private static final class Recorder implements StreamObserver<SyncResponse> {
        final List<SyncResponse> received = new ArrayList<>();

        public void onNext(SyncResponse value) {
            received.add(value);
        }

        public void onError(Throwable t) {}

        public void onCompleted() {}
    }

    private List<SyncResponse> hello(String node, long revision) {
        Recorder recorder = new Recorder();
        SyncSession session = index.session(node, "hash", recorder);
        index.open(session, revision);
        index.close(session);
        return recorder.received;
    }

    private static Map<String, Change.Type> keys(SyncResponse r) {
        Map<String, Change.Type> out = new TreeMap<>();
        r.getChanges().getChangesList().forEach(c -> out.put(c.getKey(), c.getType()));
        return out;
    }

    @Test
    void deltaIsCoalescedPerKeyAndIncludesDeletions() {
        index.onReset(Map.of(), 10);
        put(entry("n1", "a-0", "v1", 11));
        put(entry("n1", "b-0", "v1", 12));
        put(entry("n2", "c-0", "v1", 13));
        put(entry("n1", "a-0", "v2", 14));
        put(entry("n1", "a-0", "v3", 15));
        delete("n1", "b-0", 16);
        put(entry("n1", "d-0", "v1", 17));
        delete("n1", "d-0", 18);

        SyncResponse after12 = hello("n1", 12).get(0);
        assertTrue(after12.hasChanges());
        assertEquals(18, after12.getChanges().getRevision());
        assertEquals(Map.of("default/a-0", Change.Type.PUT, "default/b-0", Change.Type.DELETE, "default/d-0", Change.Type.DELETE),
                keys(after12));
        assertEquals("v3", after12.getChanges().getChangesList().stream().filter(c -> c.getKey().equals("default/a-0"))
                .findFirst().orElseThrow().getAssignment().getTemplate().getContainers(0).getImage());

        assertEquals(Map.of(), keys(hello("n1", 18).get(0)), "up to date: an empty Changes");
        assertEquals(Map.of("default/c-0", Change.Type.PUT), keys(hello("n2", 10).get(0)), "only the node's own keys");
        assertTrue(hello("n1", 0).get(0).hasSnapshot());
        assertEquals(1, hello("n1", 0).get(0).getSnapshot().getAssignmentsCount());
        assertTrue(hello("n1", 9).get(0).hasSnapshot(), "older than the history: a Snapshot");
        assertTrue(hello("n1", 99).get(0).hasSnapshot(), "newer than anything seen: a Snapshot");
    }

    @Test
    void liveChangesReachOnlyTheirNodeAndAResetSendsSnapshots() {
        index.onReset(Map.of(), 5);
        Recorder n1 = new Recorder();
        Recorder n2 = new Recorder();
        index.open(index.session("n1", "h", n1), 5);
        index.open(index.session("n2", "h", n2), 5);
        put(entry("n1", "a-0", "v1", 6));
        assertEquals(2, n1.received.size());
        assertEquals(6, n1.received.get(1).getChanges().getRevision());
        assertEquals(1, n2.received.size(), "n2 saw only its initial (empty) Changes");

        // The watch was re-listed (e.g. after compaction): history is gone, everyone gets a Snapshot.
        Map<String, Entry<Assignment>> state = new TreeMap<>();
        Entry<Assignment> fresh = entry("n1", "z-0", "v9", 40);
        state.put(fresh.key(), fresh);
        index.onReset(state, 50);
        assertTrue(n1.received.get(2).hasSnapshot());
        assertEquals(50, n1.received.get(2).getSnapshot().getRevision());
        assertEquals("z-0", n1.received.get(2).getSnapshot().getAssignments(0).getReplica());
        assertTrue(n2.received.get(1).hasSnapshot());
        assertTrue(hello("n1", 45).get(0).hasSnapshot(), "a Hello from before the reset cannot be answered exactly");
    }

    @Test
    void prunedTombstonesRaiseTheNodesFloor() {
        index.onReset(Map.of(), 1);
        long rev = 1;
        for (int i = 0; i <= AssignmentIndex.MAX_TOMBSTONES; i++) {
            put(entry("n1", "r-" + i, "v", ++rev));
            delete("n1", "r-" + i, ++rev);
        }
        assertTrue(hello("n1", 3).get(0).hasSnapshot(), "deletions that old were forgotten");
        assertTrue(hello("n1", rev - 2).get(0).hasChanges(), "recent history still answers exactly");
    }
}
