package dev.edgeplane.controlplane.nodes;

import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
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
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicLong;
import org.jboss.logging.Logger;

/**
 * Writes Node status changes (phase transitions, host info, last seen at a disconnect) in batches:
 * changes wait in a coalescing queue (one per node, the latest wins) and each flush writes what
 * waits as transactions of up to {@code perTxn} nodes, each node's put compare-guarded on the
 * mod_revision it was planned against, so a concurrent label or spec edit is never overwritten: the
 * transaction fails, its nodes are re-read and tried again (bounded). UNREACHABLE verdicts are also
 * fenced on the leader key. Phase events (NodeReady, NodeUnreachable) are recorded only once the
 * write landed.
 */
final class NodeStatusWriter {
    private static final Logger LOG = Logger.getLogger(NodeStatusWriter.class);
    private static final int MAX_ATTEMPTS = 5;
    /** Take-plan-send rounds per flush at most (each takes up to the room in flight). */
    private static final int MAX_ROUNDS = 64;

    /** One node's planned write. */
    private record Planned(String name, NodeChange change, Entry<Node> base, NodeStatus next) {}

    private final EtcdStore store;
    private final PrefixCache<Node> nodes;
    private final TxnWriter writer;
    private final LeaderLock leader;
    private final NodeLiveness liveness;
    private final EventRecorder events;
    private final int perTxn;
    private final int maxTxnsInFlight;
    private final RecentWrites<Node> written;
    private final PendingWrites<NodeChange> pending;
    private final Backoff backoff = new Backoff();
    private final AtomicLong txns = new AtomicLong();
    private final AtomicLong writes = new AtomicLong();
    private final AtomicLong conflicts = new AtomicLong();
    private int txnsInFlight; // guarded by this

    NodeStatusWriter(EtcdStore store, PrefixCache<Node> nodes, TxnWriter writer, LeaderLock leader, NodeLiveness liveness,
                     EventRecorder events, int perTxn, int maxTxnsInFlight) {
        this.store = store;
        this.nodes = nodes;
        this.writer = writer;
        this.leader = leader;
        this.liveness = liveness;
        this.events = events;
        this.perTxn = perTxn;
        this.maxTxnsInFlight = maxTxnsInFlight;
        this.written = new RecentWrites<>(nodes);
        // One entry per node at most: bounded by the number of Nodes, so never refused.
        this.pending = new PendingWrites<>(Integer.MAX_VALUE, MAX_ATTEMPTS, Duration.ZERO, NodeChange::then);
    }

    void enqueue(String node, NodeChange change) {
        pending.offer(Keys.node(node), change);
    }

    /** What this process knows is stored for {@code node}: its own newer write, else the cache's. */
    Entry<Node> current(String node) {
        return written.current(Keys.node(node));
    }

    boolean verdictWaiting(String node) {
        NodeChange waiting = pending.waiting(Keys.node(node));
        return waiting != null && waiting.unreachableSince() != null;
    }

    boolean idle() {
        return pending.idle();
    }

    int waiting() {
        return pending.size();
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
        List<Map.Entry<String, NodeChange>> taken = pending.take(room);
        if (taken.isEmpty()) {
            return false;
        }
        Map<String, Entry<Node>> bases = new HashMap<>();
        List<String> toRead = new ArrayList<>();
        for (Map.Entry<String, NodeChange> item : taken) {
            Entry<Node> known = pending.isStale(item.getKey()) ? null : written.current(item.getKey());
            if (known == null) {
                toRead.add(item.getKey()); // stale, or not in the cache yet (a node that just joined)
            } else {
                bases.put(item.getKey(), known);
            }
        }
        if (!toRead.isEmpty()) {
            try {
                BatchGet.read(store, toRead).forEach((key, raw) -> bases.put(key, new Entry<>(key,
                        EtcdStore.decode(Node.parser(), raw.value()), raw.modRevision(), raw.createRevision())));
            } catch (RuntimeException e) {
                LOG.warnf("could not read %d nodes to write their status (%s); retrying", toRead.size(), e.getMessage());
                backoff.failed();
                taken.forEach(item -> pending.failed(item.getKey(), item.getValue()));
                return false;
            }
        }
        boolean isLeader = leader.isLeader();
        List<Planned> plain = new ArrayList<>();
        List<Planned> fenced = new ArrayList<>();
        for (Map.Entry<String, NodeChange> item : taken) {
            String key = item.getKey();
            Entry<Node> base = bases.get(key);
            if (base == null) {
                pending.done(key); // the node was deleted: nothing to record
                continue;
            }
            String name = Keys.suffix(key, Keys.NODES);
            NodeChange change = item.getValue();
            if (change.unreachableSince() != null && !isLeader) {
                change = new NodeChange(change.info(), change.ready(), change.lastSeen(), change.persistLastSeen(), null);
            }
            Optional<NodeStatus> next = change.apply(base.value().getStatus(), liveness.view(name).orElse(null),
                    liveness.isConnected(name));
            if (next.isEmpty()) {
                pending.done(key);
                continue;
            }
            Planned planned = new Planned(name, change, base, next.get());
            boolean verdict = next.get().getPhase() == NodeStatus.Phase.UNREACHABLE
                    && base.value().getStatus().getPhase() != NodeStatus.Phase.UNREACHABLE;
            (verdict ? fenced : plain).add(planned);
        }
        send(plain, false);
        send(fenced, true);
        return true;
    }

