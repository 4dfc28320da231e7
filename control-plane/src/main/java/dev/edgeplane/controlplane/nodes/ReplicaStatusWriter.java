package dev.edgeplane.controlplane.nodes;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.BatchGet;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.RecentWrites;
import dev.edgeplane.controlplane.store.TxnWriter;
import dev.edgeplane.controlplane.store.Write;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.jboss.logging.Logger;

/**
 * Writes replica statuses in batches. A report becomes one change per replica key ({@link #plan});
 * changes wait in a bounded queue that keeps the latest per key, and each flush writes what waits in
 * transactions of up to {@code perTxn} keys: puts unguarded (a status belongs to the node its
 * replica is assigned to, checked again when planned), deletes guarded by the mod_revision of the
 * status they remove, so another node's status is never removed. A full report finds the node's
 * statuses through {@link ReplicaStatusIndex}: O(that node's replicas).
 */
final class ReplicaStatusWriter {
    private static final Logger LOG = Logger.getLogger(ReplicaStatusWriter.class);
    private static final int MAX_ATTEMPTS = 5;
    /** Take-plan-send rounds per flush at most (each takes up to the room in flight). */
    private static final int MAX_ROUNDS = 64;
    private static final long REFUSAL_LOG_NANOS = 10_000_000_000L;

    /** What is to become of one replica-status key. */
    sealed interface StatusChange permits Put, Delete {
        String node();
    }

    /** Write this status (node, namespace and app already taken from the assignment). */
    record Put(String node, ReplicaStatus status) implements StatusChange {}

    /** Remove the status, if it is still {@code node}'s. */
    record Delete(String node) implements StatusChange {}

    private record Planned(String key, StatusChange change, Write write, long guard) {}

    private final EtcdStore store;
    private final PrefixCache<ReplicaStatus> statuses;
    private final PrefixCache<Assignment> assignments;
    private final TxnWriter writer;
    private final ReplicaStatusIndex index;
    private final int perTxn;
    private final int maxTxnsInFlight;
    private final RecentWrites<ReplicaStatus> written;
    private final PendingWrites<StatusChange> pending;
    private final Backoff backoff = new Backoff();
    private final AtomicLong txns = new AtomicLong();
    private final AtomicLong writes = new AtomicLong();
    private final AtomicLong conflicts = new AtomicLong();
    private int txnsInFlight; // guarded by this
    private long lastRefusalLog; // guarded by this
    private long refusedSinceLog; // guarded by this

