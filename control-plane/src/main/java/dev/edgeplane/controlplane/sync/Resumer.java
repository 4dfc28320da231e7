package dev.edgeplane.controlplane.sync;

import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Answers an agent's Hello: resumes from the node's cursor when nothing of it changed since its ack,
 * from memory when the index's history reaches back far enough, else from etcd's history (the node's
 * keys at that revision, and when the gone ones were deleted), and with a Snapshot only when etcd
 * compacted that history. The etcd reads happen outside the index's lock.
 */
final class Resumer {
    static final Duration HISTORY_TIMEOUT = Duration.ofSeconds(5);

    private final AssignmentIndex index;
    private final EtcdStore store;

    Resumer(AssignmentIndex index, EtcdStore store) {
        this.index = index;
        this.store = store;
    }

    /** Registers the session and sends what its agent misses; returns the revision it resumed from. */
    long open(SyncSession session, long lastApplied) {
        String node = session.node();
        // Nothing of the node changed between its ack and its cursor: resume from the newer one.
        long from = index.cursors().resumeFrom(node, lastApplied);
        String prefix = Keys.assignmentsOf(node);
        // Older than this process's memory (e.g. it restarted): etcd's history can still answer.
        Optional<List<String>> keysThen = index.needsKeysAt(node, from) ? store.keysAt(prefix, from) : Optional.empty();
        Map<String, Long> deletedAt = keysThen
                .map(keys -> new DeletionHistory(store, HISTORY_TIMEOUT)
                        .lastDeletions(prefix, from, index.floorOf(node), index.deletedUnrecorded(node, keys)))
                .orElse(Map.of());
        index.open(session, from, keysThen, deletedAt);
        return from;
    }
}
