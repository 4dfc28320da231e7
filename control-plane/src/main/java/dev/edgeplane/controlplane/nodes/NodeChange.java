package dev.edgeplane.controlplane.nodes;

import dev.edgeplane.api.v1.NodeCondition;
import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.NodeStorage;
import dev.edgeplane.controlplane.join.Joiner;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * What is still to be recorded in one Node's status. Changes to one node coalesce ({@link #then}):
 * a connect, a disconnect and an unreachable verdict queued in one flush interval become one write.
 *
 * @param info              what the agent's Hello said about its host (null: no connect)
 * @param ready             a stream connected: the phase becomes READY
 * @param lastSeen          when the agent was last seen (null: unknown)
 * @param persistLastSeen   a disconnect: record {@code lastSeen} even if nothing else changes
 * @param unreachableSince  the leader's verdict: READY becomes UNREACHABLE (null: none)
 * @param conditions        the node's conditions as its agent last reported them (null: no news)
 * @param conditionsAt      when it reported them
 * @param storage           what the node's storage driver can serve, as its agent last reported it (null: no news)
 */
public record NodeChange(NodeInfo info, boolean ready, Instant lastSeen, boolean persistLastSeen, Instant unreachableSince,
                         List<NodeCondition> conditions, Instant conditionsAt, NodeStorage storage) {
    public NodeChange(NodeInfo info, boolean ready, Instant lastSeen, boolean persistLastSeen, Instant unreachableSince,
                      List<NodeCondition> conditions, Instant conditionsAt) {
        this(info, ready, lastSeen, persistLastSeen, unreachableSince, conditions, conditionsAt, null);
    }

    public static NodeChange connected(NodeInfo info, Instant at) {
        return new NodeChange(info, true, at, false, null, info.getConditionsList(), at);
    }

    public static NodeChange disconnected(Instant at) {
        return new NodeChange(null, false, at, true, null, null, null);
    }

    public static NodeChange unreachable(Instant since) {
        return new NodeChange(null, false, since, false, since, null, null);
    }

    /** The agent reported other conditions (memory or disk pressure, the runtime not answering...). */
    public static NodeChange conditions(List<NodeCondition> conditions, Instant at) {
        return new NodeChange(null, false, null, false, null, List.copyOf(conditions), at);
    }

    /** The agent reported storage that moved enough to record ({@link NodeStatuses#storageMoved}). */
    public static NodeChange storage(NodeStorage storage) {
        return new NodeChange(null, false, null, false, null, null, null, storage);
    }

    /**
     * This change followed by {@code next}: the later connect or verdict wins, last seen is the latest;
     * a stream that ended and a new one that connected before the end was written leave no record of the end.
     */
    public NodeChange then(NodeChange next) {
        Instant seen = lastSeen == null || (next.lastSeen != null && next.lastSeen.isAfter(lastSeen)) ? next.lastSeen : lastSeen;
        return new NodeChange(
                next.info != null ? next.info : info,
                next.ready || (ready && next.unreachableSince == null),
                seen,
                !next.ready && (persistLastSeen || next.persistLastSeen), // back before it was written: nothing to record
                next.ready ? null : (next.unreachableSince != null ? next.unreachableSince : unreachableSince),
                next.conditions != null ? next.conditions : conditions,
                next.conditions != null ? next.conditionsAt : conditionsAt,
                next.storage != null ? next.storage : storage);
    }

    /**
     * The status to write instead of {@code stored}, or empty when this change alters nothing that is
     * persisted (e.g. a reconnect of a node already READY with the same host info). What is written
     * carries a snapshot of the live values ({@code live}, may be null). {@code connectedNow}: a stream
     * of the node is open here at the time of writing (an unreachable verdict is then void).
     */
    public Optional<NodeStatus> apply(NodeStatus stored, NodeLiveness.View live, boolean connectedNow) {
        NodeStatus.Builder next = stored.toBuilder();
        if (ready) {
            if (info != null) {
                NodeStatuses.withInfo(next, info);
            }
            next.setPhase(NodeStatus.Phase.READY).setMessage("");
        } else if (unreachableSince != null && !connectedNow && stored.getPhase() == NodeStatus.Phase.READY) {
            next.setPhase(NodeStatus.Phase.UNREACHABLE).setMessage("no connection from the agent since " + unreachableSince);
        }
        if (conditions != null) {
            NodeStatuses.withConditions(next, conditions, conditionsAt);
        }
        if (storage != null) {
            next.setStorage(storage);
        }
        if (persistLastSeen && lastSeen != null) {
            next.setLastHeartbeat(Joiner.timestamp(lastSeen));
        }
        if (next.build().equals(stored)) {
            return Optional.empty();
        }
        // Written anyway: take the newest of what is known along.
        Instant seen = latest(lastSeen, live == null ? null : live.lastSeen());
        if (seen != null && (!stored.hasLastHeartbeat() || Joiner.toInstant(stored.getLastHeartbeat()).isBefore(seen))) {
            next.setLastHeartbeat(Joiner.timestamp(seen));
        }
        if (live != null) {
            if (live.appliedRevision() > stored.getAppliedRevision()) {
                next.setAppliedRevision(live.appliedRevision());
            }
            if (live.countsKnown()) {
                next.setRunningReplicas(live.runningReplicas()).setDesiredReplicas(live.desiredReplicas());
            }
        }
        return Optional.of(next.build());
    }

    private static Instant latest(Instant a, Instant b) {
        if (a == null) {
            return b;
        }
        return b == null || a.isAfter(b) ? a : b;
    }
}
