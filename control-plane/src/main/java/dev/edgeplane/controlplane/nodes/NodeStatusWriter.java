package dev.edgeplane.controlplane.nodes;

import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.BatchingWriter;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.TxnWriter;
import dev.edgeplane.controlplane.store.Write;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * Writes Node status changes (phase transitions, host info, last seen at a disconnect) in batches,
 * through a {@link BatchingWriter}: changes coalesce per node (merged by {@link NodeChange#then}), each
 * node's put is compare-guarded on the mod_revision it was planned against, so a concurrent label or
 * spec edit is never overwritten: the transaction fails, its nodes are re-read and tried again
 * (bounded). UNREACHABLE verdicts are also fenced on the leader key. Phase events (NodeReady,
 * NodeUnreachable) are recorded only once the write landed.
 */
final class NodeStatusWriter implements BatchingWriter.Planner<NodeChange, Node> {
    private static final Logger LOG = Logger.getLogger(NodeStatusWriter.class);
    private static final int MAX_ATTEMPTS = 5;

    private final LeaderLock leader;
    private final NodeLiveness liveness;
    private final EventRecorder events;
    private final BatchingWriter<NodeChange, Node> batches;

    NodeStatusWriter(EtcdStore store, PrefixCache<Node> nodes, TxnWriter writer, LeaderLock leader, NodeLiveness liveness,
                     EventRecorder events, int perTxn, int maxTxnsInFlight) {
        this.leader = leader;
        this.liveness = liveness;
        this.events = events;
        // One entry per node at most: bounded by the number of Nodes, so never refused. A node not in
        // the cache yet (one that just joined) is read from etcd.
        BatchingWriter.Limits limits = new BatchingWriter.Limits(perTxn, maxTxnsInFlight, Integer.MAX_VALUE, Duration.ZERO,
                MAX_ATTEMPTS, true);
        this.batches = new BatchingWriter<>("node status", store, nodes, b -> EtcdStore.decode(Node.parser(), b), writer,
                leader::fence, limits, NodeChange::then, this);
    }

    void enqueue(String node, NodeChange change) {
        batches.offer(Keys.node(node), change);
    }

    /** What this process knows is stored for {@code node}: its own newer write, else the cache's. */
    Entry<Node> current(String node) {
        return batches.current(Keys.node(node));
    }

    boolean verdictWaiting(String node) {
        NodeChange waiting = batches.waiting(Keys.node(node));
        return waiting != null && waiting.unreachableSince() != null;
    }

    boolean idle() {
        return batches.idle();
    }

    int waiting() {
        return batches.waiting();
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
    public BatchingWriter.Plan<Node> plan(String key, NodeChange change, Entry<Node> base, boolean reread) {
        if (base == null) {
            return new BatchingWriter.Skip<>(); // the node was deleted: nothing to record
        }
        String name = Keys.suffix(key, Keys.NODES);
        if (change.unreachableSince() != null && !leader.isLeader()) {
            change = new NodeChange(change.info(), change.ready(), change.lastSeen(), change.persistLastSeen(), null,
                    change.conditions(), change.conditionsAt(), change.storage());
        }
        Optional<NodeStatus> next = change.apply(base.value().getStatus(), liveness.view(name).orElse(null),
                liveness.isConnected(name));
        if (next.isEmpty()) {
            return new BatchingWriter.Skip<>();
        }
        boolean verdict = next.get().getPhase() == NodeStatus.Phase.UNREACHABLE
                && base.value().getStatus().getPhase() != NodeStatus.Phase.UNREACHABLE;
        Node stored = base.value().toBuilder().setStatus(next.get()).build();
        return new BatchingWriter.Send<>(Write.put(key, stored.toByteArray()), stored,
                BatchingWriter.unchangedSince(key, base.modRevision()), verdict);
    }

    @Override
    public void landed(String key, NodeChange change, Entry<Node> before, BatchingWriter.Send<Node> sent) {
        phaseChanged(Keys.suffix(key, Keys.NODES), before.value().getStatus(), sent.stored().getStatus());
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
