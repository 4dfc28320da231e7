package dev.edgeplane.controlplane.nodes;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.BatchingWriter;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.TxnWriter;
import dev.edgeplane.controlplane.store.Write;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.jboss.logging.Logger;

/**
 * Writes replica statuses in batches, through a {@link BatchingWriter}. A report becomes one change
 * per replica key ({@link #plan(String, StatusReport, Function, Collection, Instant)}); changes wait in
 * a bounded queue that keeps the latest per key and are written in transactions of up to
 * {@code perTxn} keys: puts unguarded (a status belongs to the node its replica is assigned to,
 * checked again when planned), deletes guarded by the mod_revision of the status they remove, so
 * another node's status is never removed. A full report finds the node's statuses through
 * {@link ReplicaStatusIndex}: O(that node's replicas).
 */
final class ReplicaStatusWriter implements BatchingWriter.Planner<ReplicaStatusWriter.StatusChange, ReplicaStatus> {
    private static final Logger LOG = Logger.getLogger(ReplicaStatusWriter.class);
    private static final int MAX_ATTEMPTS = 5;

    /** What is to become of one replica-status key. */
    sealed interface StatusChange permits Put, Delete {
        String node();
    }

    /** Write this status (node, namespace and app already taken from the assignment). */
    record Put(String node, ReplicaStatus status) implements StatusChange {}

    /** Remove the status, if it is still {@code node}'s. */
    record Delete(String node) implements StatusChange {}

    private final PrefixCache<ReplicaStatus> statuses;
    private final PrefixCache<Assignment> assignments;
    private final ReplicaStatusIndex index;
    private final BatchingWriter<StatusChange, ReplicaStatus> batches;

    ReplicaStatusWriter(EtcdStore store, PrefixCache<ReplicaStatus> statuses, PrefixCache<Assignment> assignments,
                        TxnWriter writer, int perTxn, int maxTxnsInFlight, int capacity, Duration offerWait) {
        this.statuses = statuses;
        this.assignments = assignments;
        this.index = new ReplicaStatusIndex();
        BatchingWriter.Limits limits = new BatchingWriter.Limits(perTxn, maxTxnsInFlight, capacity, offerWait, MAX_ATTEMPTS, false);
        this.batches = new BatchingWriter<>("replica status", store, statuses, b -> EtcdStore.decode(ReplicaStatus.parser(), b),
                writer, null, limits, (older, newer) -> newer, this);
    }

    /** Builds the node index from the cache and keeps it current (atomically: no event missed). */
    void start() {
        statuses.subscribe(index, (state, revision) -> {
            index.rebuild(state);
            return null;
        });
    }

    void stop() {
        statuses.unsubscribe(index);
    }

    /**
     * The changes a report asks for: statuses of replicas assigned to {@code node} (node, namespace and
     * app from the assignment; stamped {@code now} if the agent gave no time), {@code removed} ones
     * deleted, and for a {@code full} report every other status of the node ({@code nodeKeys}) deleted.
     */
    static final int MAX_REASON = 64;
    private static final java.util.regex.Pattern REASON = java.util.regex.Pattern.compile("([A-Za-z][A-Za-z0-9]{0," + (MAX_REASON - 1) + "})?");

