package dev.edgeplane.controlplane.nodes;

import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeCondition;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.controlplane.join.Joiner;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Liveness of the nodes whose Sync streams THIS process holds: connections, last seen, the applied
 * revision and the replica counts of the last heartbeat. In memory only, never written to etcd per
 * heartbeat: the API overlays it on the stored Node ({@link #overlay}), and the tracker persists a
 * snapshot of it only with a phase change, a connect that changes something, or a disconnect.
 *
 * <p>This pins liveness to the stream-holding process: another control-plane replica cannot see it
 * (see the README, "Liveness and status", for what HA must add).
 */
@ApplicationScoped
public class NodeLiveness {
    /** What this process knows of one node right now. */
    public record View(boolean connected, Instant lastSeen, long appliedRevision, int runningReplicas,
                       int desiredReplicas, boolean countsKnown) {}

    private static final class Live {
        int connections;
        Instant lastSeen;
        long appliedRevision;
        int running;
        int desired;
        boolean countsKnown;
        // Type and message of the conditions last reported (NodeStatuses.conditionKeys).
        List<String> conditions = List.of();
        // The storage last recorded for the node (null: none since this process started).
        dev.edgeplane.api.v1.NodeStorage storage;

        View view() {
            return new View(connections > 0, lastSeen, appliedRevision, running, desired, countsKnown);
        }
    }

    private final Clock clock;
    private final Map<String, Live> live = new ConcurrentHashMap<>();

    public NodeLiveness() {
        this(Clock.systemUTC());
    }

    NodeLiveness(Clock clock) {
        this.clock = clock;
    }

    /** A Sync stream of {@code node} said Hello; returns the time it was seen. */
    public Instant connected(String node, long lastApplied) {
        Live l = live.computeIfAbsent(node, n -> new Live());
        synchronized (l) {
            l.connections++;
            l.lastSeen = clock.instant();
            l.appliedRevision = Math.max(l.appliedRevision, lastApplied);
            return l.lastSeen;
        }
    }

    /** A Sync stream of {@code node} ended; when it was last seen if that was its last stream here, else empty. */
    public Optional<Instant> disconnected(String node) {
        Live l = live.get(node);
        if (l == null) {
            return Optional.empty();
        }
        synchronized (l) {
            l.connections = Math.max(0, l.connections - 1);
            l.lastSeen = clock.instant();
            return l.connections == 0 ? Optional.of(l.lastSeen) : Optional.empty();
        }
    }

    /** Heard from a node with a Sync stream here, by other means than a heartbeat: its time only. */
    public void heard(String node) {
        Live l = live.get(node);
        if (l != null) {
            synchronized (l) {
                l.lastSeen = clock.instant();
            }
        }
    }

    public void heartbeat(String node, int running, int desired) {
        Live l = live.computeIfAbsent(node, n -> new Live());
        synchronized (l) {
            l.lastSeen = clock.instant();
            l.running = running;
            l.desired = desired;
            l.countsKnown = true;
        }
    }

    /** Records the node's reported conditions; true when they differ from the last ones recorded here. */
    public boolean conditionsChanged(String node, List<NodeCondition> conditions) {
        List<String> keys = NodeStatuses.conditionKeys(conditions);
        Live l = live.computeIfAbsent(node, n -> new Live());
        synchronized (l) {
            boolean changed = !keys.equals(l.conditions);
            l.conditions = keys;
            return changed;
        }
    }

    /**
     * Records the node's reported storage when it moved enough to be written ({@link NodeStatuses#storageMoved});
     * true then. Small drifts are not recorded, so they add up to a step before a write.
     */
    public boolean storageMoved(String node, dev.edgeplane.api.v1.NodeStorage storage) {
        Live l = live.computeIfAbsent(node, n -> new Live());
        synchronized (l) {
            if (!NodeStatuses.storageMoved(l.storage, storage)) {
                return false;
            }
            l.storage = storage;
            return true;
        }
    }

    public void acked(String node, long revision) {
        Live l = live.get(node);
        if (l != null) {
            synchronized (l) {
                l.appliedRevision = Math.max(l.appliedRevision, revision);
            }
        }
    }

    public boolean isConnected(String node) {
        Live l = live.get(node);
        if (l == null) {
            return false;
        }
        synchronized (l) {
            return l.connections > 0;
        }
    }

    public Optional<View> view(String node) {
        Live l = live.get(node);
        if (l == null) {
            return Optional.empty();
        }
        synchronized (l) {
            return Optional.of(l.view());
        }
    }

    /** Forgets a node that no longer exists (only while no stream of it is open). */
    public void forget(String node) {
        live.computeIfPresent(node, (n, l) -> {
            synchronized (l) {
                return l.connections > 0 ? l : null;
            }
        });
    }

    /** {@code node} with what this process knows live laid over its stored status (heartbeat, replicas, applied revision). */
    public Node overlay(Node node) {
        Optional<View> view = view(node.getMetadata().getName());
        return view.isEmpty() ? node : node.toBuilder().setStatus(overlay(node.getStatus(), view.get())).build();
    }

    static NodeStatus overlay(NodeStatus stored, View live) {
        NodeStatus.Builder status = stored.toBuilder();
        if (live.lastSeen() != null && (!stored.hasLastHeartbeat()
                || Joiner.toInstant(stored.getLastHeartbeat()).isBefore(live.lastSeen()))) {
            status.setLastHeartbeat(Joiner.timestamp(live.lastSeen()));
        }
        if (live.appliedRevision() > stored.getAppliedRevision()) {
            status.setAppliedRevision(live.appliedRevision());
        }
        if (live.countsKnown()) {
            status.setRunningReplicas(live.runningReplicas()).setDesiredReplicas(live.desiredReplicas());
        }
        return status.build();
    }
}
