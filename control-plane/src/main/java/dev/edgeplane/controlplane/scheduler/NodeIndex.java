package dev.edgeplane.controlplane.scheduler;

import dev.edgeplane.api.v1.Node;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;

/**
 * The nodes as placement sees them: by name, by label (so a selector's candidates are found without
 * scanning the fleet), by how many replicas each one holds (so the least loaded are found without
 * scanning it either), and what those replicas reserve. Fed by node and assignment events;
 * thread-safe (the watch threads write, the controller's workers read).
 */
public final class NodeIndex {
    private final Map<String, Node> byName = new HashMap<>();
    /** "key=value" -> names of the nodes carrying that label. */
    private final Map<String, Set<String>> byLabel = new HashMap<>();
    /** node -> what the replicas assigned to it (all Apps) use; may name nodes not (or no longer) in the index. */
    private final Map<String, Usage> usage = new HashMap<>();
    /** Every indexed node by its replica count, then name: placement's order among nodes holding none of an App. */
    private final NavigableSet<Load> byLoad = new TreeSet<>();

    /** A node and the replicas (all Apps) assigned to it, ordered fewest first, then by name. */
    public record Load(String node, int replicas) implements Comparable<Load> {
        @Override
        public int compareTo(Load other) {
            int c = Integer.compare(replicas, other.replicas);
            return c != 0 ? c : node.compareTo(other.node);
        }
    }

    /** What the replicas assigned to a node reserve there. */
    public record Usage(int replicas, long cpuMillis, long memoryBytes, Map<String, Integer> hostPorts) {
        public static final Usage NONE = new Usage(0, 0, 0, Map.of());

        Usage plus(PodRequests requests, int sign) {
            Map<String, Integer> ports = hostPorts;
            if (!requests.hostPorts().isEmpty()) {
                ports = new HashMap<>(hostPorts);
                for (String port : requests.hostPorts()) {
                    ports.merge(port, sign, (a, b) -> a + b <= 0 ? null : a + b);
                }
            }
            return new Usage(replicas + sign, cpuMillis + sign * requests.cpuMillis(), memoryBytes + sign * requests.memoryBytes(), ports);
        }

        public boolean portInUse(String port) {
            return hostPorts.containsKey(port);
        }
    }

    public NodeIndex() {}

    public static NodeIndex of(Collection<Node> nodes) {
        NodeIndex index = new NodeIndex();
        nodes.forEach(index::put);
        return index;
    }

    /** Adds or replaces a node; true when it is new or a field placement reads changed. */
    public synchronized boolean put(Node node) {
        String name = node.getMetadata().getName();
        Node before = byName.put(name, node);
        if (before != null) {
            unlabel(before);
        } else {
            byLoad.add(new Load(name, replicas(name)));
        }
        for (Map.Entry<String, String> label : node.getMetadata().getLabelsMap().entrySet()) {
            byLabel.computeIfAbsent(label.getKey() + "=" + label.getValue(), k -> new HashSet<>()).add(name);
        }
        return before == null || placementChanged(before, node);
    }

    /** Removes a node; true if it was there. */
    public synchronized boolean remove(String name) {
        Node before = byName.remove(name);
        if (before == null) {
            return false;
        }
        unlabel(before);
        byLoad.remove(new Load(name, replicas(name)));
        return true;
    }

    private void unlabel(Node node) {
        String name = node.getMetadata().getName();
        for (Map.Entry<String, String> label : node.getMetadata().getLabelsMap().entrySet()) {
            String key = label.getKey() + "=" + label.getValue();
            Set<String> names = byLabel.get(key);
            if (names != null && names.remove(name) && names.isEmpty()) {
                byLabel.remove(key);
            }
        }
    }

    public synchronized Node get(String name) {
        return byName.get(name);
    }

    public synchronized int size() {
        return byName.size();
    }

    public synchronized void clear() {
        byName.clear();
        byLabel.clear();
        byLoad.clear();
    }

    /** The nodes carrying every label of {@code selector} (all nodes for an empty one), in no order. */
    public synchronized List<Node> matching(Map<String, String> selector) {
        if (selector.isEmpty()) {
            return new ArrayList<>(byName.values());
        }
        Set<String> smallest = null;
        for (Map.Entry<String, String> wanted : selector.entrySet()) {
            Set<String> names = byLabel.get(wanted.getKey() + "=" + wanted.getValue());
            if (names == null) {
                return List.of();
            }
            if (smallest == null || names.size() < smallest.size()) {
                smallest = names;
            }
        }
        List<Node> out = new ArrayList<>(smallest.size());
        for (String name : smallest) {
            Node node = byName.get(name);
            if (Placement.selects(selector, node)) {
                out.add(node);
            }
        }
        return out;
    }

    /**
     * Up to {@code limit} nodes that {@code eligible} accepts, fewest replicas first, then by name: read
     * from the start of an order kept as replicas are counted, so the cost is the nodes looked at, not the fleet.
     */
    public synchronized List<Load> leastLoaded(int limit, Predicate<Node> eligible) {
        List<Load> out = new ArrayList<>(Math.min(limit, byLoad.size()));
        for (Load load : byLoad) {
            if (out.size() >= limit) {
                break;
            }
            if (eligible.test(byName.get(load.node()))) {
                out.add(load);
            }
        }
        return out;
    }

    /** Counts a replica assigned to {@code node} (sign 1) or no longer (sign -1), with what it reserves. */
    public synchronized void count(String node, PodRequests requests, int sign) {
        Usage before = usage.getOrDefault(node, Usage.NONE);
        Usage after = before.plus(requests, sign);
        if (after.replicas() <= 0) {
            usage.remove(node);
        } else {
            usage.put(node, after);
        }
        if (byName.containsKey(node) && byLoad.remove(new Load(node, Math.max(0, before.replicas())))) {
            byLoad.add(new Load(node, Math.max(0, after.replicas())));
        }
    }

    public synchronized int replicas(String node) {
        return usage.getOrDefault(node, Usage.NONE).replicas();
    }

    public synchronized Usage usage(String node) {
        return usage.getOrDefault(node, Usage.NONE);
    }

    public synchronized void clearReplicas() {
        usage.clear();
        byLoad.clear();
        byName.keySet().forEach(name -> byLoad.add(new Load(name, 0)));
    }

    /** A placement change that is the phase alone (READY, UNREACHABLE...): labels, spec and capacity as they were. */
    public static boolean onlyPhaseChanged(Node before, Node after) {
        return before.getStatus().getPhase() != after.getStatus().getPhase() && samePlacementInputsButPhase(before, after);
    }

    /**
     * True when a field placement reads differs: labels, taints, phase, cordon/drain, autonomy, capacity, conditions.
     * Heartbeats, versions, applied revisions and replica counts do not wake placement.
     */
    public static boolean placementChanged(Node before, Node after) {
        return before.getStatus().getPhase() != after.getStatus().getPhase() || !samePlacementInputsButPhase(before, after);
    }

    /** Labels, spec, capacity, conditions and storage: what placement reads of a node besides its phase. */
    private static boolean samePlacementInputsButPhase(Node before, Node after) {
        return before.getMetadata().getLabelsMap().equals(after.getMetadata().getLabelsMap())
                && before.getSpec().equals(after.getSpec())
                && before.getStatus().getCapacity().equals(after.getStatus().getCapacity())
                && before.getStatus().getConditionsList().equals(after.getStatus().getConditionsList())
                && before.getStatus().getStorage().equals(after.getStatus().getStorage());
    }
}