    static Map<String, StatusChange> plan(String node, StatusReport report, Function<String, Entry<Assignment>> assignmentAt,
                                          Collection<String> nodeKeys, Instant now) {
        Map<String, StatusChange> changes = new LinkedHashMap<>();
        Set<String> reported = new HashSet<>();
        for (ReplicaStatus status : report.getReplicasList()) {
            String namespace = status.getNamespace().isEmpty() ? "default" : status.getNamespace();
            reported.add(namespace + "/" + status.getName());
            Entry<Assignment> assignment = assignmentAt.apply(Keys.assignment(node, namespace, status.getName()));
            if (assignment == null) {
                LOG.debugf("ignoring status of %s/%s from %s: not assigned there", namespace, status.getName(), node);
                continue;
            }
            if (!REASON.matcher(status.getReason()).matches()) {
                // A rollout reads the reason (failures): only a short word, as Kubernetes' waiting reasons are, is kept.
                LOG.infof("refused the status of %s/%s from %s: replicas[].reason must be a word of at most %d letters or digits",
                        namespace, status.getName(), node, MAX_REASON);
                continue;
            }
            // Node, namespace and app come from the assignment, not from what the agent says.
            ReplicaStatus.Builder normalised = status.toBuilder().setNamespace(namespace).setNode(node)
                    .setApp(assignment.value().getApp());
            if (!normalised.hasUpdateTime()) {
                normalised.setUpdateTime(Joiner.timestamp(now));
            }
            changes.put(Keys.replicaStatus(namespace, status.getName()), new Put(node, normalised.build()));
        }
        for (String removed : report.getRemovedList()) {
            changes.put(Keys.REPLICA_STATUS + (removed.contains("/") ? removed : "default/" + removed), new Delete(node));
        }
        if (report.getFull()) {
            for (String key : nodeKeys) {
                if (!reported.contains(Keys.suffix(key, Keys.REPLICA_STATUS)) && !changes.containsKey(key)) {
                    changes.put(key, new Delete(node));
                }
            }
        }
        return changes;
    }

    /**
     * Queues what {@code report} changes; may wait for room (backpressure on the reporting stream).
     * True when the writer was idle before (nothing waiting, nothing in flight): the caller flushes at
     * once rather than at the next flush interval, so a quiet node's RUNNING is not held back; under
     * load changes keep gathering into batches between flushes.
     */
    boolean report(String node, StatusReport report, Instant now) {
        Map<String, StatusChange> changes = plan(node, report, assignments::get, report.getFull() ? index.keysOf(node) : Set.of(), now);
        if (changes.isEmpty()) {
            return false;
        }
        boolean wasIdle = batches.idle();
        for (Map.Entry<String, StatusChange> change : changes.entrySet()) {
            if (change.getValue() instanceof Put) {
                index.add(node, change.getKey()); // a full report right after this one must see it
            }
        }
        // A full queue refuses (counted, logged by the writer): the agent's next report of those replicas is written.
        batches.offer(changes);
        return wasIdle;
    }

    boolean idle() {
        return batches.idle();
    }

    int waiting() {
        return batches.waiting();
    }

    long refused() {
        return batches.refused();
    }

    long txns() {
        return batches.txns();
    }

    long writes() {
        return batches.writes();
    }

    long conflicts() {
        return batches.conflicts();
    }

    /** Plans and sends what waits, as far as the transactions in flight allow. Runs on the flusher thread. */
    void flush() {
        batches.flush();
    }

    @Override
    public BatchingWriter.Plan<ReplicaStatus> plan(String key, StatusChange change, Entry<ReplicaStatus> current, boolean reread) {
        if (change instanceof Put put) {
            ReplicaStatus status = put.status();
            boolean stillAssigned = assignments.get(Keys.assignment(put.node(), status.getNamespace(), status.getName())) != null;
            if (!stillAssigned || (current != null && sameIgnoringTime(current.value(), status))) {
                return new BatchingWriter.Skip<>();
            }
            return new BatchingWriter.Send<>(Write.put(key, status.toByteArray()), status, null, false);
        }
        String node = change.node();
        if (current == null || !node.equals(current.value().getNode())) {
            if (current == null || reread) {
                index.remove(node, key);
            }
            return new BatchingWriter.Skip<>(); // gone already, or another node's now: not ours to remove
        }
        return new BatchingWriter.Send<>(Write.delete(key), null, BatchingWriter.unchangedSince(key, current.modRevision()), false);
    }

    @Override
    public void landed(String key, StatusChange change, Entry<ReplicaStatus> before, BatchingWriter.Send<ReplicaStatus> sent) {
        if (change instanceof Delete) {
            index.remove(change.node(), key);
        }
    }

    static boolean sameIgnoringTime(ReplicaStatus a, ReplicaStatus b) {
        return a.toBuilder().clearUpdateTime().build().equals(b.toBuilder().clearUpdateTime().build());
    }
}
