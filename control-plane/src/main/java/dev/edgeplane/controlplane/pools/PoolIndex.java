package dev.edgeplane.controlplane.pools;

import dev.edgeplane.api.v1.NodePool;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The node pools by name, with what resolves a node's pool without scanning them: the pools that
 * list a node by name, and the pools whose selector has a given {@code key=value}. Thread-safe.
 *
 * <p>A node is in the pool its own label {@code edgeplane.dev/pool} names (whether that pool exists
 * or not), else in the first pool (by name) that lists it, else in the first pool whose selector its
 * own labels match. The order only matters when overlapping pools slipped past the API's check
 * (concurrent writes): then the node is still in exactly one.
 */
public final class PoolIndex {
    /** How a node came to be in its pool. */
    public enum Via {
        LABEL("by its label " + PoolMembership.POOL_LABEL),
        LIST("listed in its spec.nodes"),
        SELECTOR("matching its spec.node_selector");

        private final String description;

        Via(String description) {
            this.description = description;
        }

        public String description() {
            return description;
        }
    }

    public record Membership(String pool, Via via) {}

    private final Map<String, NodePool> byName = new TreeMap<>();
    /** node name -> pools listing it, sorted. */
    private final Map<String, TreeSet<String>> byListedNode = new HashMap<>();
    /** "key=value" -> pools whose selector has it. */
    private final Map<String, Set<String>> bySelectorLabel = new HashMap<>();

    public static PoolIndex of(Iterable<NodePool> pools) {
        PoolIndex index = new PoolIndex();
        pools.forEach(index::put);
        return index;
    }

    public synchronized void put(NodePool pool) {
        String name = pool.getMetadata().getName();
        NodePool before = byName.put(name, pool);
        if (before != null) {
            unindex(before);
        }
        for (String node : pool.getSpec().getNodesList()) {
            byListedNode.computeIfAbsent(node, k -> new TreeSet<>()).add(name);
        }
        for (Map.Entry<String, String> wanted : pool.getSpec().getNodeSelectorMap().entrySet()) {
            bySelectorLabel.computeIfAbsent(wanted.getKey() + "=" + wanted.getValue(), k -> new HashSet<>()).add(name);
        }
    }

    public synchronized NodePool remove(String name) {
        NodePool before = byName.remove(name);
        if (before != null) {
            unindex(before);
        }
        return before;
    }

    private void unindex(NodePool pool) {
        String name = pool.getMetadata().getName();
        for (String node : pool.getSpec().getNodesList()) {
            TreeSet<String> pools = byListedNode.get(node);
            if (pools != null && pools.remove(name) && pools.isEmpty()) {
                byListedNode.remove(node);
            }
        }
        for (Map.Entry<String, String> wanted : pool.getSpec().getNodeSelectorMap().entrySet()) {
            String key = wanted.getKey() + "=" + wanted.getValue();
            Set<String> pools = bySelectorLabel.get(key);
            if (pools != null && pools.remove(name) && pools.isEmpty()) {
                bySelectorLabel.remove(key);
            }
        }
    }

    public synchronized NodePool get(String name) {
        return byName.get(name);
    }

    public synchronized List<String> names() {
        return new ArrayList<>(byName.keySet());
    }

    public synchronized void clear() {
        byName.clear();
        byListedNode.clear();
        bySelectorLabel.clear();
    }

    /** The pool a node with these own labels (PoolMembership.ownLabels) is in, or null. O(its labels), not O(pools). */
    public synchronized Membership membership(String node, Map<String, String> ownLabels) {
        String labelled = ownLabels.get(PoolMembership.POOL_LABEL);
        if (labelled != null && !labelled.isEmpty()) {
            return new Membership(labelled, Via.LABEL);
        }
        TreeSet<String> listing = byListedNode.get(node);
        if (listing != null && !listing.isEmpty()) {
            return new Membership(listing.first(), Via.LIST);
        }
        String best = null;
        for (Map.Entry<String, String> label : ownLabels.entrySet()) {
            Set<String> pools = bySelectorLabel.get(label.getKey() + "=" + label.getValue());
            if (pools == null) {
                continue;
            }
            for (String pool : pools) {
                if ((best == null || pool.compareTo(best) < 0) && PoolMembership.selects(byName.get(pool).getSpec().getNodeSelectorMap(), ownLabels)) {
                    best = pool;
                }
            }
        }
        return best == null ? null : new Membership(best, Via.SELECTOR);
    }

    /** The first pool (by name) that lists {@code node}, or null. */
    public synchronized String listing(String node) {
        TreeSet<String> listing = byListedNode.get(node);
        return listing == null || listing.isEmpty() ? null : listing.first();
    }
}
