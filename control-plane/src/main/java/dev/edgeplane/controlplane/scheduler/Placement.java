package dev.edgeplane.controlplane.scheduler;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.Taint;
import dev.edgeplane.api.v1.Toleration;
import dev.edgeplane.controlplane.join.Joiner;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Pure placement: given an App, the nodes, where the App's replicas are now and how loaded each node
 * is, says where each replica should be. No I/O, so it is unit-tested directly.
 *
 * <ul>
 *   <li>REPLICATED: replicas "&lt;app&gt;-&lt;ordinal&gt;". A placed replica stays while its node
 *   exists, matches the selector and tolerates its NoExecute taints (an UNREACHABLE node keeps its
 *   replicas: autonomy), unless the App set reschedule_after_unreachable and the node has been away
 *   that long, or the node has autonomy_disabled (then they move once it is UNREACHABLE). New replicas go to READY, schedulable nodes that match and tolerate NoSchedule and
 *   NoExecute taints: fewest replicas of this App first, then fewest replicas in total, then name.</li>
 *   <li>EVERY_NODE: one replica "&lt;app&gt;-&lt;node&gt;" on every schedulable node that matches and
 *   tolerates (kept on cordoned nodes where it already runs).</li>
 * </ul>
 */
public final class Placement {
    private Placement() {}

    /**
     * @param current   replica name -> node it is assigned to now (this App only)
     * @param totalLoad node -> replicas of OTHER apps assigned to it
     * @return replica name -> node; replicas with no feasible node are absent (pending)
     */
    public static Map<String, String> place(App app, List<Node> nodes, Map<String, String> current,
                                            Map<String, Integer> totalLoad, Instant now) {
        return place(app, nodes, current, totalLoad, now, Optional.empty());
    }

    /**
     * @param pinnedTo the node the App's volumes are bound to, if any: its replicas go there and
     *                 nowhere else, and stay there whatever the node's state (the data cannot move)
     */
    public static Map<String, String> place(App app, List<Node> nodes, Map<String, String> current,
                                            Map<String, Integer> totalLoad, Instant now, Optional<String> pinnedTo) {
        AppSpec spec = app.getSpec();
        Map<String, Node> byName = new TreeMap<>();
        for (Node node : nodes) {
            if (pinnedTo.isEmpty() || pinnedTo.get().equals(node.getMetadata().getName())) {
                byName.put(node.getMetadata().getName(), node);
            }
        }
        String appName = app.getMetadata().getName();
        Map<String, String> desired = new TreeMap<>();
        if (spec.getMode() == AppSpec.Mode.EVERY_NODE) {
            for (Node node : byName.values()) {
                String replica = appName + "-" + node.getMetadata().getName();
                boolean placedHere = node.getMetadata().getName().equals(current.get(replica));
                if ((placedHere && canKeep(spec, node, now)) || canPlaceEveryNode(spec, node)) {
                    desired.put(replica, node.getMetadata().getName());
                }
            }
            return desired;
        }

        Map<String, Integer> appLoad = new HashMap<>();
        Map<String, Integer> load = new HashMap<>(totalLoad);
        int replicas = Math.max(0, spec.getReplicas());
        // Keep what can stay first, so new placements see the real spread.
        for (int i = 0; i < replicas; i++) {
            String replica = appName + "-" + i;
            String at = current.get(replica);
            Node node = at == null ? null : byName.get(at);
            if (node != null && (canKeep(spec, node, now) || pinnedTo.isPresent())) {
                desired.put(replica, at);
                appLoad.merge(at, 1, Integer::sum);
                load.merge(at, 1, Integer::sum);
            }
        }
        List<Node> candidates = byName.values().stream().filter(n -> canPlace(spec, n)).toList();
        for (int i = 0; i < replicas; i++) {
            String replica = appName + "-" + i;
            if (desired.containsKey(replica)) {
                continue;
            }
            Optional<Node> best = candidates.stream().min(Comparator
                    .comparingInt((Node n) -> appLoad.getOrDefault(n.getMetadata().getName(), 0))
                    .thenComparingInt(n -> load.getOrDefault(n.getMetadata().getName(), 0))
                    .thenComparing(n -> n.getMetadata().getName()));
            if (best.isEmpty()) {
                continue;
            }
            String name = best.get().getMetadata().getName();
            desired.put(replica, name);
            appLoad.merge(name, 1, Integer::sum);
            load.merge(name, 1, Integer::sum);
        }
        return desired;
    }