    ReplicaStatusWriter(EtcdStore store, PrefixCache<ReplicaStatus> statuses, PrefixCache<Assignment> assignments,
                        TxnWriter writer, int perTxn, int maxTxnsInFlight, int capacity, Duration offerWait) {
        this.store = store;
        this.statuses = statuses;
        this.assignments = assignments;
        this.writer = writer;
        this.perTxn = perTxn;
        this.maxTxnsInFlight = maxTxnsInFlight;
        this.index = new ReplicaStatusIndex();
        this.written = new RecentWrites<>(statuses);
        this.pending = new PendingWrites<>(capacity, MAX_ATTEMPTS, offerWait, (older, newer) -> newer);
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

    /** Queues what {@code report} changes; may wait for room (backpressure on the reporting stream). */
    void report(String node, StatusReport report, Instant now) {
        Map<String, StatusChange> changes = plan(node, report, assignments::get, report.getFull() ? index.keysOf(node) : Set.of(), now);
        if (changes.isEmpty()) {
            return;
        }
        for (Map.Entry<String, StatusChange> change : changes.entrySet()) {
            if (change.getValue() instanceof Put) {
                index.add(node, change.getKey()); // a full report right after this one must see it
            }
        }
        List<String> refused = pending.offer(changes);
        if (!refused.isEmpty()) {
            refusedLog(node, refused.size());
        }
    }

    private void refusedLog(String node, int count) {
        long now = System.nanoTime();
        synchronized (this) {
            refusedSinceLog += count;
            if (lastRefusalLog != 0 && now - lastRefusalLog < REFUSAL_LOG_NANOS) {
                return;
            }
            lastRefusalLog = now;
            LOG.warnf("replica status queue full: %d status changes refused since the last warning (latest from node %s); "
                    + "the agent's next report of them is written", refusedSinceLog, node);
            refusedSinceLog = 0;
        }
    }

    boolean idle() {
        return pending.idle();
    }

    int waiting() {
        return pending.size();
    }

    long refused() {
        return pending.refused();
    }

    long txns() {
        return txns.get();
    }

    long writes() {
        return writes.get();
    }

    long conflicts() {
        return conflicts.get();
    }

    /** Plans and sends what waits, as far as the transactions in flight allow. Runs on the flusher thread. */
    void flush() {
        if (!backoff.ready()) {
            return;
        }
        written.prune();
        // Changes that turn out to need no write (most of a reconnect storm) take no room: go on taking.
        for (int round = 0; round < MAX_ROUNDS; round++) {
            if (!flushSome()) {
                return;
            }
        }
    }

    /** Takes what the transactions in flight leave room for and sends it; false when nothing more can go now. */
    private boolean flushSome() {
        int room;
        synchronized (this) {
            room = (maxTxnsInFlight - txnsInFlight) * perTxn;
        }
        if (room <= 0 || !backoff.ready()) {
            return false;
        }
        List<Map.Entry<String, StatusChange>> taken = pending.take(room);
        if (taken.isEmpty()) {
            return false;
        }
        List<String> stale = new ArrayList<>();
        for (Map.Entry<String, StatusChange> item : taken) {
            if (pending.isStale(item.getKey())) {
                stale.add(item.getKey());
            }
        }
        Map<String, Entry<ReplicaStatus>> reread = new HashMap<>();
        if (!stale.isEmpty()) {
            try {
                BatchGet.read(store, stale).forEach((key, raw) -> reread.put(key, new Entry<>(key,
                        EtcdStore.decode(ReplicaStatus.parser(), raw.value()), raw.modRevision(), raw.createRevision())));
            } catch (RuntimeException e) {
                LOG.warnf("could not re-read %d replica statuses (%s); retrying", stale.size(), e.getMessage());
                backoff.failed();
                taken.forEach(item -> pending.failed(item.getKey(), item.getValue()));
                return false;
            }
        }
        List<Planned> puts = new ArrayList<>();
        List<Planned> deletes = new ArrayList<>();
        for (Map.Entry<String, StatusChange> item : taken) {
            String key = item.getKey();
            Entry<ReplicaStatus> current = pending.isStale(key) ? reread.get(key) : written.current(key);
            if (item.getValue() instanceof Put put) {
                ReplicaStatus status = put.status();
                boolean stillAssigned = assignments.get(Keys.assignment(put.node(), status.getNamespace(), status.getName())) != null;
                if (!stillAssigned || (current != null && sameIgnoringTime(current.value(), status))) {
                    pending.done(key);
                } else {
                    puts.add(new Planned(key, put, Write.put(key, status.toByteArray()), 0));
                }
            } else {
                String node = item.getValue().node();
                if (current == null || !node.equals(current.value().getNode())) {
                    if (current == null || pending.isStale(key)) {
                        index.remove(node, key);
                    }
                    pending.done(key); // gone already, or another node's now: not ours to remove
                } else {
                    deletes.add(new Planned(key, item.getValue(), Write.delete(key), current.modRevision()));
                }
            }
        }
        send(puts);
        send(deletes);
        return true;
    }

    private void send(List<Planned> planned) {
        for (int from = 0; from < planned.size(); from += perTxn) {
            List<Planned> group = List.copyOf(planned.subList(from, Math.min(planned.size(), from + perTxn)));
            List<Write> batch = new ArrayList<>(group.size());
            List<Cmp> guards = new ArrayList<>();
            for (Planned p : group) {
                batch.add(p.write());
                if (p.write().isDelete()) {
                    guards.add(new Cmp(EtcdStore.bytes(p.key()), Cmp.Op.EQUAL, CmpTarget.modRevision(p.guard())));
                }
            }
            synchronized (this) {
                txnsInFlight++;
            }
            writer.commit(batch, guards).whenComplete((revision, error) -> landed(group, revision, error));
        }
    }

    private void landed(List<Planned> group, Long revision, Throwable error) {
        synchronized (this) {
            txnsInFlight--;
        }
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (cause == null) {
            backoff.succeeded();
            txns.incrementAndGet();
            writes.addAndGet(group.size());
            for (Planned p : group) {
                if (p.change() instanceof Put put) {
                    written.put(p.key(), put.status(), revision, 0);
                } else {
                    written.deleted(p.key(), revision);
                    index.remove(p.change().node(), p.key());
                }
                pending.done(p.key());
            }
        } else if (cause instanceof TxnWriter.GuardFailed) {
            // A status to delete changed meanwhile (rewritten by its node, or moved to another): re-read, try again.
            conflicts.incrementAndGet();
            for (Planned p : group) {
                if (!pending.conflicted(p.key(), p.change())) {
                    LOG.warnf("gave up removing replica status %s: it kept changing", p.key());
                }
            }
        } else {
            LOG.warnf("writing %d replica statuses failed (%s); retrying", group.size(), cause.getMessage());
            backoff.failed();
            for (Planned p : group) {
                pending.failed(p.key(), p.change());
            }
        }
    }

    static boolean sameIgnoringTime(ReplicaStatus a, ReplicaStatus b) {
        return a.toBuilder().clearUpdateTime().build().equals(b.toBuilder().clearUpdateTime().build());
    }
}
