package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.SyncResponse;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.store.TestStores;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.testkit.EtcdServer;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Resumes answered from etcd against a real etcd, across a "restart" (a second set of caches, index and
 * cursors on the same etcd, as a restarted control plane has): an idle node's cursor, moved by etcd's
 * progress notifications and checkpointed, survives a compaction of the agent's own revision; deletions
 * read from etcd's history carry their real revisions.
 */
class ResumeFromEtcdTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private EtcdServer etcd;
    private final List<Process> processes = new ArrayList<>();

    /** The parts of one control-plane process that answer Hellos. */
    private final class Process implements AutoCloseable {
        final EtcdStore store = new EtcdStore(config(etcd.endpoint()), new io.micrometer.core.instrument.simple.SimpleMeterRegistry());
        final StateCaches caches = new StateCaches(store);
        final NodeCursors cursors = new NodeCursors();
        final CursorCheckpoints checkpoints = new CursorCheckpoints(store, caches, cursors, config(etcd.endpoint()));
        final AssignmentIndex index = new AssignmentIndex(caches, cursors, checkpoints, new InlineSender(),
                SyncSession.Limits.DEFAULT, TemplateLookup.none(), ConfigLookup.none());

        Process() {
            caches.start();
            index.start();
            processes.add(this);
        }

        /** What an agent saying it applied up to {@code revision} gets first. */
        SyncResponse hello(String node, long revision) {
            List<SyncResponse> received = new ArrayList<>();
            SyncSession session = index.session(node, "hash", new StreamObserver<>() {
                public void onNext(SyncResponse value) {
                    received.add(value);
                }

                public void onError(Throwable t) {}

                public void onCompleted() {}
            });
            new Resumer(index, store).open(session, revision);
            index.close(session);
            return received.get(0);
        }

        @Override
        public void close() {
            caches.close();
            store.client().close();
        }
    }

    @BeforeEach
    void startEtcd() {
        // Progress notifications every 300 ms instead of etcd's 10 min, so idle cursors move within the test.
        etcd = EtcdServer.start(List.of("--experimental-watch-progress-notify-interval=300ms"));
    }

    @AfterEach
    void stop() {
        processes.forEach(Process::close);
        etcd.close();
    }

    @Test
    void anIdleNodeResumesWithChangesAfterARestartAndACompactionPastItsRevision() throws Exception {
        Process first = new Process();
        put(first, "idle", "a-0");
        await("the index saw the assignment", () -> first.index.assignmentsOf("idle").size() == 1);
        SyncResponse snapshot = first.hello("idle", 0);
        long applied = snapshot.getSnapshot().getRevision();
        first.cursors.acked("idle", applied);

        // Writes elsewhere move etcd's revision; the assignments watch sees none of them, only progress.
        long elsewhere = 0;
        for (int i = 0; i < 10; i++) {
            elsewhere = first.store.put(Keys.ROOT + "unrelated/" + i, new byte[] {1});
        }
        long target = elsewhere;
        await("the idle node's cursor followed etcd's progress", () -> first.cursors.cursor("idle").quietThrough() >= target);
        long quiet = first.cursors.cursor("idle").quietThrough();
        assertTrue(first.checkpoints.write(), "one write for every cursor");
        assertEquals(false, first.checkpoints.write(), "nothing changed: no write");
        first.close();
        processes.remove(first);

        Process second = new Process();
        second.store.client().getKVClient().compact(quiet).get();
        assertTrue(second.store.keysAt(Keys.assignmentsOf("idle"), applied).isEmpty(), "the agent's own revision is compacted");
        SyncResponse resumed = second.hello("idle", applied);
        assertTrue(resumed.hasChanges(), "resumed from the checkpointed cursor, not relisted: " + resumed);
        assertEquals(0, resumed.getChanges().getChangesCount(), resumed.toString());

        // Without a cursor the same Hello costs a snapshot.
        SyncResponse withoutCursor = second.hello("other-idle", applied);
        assertTrue(withoutCursor.hasSnapshot(), withoutCursor.toString());

        // Unchanged since the checkpoint (one keys-only read at start told), the loaded cursor follows again.
        long later = 0;
        for (int i = 0; i < 5; i++) {
            later = second.store.put(Keys.ROOT + "unrelated/later-" + i, new byte[] {1});
        }
        long target2 = later;
        await("the restarted process moves the idle node's cursor", () -> second.cursors.cursor("idle").quietThrough() >= target2);
    }

    @Test
    void deletionsInAResumeAnsweredFromEtcdCarryTheirRealRevision() throws Exception {
        Process first = new Process();
        put(first, "n2", "x-0");
        put(first, "n2", "y-0");
        put(first, "n2", "z-0");
        await("the index saw the assignments", () -> first.index.assignmentsOf("n2").size() == 3);
        long applied = first.hello("n2", 0).getSnapshot().getRevision();
        long yDeleted = first.store.client().getKVClient().delete(EtcdStore.bytes(Keys.assignment("n2", "default", "y-0")))
                .get().getHeader().getRevision();
        long xRewritten = put(first, "n2", "x-0");
        // z is deleted, re-created and deleted again: its last deletion counts.
        first.store.delete(Keys.assignment("n2", "default", "z-0"));
        put(first, "n2", "z-0");
        long zDeleted = first.store.client().getKVClient().delete(EtcdStore.bytes(Keys.assignment("n2", "default", "z-0")))
                .get().getHeader().getRevision();
        first.close();
        processes.remove(first);

        Process second = new Process(); // its memory starts after those deletions
        SyncResponse resumed = second.hello("n2", applied);
        assertTrue(resumed.hasChanges(), resumed.toString());
        Map<String, Change> byKey = new TreeMap<>();
        resumed.getChanges().getChangesList().forEach(c -> byKey.put(c.getKey(), c));
        assertEquals(3, byKey.size(), byKey.toString());
        assertEquals(Change.Type.DELETE, byKey.get("default/y-0").getType());
        assertEquals(yDeleted, byKey.get("default/y-0").getModRevision(), "y's real deletion revision");
        assertEquals(zDeleted, byKey.get("default/z-0").getModRevision(), "z's last deletion");
        assertEquals(Change.Type.PUT, byKey.get("default/x-0").getType());
        assertEquals(xRewritten, byKey.get("default/x-0").getModRevision());
        List<Long> order = resumed.getChanges().getChangesList().stream().map(Change::getModRevision).toList();
        assertEquals(order.stream().sorted().toList(), order, "in revision order");
    }

    private static long put(Process p, String node, String replica) {
        return p.store.put(Keys.assignment(node, "default", replica), Assignment.newBuilder().setNode(node)
                .setNamespace("default").setReplica(replica).setApp("app").build().toByteArray());
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(50);
        }
    }

    /** Just what these parts read: the etcd endpoint, and no timed checkpoints (the test writes them). */
    private static ControlPlaneConfig config(String endpoint) {
        ControlPlaneConfig.Etcd etcdConfig = TestStores.etcd(endpoint);
        ControlPlaneConfig.Agent agent = TestStores.config(ControlPlaneConfig.Agent.class, Map.of("cursorCheckpointInterval", Duration.ZERO));
        return TestStores.config(ControlPlaneConfig.class, Map.of("etcd", etcdConfig, "agent", agent));
    }

}