    private void send(List<Planned> planned, boolean fenced) {
        for (int from = 0; from < planned.size(); from += perTxn) {
            List<Planned> group = planned.subList(from, Math.min(planned.size(), from + perTxn));
            List<Write> puts = new ArrayList<>(group.size());
            List<Cmp> guards = new ArrayList<>(group.size() + 1);
            for (Planned p : group) {
                String key = Keys.node(p.name());
                puts.add(Write.put(key, p.base().value().toBuilder().setStatus(p.next()).build().toByteArray()));
                guards.add(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(p.base().modRevision())));
            }
            if (fenced) {
                guards.add(leader.fence());
            }
            synchronized (this) {
                txnsInFlight++;
            }
            List<Planned> sent = List.copyOf(group);
            writer.commit(puts, guards).whenComplete((revision, error) -> landed(sent, fenced, revision, error));
        }
    }

    private void landed(List<Planned> group, boolean fenced, Long revision, Throwable error) {
        synchronized (this) {
            txnsInFlight--;
        }
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (cause == null) {
            backoff.succeeded();
            txns.incrementAndGet();
            writes.addAndGet(group.size());
            for (Planned p : group) {
                String key = Keys.node(p.name());
                written.put(key, p.base().value().toBuilder().setStatus(p.next()).build(), revision, p.base().createRevision());
                pending.done(key);
                phaseChanged(p.name(), p.base().value().getStatus(), p.next());
            }
        } else if (cause instanceof TxnWriter.GuardFailed) {
            // One of the nodes changed under us (a label edit...), or this process lost the lead.
            conflicts.incrementAndGet();
            for (Planned p : group) {
                if (!pending.conflicted(Keys.node(p.name()), p.change())) {
                    LOG.warnf("could not record the status of node %s: it kept changing", p.name());
                }
            }
            if (fenced && !leader.isLeader()) {
                LOG.infof("%d unreachable verdicts dropped: no longer the leader", group.size());
            }
        } else {
            LOG.warnf("writing the status of %d nodes failed (%s); retrying", group.size(), cause.getMessage());
            backoff.failed();
            for (Planned p : group) {
                pending.failed(Keys.node(p.name()), p.change());
            }
        }
    }

    /** A written phase change is an event: NodeReady, NodeUnreachable, NodeNotReady. */
    private void phaseChanged(String name, NodeStatus before, NodeStatus after) {
        if (before.getPhase() == after.getPhase()) {
            return;
        }
        switch (after.getPhase()) {
            case READY -> events.info(EventRecorder.node(name), "NodeReady",
                    "the agent connected" + (before.getPhase() == NodeStatus.Phase.UNREACHABLE ? " again" : ""), name);
            case UNREACHABLE -> {
                LOG.infof("node %s is unreachable: %s", name, after.getMessage());
                events.warning(EventRecorder.node(name), "NodeUnreachable", after.getMessage(), name);
            }
            default -> events.warning(EventRecorder.node(name), "Node" + camel(after.getPhase().name()), after.getMessage(), name);
        }
    }

    private static String camel(String enumName) {
        StringBuilder out = new StringBuilder();
        for (String part : enumName.toLowerCase(Locale.ROOT).split("_")) {
            if (!part.isEmpty()) {
                out.append(Character.toUpperCase(part.charAt(0))).append(part.substring(1));
            }
        }
        return out.toString();
    }
}
