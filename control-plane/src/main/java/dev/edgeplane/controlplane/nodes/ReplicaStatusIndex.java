package dev.edgeplane.controlplane.nodes;

import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.PrefixCache;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The replica-status keys of each node, kept from the replicaStatuses watch (and from this process's
 * own queued writes, so a full report right after a status sees it): a full report then costs
 * O(that node's replicas), never a scan of every status in the cluster. It may name a key that is no
 * longer the node's (a queued write that was not made): whoever acts on it checks what is stored.
 */
public final class ReplicaStatusIndex implements PrefixCache.Listener<ReplicaStatus> {
    private final Map<String, Set<String>> byNode = new HashMap<>();

    public synchronized void add(String node, String key) {
        byNode.computeIfAbsent(node, n -> new HashSet<>()).add(key);
    }

    public synchronized void remove(String node, String key) {
        Set<String> keys = byNode.get(node);
        if (keys != null && keys.remove(key) && keys.isEmpty()) {
            byNode.remove(node);
        }
    }

    /** A copy of the keys of {@code node}'s statuses. */
    public synchronized Set<String> keysOf(String node) {
        Set<String> keys = byNode.get(node);
        return keys == null ? Set.of() : Set.copyOf(keys);
    }

    @Override
    public synchronized void onEvents(List<PrefixCache.Event<ReplicaStatus>> events, long revision) {
        for (PrefixCache.Event<ReplicaStatus> event : events) {
            Entry<ReplicaStatus> previous = event.previous();
            if (event instanceof PrefixCache.Put<ReplicaStatus> put) {
                String node = put.entry().value().getNode();
                if (previous != null && !previous.value().getNode().equals(node)) {
                    remove(previous.value().getNode(), event.key());
                }
                add(node, event.key());
            } else if (previous != null) {
                remove(previous.value().getNode(), event.key());
            }
        }
    }

    @Override
    public synchronized void onReset(Map<String, Entry<ReplicaStatus>> state, long revision) {
        rebuild(state);
    }

    public synchronized void rebuild(Map<String, Entry<ReplicaStatus>> state) {
        byNode.clear();
        for (Entry<ReplicaStatus> entry : state.values()) {
            add(entry.value().getNode(), entry.key());
        }
    }
}