    /** A new replica may go here. */
    static boolean canPlace(AppSpec spec, Node node) {
        return node.getStatus().getPhase() == NodeStatus.Phase.READY
                && !node.getSpec().getUnschedulable()
                && selects(spec.getNodeSelectorMap(), node)
                && tolerates(spec.getTolerationsList(), node.getSpec().getTaintsList(), false);
    }

    static boolean canPlaceEveryNode(AppSpec spec, Node node) {
        return !node.getSpec().getUnschedulable()
                && selects(spec.getNodeSelectorMap(), node)
                && tolerates(spec.getTolerationsList(), node.getSpec().getTaintsList(), false);
    }

    /** A replica already here may stay. */
    static boolean canKeep(AppSpec spec, Node node, Instant now) {
        if (node.getSpec().getDrained() && spec.getMode() != AppSpec.Mode.EVERY_NODE) {
            return false;
        }
        if (!selects(spec.getNodeSelectorMap(), node) || !tolerates(spec.getTolerationsList(), node.getSpec().getTaintsList(), true)) {
            return false;
        }
        boolean autonomous = !node.getSpec().getAutonomyDisabled();
        if (node.getStatus().getPhase() == NodeStatus.Phase.UNREACHABLE && (spec.hasRescheduleAfterUnreachable() || !autonomous)) {
            // A node with autonomy off gives its replicas up once UNREACHABLE (itself after the node grace),
            // unless the App states its own toleration.
            Duration tolerance = spec.hasRescheduleAfterUnreachable()
                    ? Duration.ofSeconds(spec.getRescheduleAfterUnreachable().getSeconds(), spec.getRescheduleAfterUnreachable().getNanos())
                    : Duration.ZERO;
            Instant since = node.getStatus().hasLastHeartbeat()
                    ? Joiner.toInstant(node.getStatus().getLastHeartbeat()) : Instant.EPOCH;
            return Duration.between(since, now).compareTo(tolerance) < 0;
        }
        return true;
    }

    static boolean selects(Map<String, String> selector, Node node) {
        Map<String, String> labels = node.getMetadata().getLabelsMap();
        for (Map.Entry<String, String> wanted : selector.entrySet()) {
            if (!wanted.getValue().equals(labels.get(wanted.getKey()))) {
                return false;
            }
        }
        return true;
    }

    /**
     * True when every taint that matters is tolerated: NoExecute always, NoSchedule too unless
     * {@code executeOnly} (a replica already placed ignores NoSchedule). PreferNoSchedule never blocks.
     */
    static boolean tolerates(List<Toleration> tolerations, List<Taint> taints, boolean executeOnly) {
        for (Taint taint : taints) {
            boolean matters = taint.getEffect() == Taint.Effect.NO_EXECUTE
                    || (!executeOnly && (taint.getEffect() == Taint.Effect.NO_SCHEDULE || taint.getEffect() == Taint.Effect.EFFECT_UNSPECIFIED));
            if (matters && tolerations.stream().noneMatch(t -> tolerates(t, taint))) {
                return false;
            }
        }
        return true;
    }

    static boolean tolerates(Toleration toleration, Taint taint) {
        if (toleration.getEffect() != Taint.Effect.EFFECT_UNSPECIFIED && toleration.getEffect() != taint.getEffect()) {
            return false;
        }
        if (toleration.getOperator() == Toleration.Operator.EXISTS) {
            return toleration.getKey().isEmpty() || toleration.getKey().equals(taint.getKey());
        }
        return toleration.getKey().equals(taint.getKey()) && toleration.getValue().equals(taint.getValue());
    }
}
