package dev.edgeplane.controlplane.pools;

import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodePool;
import dev.edgeplane.api.v1.Taint;
import dev.edgeplane.controlplane.join.Joiner;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * What a node pool does to a node, as pure functions: which labels are the node's own, what the pool
 * puts on it, and whether a pool would claim a node another pool holds.
 *
 * <p>What a pool put on a node is recorded on the node itself, in the annotation
 * {@value #APPLIED_ANNOTATION} ({@code pool=<name>;labels=k=v,...;taints=k=v:EFFECT,...}), so that
 * leaving a pool removes exactly that: never a label or taint the node had of its own (from its join
 * token, or an operator's). A recorded label whose value someone changed since is the node's own from
 * then on. Any replica can rebuild everything from the nodes and pools alone.
 */
public final class PoolMembership {
    public static final String POOL_LABEL = Joiner.POOL_LABEL;
    public static final String APPLIED_ANNOTATION = "edgeplane.dev/pool-applied";

    private PoolMembership() {}

    /** The labels and taints one pool put on a node. Label keys, values and taint parts are validated, so the text form needs no escaping. */
    public record Applied(String pool, Map<String, String> labels, List<Taint> taints) {
        public static final Applied NONE = new Applied("", Map.of(), List.of());

        public boolean isEmpty() {
            return labels.isEmpty() && taints.isEmpty();
        }

        public String format() {
            StringBuilder text = new StringBuilder("pool=").append(pool).append(";labels=");
            String separator = "";
            for (Map.Entry<String, String> label : new TreeMap<>(labels).entrySet()) {
                text.append(separator).append(label.getKey()).append('=').append(label.getValue());
                separator = ",";
            }
            text.append(";taints=");
            separator = "";
            for (Taint taint : taints) {
                text.append(separator).append(taint.getKey()).append('=').append(taint.getValue()).append(':').append(taint.getEffect().name());
                separator = ",";
            }
            return text.toString();
        }

        /** The record, or NONE when absent or not in this form (an operator cannot write edgeplane.dev/ annotations). */
        public static Applied parse(String text) {
            if (text == null || text.isEmpty()) {
                return NONE;
            }
            try {
                String pool = "";
                Map<String, String> labels = new TreeMap<>();
                List<Taint> taints = new ArrayList<>();
                for (String part : text.split(";", -1)) {
                    int eq = part.indexOf('=');
                    String name = part.substring(0, eq);
                    String value = part.substring(eq + 1);
                    switch (name) {
                        case "pool" -> pool = value;
                        case "labels" -> {
                            for (String label : value.isEmpty() ? new String[0] : value.split(",")) {
                                int at = label.indexOf('=');
                                labels.put(label.substring(0, at), label.substring(at + 1));
                            }
                        }
                        case "taints" -> {
                            for (String taint : value.isEmpty() ? new String[0] : value.split(",")) {
                                int colon = taint.lastIndexOf(':');
                                int at = taint.indexOf('=');
                                taints.add(Taint.newBuilder().setKey(taint.substring(0, at)).setValue(taint.substring(at + 1, colon))
                                        .setEffect(Taint.Effect.valueOf(taint.substring(colon + 1))).build());
                            }
                        }
                        default -> {
                            return NONE;
                        }
                    }
                }
                return new Applied(pool, Map.copyOf(labels), List.copyOf(taints));
            } catch (RuntimeException e) {
                return NONE;
            }
        }
    }

    public static Applied applied(Node node) {
        return Applied.parse(node.getMetadata().getAnnotationsOrDefault(APPLIED_ANNOTATION, ""));
    }

    /** The node's labels less those a pool put there (same key and value). */
    public static Map<String, String> ownLabels(Node node) {
        Applied applied = applied(node);
        Map<String, String> labels = node.getMetadata().getLabelsMap();
        if (applied.labels().isEmpty()) {
            return labels;
        }
        Map<String, String> own = new HashMap<>(labels);
        applied.labels().forEach((k, v) -> own.remove(k, v));
        return own;
    }

    /** A non-empty selector whose every entry the labels carry; an empty selector selects nothing. */
    public static boolean selects(Map<String, String> selector, Map<String, String> labels) {
        if (selector.isEmpty()) {
            return false;
        }
        for (Map.Entry<String, String> wanted : selector.entrySet()) {
            if (!wanted.getValue().equals(labels.get(wanted.getKey()))) {
                return false;
            }
        }
        return true;
    }

    /** The labels a pool puts on its members: its own and edgeplane.dev/pool=&lt;name&gt;. */
    public static Map<String, String> labelsOf(NodePool pool) {
        Map<String, String> labels = new TreeMap<>(pool.getSpec().getLabelsMap());
        labels.put(POOL_LABEL, pool.getMetadata().getName());
        return labels;
    }

    /**
     * The node as it should be with {@code pool} (null: in no existing pool): what an earlier pool put and
     * this one does not is removed, what this one puts and the node lacks is added, the record follows.
     * A label or taint (same key and effect) the node has of its own is left as it is. Returns the
     * node itself when nothing changes.
     */
    public static Node apply(Node node, NodePool pool) {
        Applied before = applied(node);
        Map<String, String> wantedLabels = pool == null ? Map.of() : labelsOf(pool);
        List<Taint> wantedTaints = pool == null ? List.of() : pool.getSpec().getTaintsList();

        Map<String, String> labels = new HashMap<>(node.getMetadata().getLabelsMap());
        Map<String, String> putLabels = new TreeMap<>();
        for (Map.Entry<String, String> ours : before.labels().entrySet()) {
            if (ours.getValue().equals(labels.get(ours.getKey()))) {
                if (ours.getValue().equals(wantedLabels.get(ours.getKey()))) {
                    putLabels.put(ours.getKey(), ours.getValue());
                } else {
                    labels.remove(ours.getKey());
                }
            }
        }
        for (Map.Entry<String, String> wanted : wantedLabels.entrySet()) {
            if (!labels.containsKey(wanted.getKey())) {
                labels.put(wanted.getKey(), wanted.getValue());
                putLabels.put(wanted.getKey(), wanted.getValue());
            }
        }

        // Ours are the node's taints equal to one recorded (each record entry claims one taint).
        List<Taint> recorded = new ArrayList<>(before.taints());
        List<Taint> taints = new ArrayList<>();
        List<Taint> putTaints = new ArrayList<>();
        for (Taint taint : node.getSpec().getTaintsList()) {
            boolean ours = recorded.remove(taint);
            if (!ours) {
                taints.add(taint);
            } else if (wantedTaints.contains(taint) && !putTaints.contains(taint)) {
                taints.add(taint);
                putTaints.add(taint);
            }
        }
        for (Taint wanted : wantedTaints) {
            if (taints.stream().noneMatch(t -> t.getKey().equals(wanted.getKey()) && t.getEffect() == wanted.getEffect())) {
                taints.add(wanted);
                putTaints.add(wanted);
            }
        }

        Node.Builder changed = node.toBuilder();
        changed.getMetadataBuilder().clearLabels().putAllLabels(labels);
        Applied after = new Applied(pool == null ? "" : pool.getMetadata().getName(), putLabels, putTaints);
        if (after.isEmpty()) {
            changed.getMetadataBuilder().removeAnnotations(APPLIED_ANNOTATION);
        } else {
            changed.getMetadataBuilder().putAnnotations(APPLIED_ANNOTATION, after.format());
        }
        if (!taints.equals(node.getSpec().getTaintsList())) {
            changed.getSpecBuilder().clearTaints().addAllTaints(taints);
            changed.getMetadataBuilder().setGeneration(node.getMetadata().getGeneration() + 1); // a spec change, as NodeApi counts them
        }
        Node result = changed.build();
        return result.equals(node) ? node : result;
    }

    /**
     * Why {@code pool} may not be written: the first node its selector or list would claim that is in
     * another pool ({@code others}: every pool but this one), or nothing. O(nodes + listed names).
     */
    public static Optional<String> conflict(NodePool pool, Collection<Node> nodes, PoolIndex others) {
        String name = pool.getMetadata().getName();
        Set<String> listed = Set.copyOf(pool.getSpec().getNodesList());
        for (String node : pool.getSpec().getNodesList()) {
            String other = others.listing(node);
            if (other != null && !other.equals(name)) {
                return Optional.of(message(node, new PoolIndex.Membership(other, PoolIndex.Via.LIST)));
            }
        }
        Map<String, String> selector = pool.getSpec().getNodeSelectorMap();
        for (Node node : nodes) {
            String nodeName = node.getMetadata().getName();
            Map<String, String> own = ownLabels(node);
            if (!listed.contains(nodeName) && !selects(selector, own)) {
                continue;
            }
            PoolIndex.Membership current = others.membership(nodeName, own);
            if (current != null && !current.pool().equals(name)) {
                return Optional.of(message(nodeName, current));
            }
        }
        return Optional.empty();
    }

    private static String message(String node, PoolIndex.Membership in) {
        return "node \"" + node + "\" is already in pool \"" + in.pool() + "\" (" + in.via().description()
                + "); a node is in at most one pool";
    }
}
