package dev.edgeplane.controlplane.scheduler;

import dev.edgeplane.api.AppPools;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.Taint;
import dev.edgeplane.api.v1.Toleration;
import dev.edgeplane.controlplane.join.Joiner;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.ToIntFunction;

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
 *   <li>REPLICATED with pools: replicas "&lt;app&gt;-&lt;pool&gt;-&lt;ordinal&gt;", each pool's placed by the
 *   rules above on that pool's nodes only, as if the App's node_selector also said
 *   edgeplane.dev/pool=&lt;pool&gt;; a replica on a node that left the pool moves.</li>
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
        NodeIndex index = NodeIndex.of(nodes);
        totalLoad.forEach((node, replicas) -> {
            for (int i = 0; i < replicas; i++) {
                index.count(node, PodRequests.NONE, 1);
            }
        });
        return place(app, index, current, Map.of(), now, pinnedTo, Integer.MAX_VALUE).desired();
    }

    /**
     * Where an App's replicas should be, at most {@code maxNewPlacements} of them newly placed (or
     * moved) in one go.
     *
     * @param desired  replica -> node; replicas neither here nor in {@code deferred} have no feasible node (pending)
     * @param deferred replicas not looked at because the budget ran out: leave them as they are, come back
     * @param recheckAt when a replica kept on an UNREACHABLE node stops being tolerated there, if ever
     * @param unschedulable why replicas were left without a node, Kubernetes' FailedScheduling message
     *                  ("0/3 nodes: 2 insufficient memory, 1 host port 8088/tcp in use"), if some were
     * @param wanted    REPLICATED: how many replicas there are to be
     */
    public record Result(Map<String, String> desired, Set<String> deferred, Optional<Instant> recheckAt,
                         Optional<String> unschedulable, int wanted) {
        /** Some replica has no node it may go to. */
        public boolean pending(App app) {
            return app.getSpec().getMode() != AppSpec.Mode.EVERY_NODE && desired.size() + deferred.size() < wanted;
        }
    }

    /**
     * The cost follows the App, not the fleet: new replicas are taken from a heap ordered as the rule
     * says (fewest of this App, fewest in total, name). Without a node selector, the heap holds the
     * nodes this App is on and only as many others as there are replicas to place (plus a few for the
     * ones found full), read from the index's load order: O(the replicas placed). With a selector,
     * O(the nodes it matches). A replica left without a node costs a pass over those nodes, for its reasons.
     *
     * @param ownLoad node -> this App's replicas the index counts there (its load besides them is the
     *                other Apps')
     */
    public static Result place(App app, NodeIndex nodes, Map<String, String> current, Map<String, Integer> ownLoad,
                               Instant now, Optional<String> pinnedTo, int maxNewPlacements) {
        return place(app, nodes, current, ownLoad, now, pinnedTo, maxNewPlacements, ordinals(app));
    }

    /** REPLICATED's names when nothing else says: "&lt;app&gt;-0" .. "&lt;app&gt;-(replicas-1)", with pools per pool. */
    public static List<String> ordinals(App app) {
        List<String> names = new java.util.ArrayList<>();
        for (AppPools.Group g : AppPools.groups(app)) {
            for (int i = 0; i < g.desired(); i++) {
                names.add(g.name(i));
            }
        }
        return names;
    }

    /**
     * @param names REPLICATED: the replicas there are to be (a rollout's surge replicas included, in
     *              the order they are placed); ignored for EVERY_NODE, one per node
     */
    public static Result place(App app, NodeIndex nodes, Map<String, String> current, Map<String, Integer> ownLoad,
                               Instant now, Optional<String> pinnedTo, int maxNewPlacements, List<String> names) {
        return place(app, nodes, current, ownLoad, now, pinnedTo, maxNewPlacements, names, StorageFit.NONE);
    }

    /**
     * @param storage the App's volumes not bound to a node yet: a new replica goes only to a node whose
     *                storage can hold them (their first consumer binds them there)
     */
    public static Result place(App app, NodeIndex nodes, Map<String, String> current, Map<String, Integer> ownLoad,
                               Instant now, Optional<String> pinnedTo, int maxNewPlacements, List<String> names, StorageFit storage) {
        if (AppPools.has(app.getSpec()) && app.getSpec().getMode() != AppSpec.Mode.EVERY_NODE) {
            return placeByPool(app, nodes, current, ownLoad, now, pinnedTo, maxNewPlacements, names, storage);
        }
        return placeInOne(app, nodes, current, ownLoad, now, pinnedTo, maxNewPlacements, names, storage);
    }

    /**
     * Places the replicas named; with pools, each pool's replicas on that pool's nodes only (as if the
     * App's node_selector also said edgeplane.dev/pool=&lt;pool&gt;), the budget shared, the reasons
     * prefixed with the pool ("pool site-b: 0 nodes").
     */
    private static Result placeByPool(App app, NodeIndex nodes, Map<String, String> current, Map<String, Integer> ownLoad,
                                      Instant now, Optional<String> pinnedTo, int maxPlacements, List<String> names,
                                      StorageFit storage) {
        List<AppPools.Group> groups = AppPools.groups(app);
        Map<AppPools.Group, List<String>> byGroup = new java.util.LinkedHashMap<>();
        groups.forEach(g -> byGroup.put(g, new ArrayList<>()));
        for (String name : names) {
            AppPools.groupOf(groups, name).ifPresent(g -> byGroup.get(g).add(name)); // names come from the groups
        }
        Map<String, String> desired = new TreeMap<>();
        Set<String> deferred = new TreeSet<>();
        Instant recheck = null;
        List<String> reasons = new ArrayList<>();
        int wanted = 0;
        int budget = maxPlacements;
        for (Map.Entry<AppPools.Group, List<String>> e : byGroup.entrySet()) {
            String pool = e.getKey().pool();
            App inPool = app.toBuilder().setSpec(app.getSpec().toBuilder().putNodeSelector(AppPools.POOL_LABEL, pool)).build();
            Result r = placeInOne(inPool, nodes, current, ownLoad, now, pinnedTo, budget, e.getValue(), storage);
            for (Map.Entry<String, String> d : r.desired().entrySet()) {
                if (!d.getValue().equals(current.get(d.getKey()))) {
                    budget--; // newly placed or moved
                }
            }
            desired.putAll(r.desired());
            deferred.addAll(r.deferred());
            if (r.recheckAt().isPresent() && (recheck == null || r.recheckAt().get().isBefore(recheck))) {
                recheck = r.recheckAt().get();
            }
            if (r.unschedulable().isPresent()) {
                reasons.add("pool " + pool + ": " + (nodes.matching(Map.of(AppPools.POOL_LABEL, pool)).isEmpty()
                        ? "0 nodes" : r.unschedulable().get()));
            }
            wanted += r.wanted();
        }
        return new Result(desired, deferred, Optional.ofNullable(recheck),
                reasons.isEmpty() ? Optional.empty() : Optional.of(String.join("; ", reasons)), wanted);
    }

    private static Result placeInOne(App app, NodeIndex nodes, Map<String, String> current, Map<String, Integer> ownLoad,
                                     Instant now, Optional<String> pinnedTo, int maxNewPlacements, List<String> names,
                                     StorageFit storage) {
        AppSpec spec = app.getSpec();
        String appName = app.getMetadata().getName();
        Map<String, String> desired = new TreeMap<>();
        Set<String> deferred = new TreeSet<>();
        Instant[] recheck = {null};
        java.util.function.Function<String, Node> lookup = name -> name == null || pinnedTo.isPresent() && !pinnedTo.get().equals(name)
                ? null : nodes.get(name);
        java.util.function.BiPredicate<Node, Boolean> keep = (node, pinned) -> {
            if (pinned) {
                return true;
            }
            if (!canKeep(spec, node, now)) {
                return false;
            }
            keptUntil(spec, node).ifPresent(t -> recheck[0] = recheck[0] == null || t.isBefore(recheck[0]) ? t : recheck[0]);
            return true;
        };
        java.util.function.Supplier<List<Node>> selection = () -> pinnedTo.isPresent()
                ? java.util.stream.Stream.ofNullable(nodes.get(pinnedTo.get())).filter(n -> selects(spec.getNodeSelectorMap(), n)).toList()
                : nodes.matching(spec.getNodeSelectorMap());
        int budget = maxNewPlacements;
        PodRequests demand = PodRequests.of(spec.getTemplate());
        Map<String, String> refused = new TreeMap<>(); // node -> why a new replica may not go there
        if (spec.getMode() == AppSpec.Mode.EVERY_NODE) {
            List<Node> selected = selection.get();
            Map<String, Node> byName = new TreeMap<>();
            for (Node node : selected) {
                byName.put(node.getMetadata().getName(), node);
            }
            for (String at : current.values()) { // where it runs now, even if no longer selected (it may have to go)
                Node node = lookup.apply(at);
                if (node != null) {
                    byName.putIfAbsent(at, node);
                }
            }
            for (Node node : byName.values()) {
                String name = node.getMetadata().getName();
                String replica = appName + "-" + name;
                boolean placedHere = name.equals(current.get(replica));
                if (placedHere && keep.test(node, false)) {
                    desired.put(replica, name);
                } else if (canPlaceEveryNode(spec, node)) {
                    String misfit = placedHere ? null : misfit(node, demand, nodes.usage(name), 0);
                    if (misfit == null && !placedHere) {
                        misfit = storage.misfit(node);
                    }
                    if (misfit != null) {
                        refused.put(name, misfit);
                        continue;
                    }
                    if (!placedHere && budget-- <= 0) {
                        deferred.add(replica);
                        continue;
                    }
                    desired.put(replica, name);
                }
            }
            return new Result(desired, deferred, Optional.ofNullable(recheck[0]),
                    refused.isEmpty() ? Optional.empty() : Optional.of(unschedulable(nodes.size(), selected.size(), refused)), 0);
        }

        Map<String, Integer> appLoad = new HashMap<>();
        int replicas = names.size();
        // Keep what can stay first, so new placements see the real spread.
        for (String replica : names) {
            String at = current.get(replica);
            Node node = lookup.apply(at);
            if (node != null && keep.test(node, pinnedTo.isPresent())) {
                desired.put(replica, at);
                appLoad.merge(at, 1, Integer::sum);
            }
        }
        if (desired.size() == replicas) {
            return new Result(desired, deferred, Optional.ofNullable(recheck[0]), Optional.empty(), replicas);
        }
        ToIntFunction<String> otherLoad = n -> nodes.replicas(n) - ownLoad.getOrDefault(n, 0);
        if (pinnedTo.isEmpty() && spec.getNodeSelectorMap().isEmpty()) {
            // Every node is a candidate: take the least loaded few from the index instead of a heap of the fleet.
            Set<String> own = new java.util.HashSet<>(ownLoad.keySet());
            own.addAll(appLoad.keySet());
            java.util.function.Predicate<Node> takesNew = node -> canPlace(spec, node) && storage.misfit(node) == null;
            PriorityQueue<Slot> candidates = new PriorityQueue<>(Slot.ORDER);
            for (String name : own) {
                Node node = nodes.get(name);
                if (node != null && takesNew.test(node)) {
                    int mine = appLoad.getOrDefault(name, 0);
                    candidates.add(new Slot(name, mine, otherLoad.applyAsInt(name) + mine));
                }
            }
            // Off this App's nodes, its order is the index's (0 of this App, total replicas, name).
            int wanted = Math.min(replicas - desired.size(), budget) + SPARE_CANDIDATES;
            List<NodeIndex.Load> fresh = nodes.leastLoaded(wanted,
                    node -> !own.contains(node.getMetadata().getName()) && takesNew.test(node));
            fresh.forEach(l -> candidates.add(new Slot(l.node(), 0, l.replicas())));
            Map<String, String> placing = new TreeMap<>(desired);
            Set<String> putOff = new TreeSet<>(deferred);
            Set<String> polled = new java.util.HashSet<>();
            pick(names, placing, putOff, budget, candidates, nodes, demand, new TreeMap<>(), polled);
            // The same answer as a heap of every node only if no pick could have wanted a node past those
            // read: some node read was never polled (or the index had no more). And every replica placed
            // or deferred: the reasons for one left pending come from the pass over every node below.
            boolean exhausted = fresh.size() == wanted && fresh.stream().allMatch(l -> polled.contains(l.node()));
            if (!exhausted && placing.size() + putOff.size() == replicas) {
                return new Result(placing, putOff, Optional.ofNullable(recheck[0]), Optional.empty(), replicas);
            }
        }
        List<Node> selected = selection.get();
        PriorityQueue<Slot> candidates = new PriorityQueue<>(Slot.ORDER);
        for (Node node : selected) {
            String name = node.getMetadata().getName();
            String noRoom = canPlace(spec, node) ? storage.misfit(node) : null;
            if (noRoom != null) {
                refused.put(name, noRoom); // its storage cannot hold the volumes this replica would bind
            } else if (canPlace(spec, node)) {
                int mine = appLoad.getOrDefault(name, 0);
                candidates.add(new Slot(name, mine, otherLoad.applyAsInt(name) + mine));
            } else {
                refused.put(name, whyNot(spec, node));
            }
        }
        pick(names, desired, deferred, budget, candidates, nodes, demand, refused, new java.util.HashSet<>());
        boolean unplaced = desired.size() + deferred.size() < replicas;
        return new Result(desired, deferred, Optional.ofNullable(recheck[0]),
                unplaced ? Optional.of(unschedulable(nodes.size(), selected.size(), refused)) : Optional.empty(), replicas);
    }

    /** Candidates taken from the index beyond the replicas to place: room for that many found full first. */
    private static final int SPARE_CANDIDATES = 16;

    /** A node a new replica may go to, in the rule's order: fewest of this App, fewest in total, name. */
    private record Slot(String name, int appLoad, int load) {
        static final Comparator<Slot> ORDER = Comparator.comparingInt(Slot::appLoad).thenComparingInt(Slot::load)
                .thenComparing(Slot::name);
    }

    /**
     * Gives each replica of {@code names} not in {@code desired} the best candidate it fits on (at most
     * {@code budget} of them; the rest are deferred). A node found full leaves the heap with its reason
     * in {@code refused}; every node polled is added to {@code polled}.
     */
    private static void pick(List<String> names, Map<String, String> desired, Set<String> deferred, int budget,
                             PriorityQueue<Slot> candidates, NodeIndex nodes, PodRequests demand, Map<String, String> refused,
                             Set<String> polled) {
        Map<String, Integer> placedNow = new HashMap<>();
        for (String replica : names) {
            if (desired.containsKey(replica)) {
                continue;
            }
            if (budget <= 0) {
                deferred.add(replica);
                continue;
            }
            Slot best = null;
            while (best == null && !candidates.isEmpty()) {
                Slot next = candidates.poll();
                polled.add(next.name());
                String misfit = misfit(nodes.get(next.name()), demand, nodes.usage(next.name()), placedNow.getOrDefault(next.name(), 0));
                if (misfit == null) {
                    best = next;
                } else {
                    refused.put(next.name(), misfit); // full for this App's replicas: it leaves the heap
                }
            }
            if (best == null) {
                continue; // pending: no node fits
            }
            budget--;
            desired.put(replica, best.name());
            placedNow.merge(best.name(), 1, Integer::sum);
            candidates.add(new Slot(best.name(), best.appLoad() + 1, best.load() + 1));
        }
    }

    /**
     * Why one more replica (after {@code more} placed in this pass) does not fit on the node, or null:
     * what the node's agent allows pods (privileged, host paths), the node's capacity less the requests
     * of the replicas assigned there, and its host ports. A capacity the node has not reported (0) is
     * not checked.
     */
    static String misfit(Node node, PodRequests demand, NodeIndex.Usage used, int more) {
        if (node.getStatus().hasWorkloadPolicy()) {
            String refused = demand.refusedBy(node.getStatus().getWorkloadPolicy());
            if (refused != null) {
                return refused;
            }
        }
        long cpu = node.getStatus().getCapacity().getCpuMillis();
        if (demand.cpuMillis() > 0 && cpu > 0 && used.cpuMillis() + (more + 1) * demand.cpuMillis() > cpu) {
            return "insufficient cpu";
        }
        long memory = node.getStatus().getCapacity().getMemoryBytes();
        if (demand.memoryBytes() > 0 && memory > 0 && used.memoryBytes() + (more + 1) * demand.memoryBytes() > memory) {
            return "insufficient memory";
        }
        for (String port : demand.hostPorts()) {
            if (more > 0 || used.portInUse(port)) {
                return "host port " + port + " in use";
            }
        }
        return null;
    }

    /** Why {@link #canPlace} refuses a node that the selector matched. */
    private static String whyNot(AppSpec spec, Node node) {
        if (node.getStatus().getPhase() != NodeStatus.Phase.READY) {
            return "not ready";
        }
        if (node.getStatus().getConditionsCount() > 0) {
            return "under " + node.getStatus().getConditions(0).getType();
        }
        if (node.getSpec().getUnschedulable()) {
            return "cordoned";
        }
        if (!selects(spec.getNodeSelectorMap(), node)) {
            return "not matching the node selector";
        }
        return "a taint not tolerated";
    }

    /** "0/5 nodes: 2 insufficient memory, 2 not matching the node selector, 1 host port 8088/tcp in use". */
    static String unschedulable(int nodes, int selected, Map<String, String> refused) {
        Map<String, Integer> byReason = new HashMap<>();
        refused.values().forEach(reason -> byReason.merge(reason, 1, Integer::sum));
        if (nodes > selected) {
            byReason.merge("not matching the node selector", nodes - selected, Integer::sum);
        }
        return "0/" + nodes + " nodes: " + (byReason.isEmpty() ? "none to place on" : byReason.entrySet().stream()
                .sorted(Map.Entry.<String, Integer>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
                .map(e -> e.getValue() + " " + e.getKey()).collect(java.util.stream.Collectors.joining(", ")));
    }

    /**
     * A new replica may go here. A node with a condition (pressure, runtime down) takes none, as
     * Kubernetes' NoSchedule taints do; EVERY_NODE Apps place there anyway (DaemonSets tolerate them).
     */
    static boolean canPlace(AppSpec spec, Node node) {
        return node.getStatus().getPhase() == NodeStatus.Phase.READY
                && node.getStatus().getConditionsCount() == 0 // memory or disk pressure, the runtime not answering
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
        return keptUntil(spec, node).map(until -> now.isBefore(until)).orElse(true);
    }

    /**
     * Whether the node's phase can make a replica of this App leave it ({@link #keptUntil}): only
     * with reschedule_after_unreachable, or on a node with autonomy disabled. Otherwise the App's
     * placement on the node does not depend on READY or UNREACHABLE.
     */
    public static boolean mayGiveUpOn(AppSpec spec, Node node) {
        return spec.hasRescheduleAfterUnreachable() || node.getSpec().getAutonomyDisabled();
    }

    /**
     * Until when a replica may stay on this node if it is UNREACHABLE and that is tolerated only for a
     * while: a node with autonomy off gives its replicas up at once (after the node grace that made
     * it UNREACHABLE), unless the App states its own toleration. Empty: no time limit.
     */
    static Optional<Instant> keptUntil(AppSpec spec, Node node) {
        if (node.getStatus().getPhase() != NodeStatus.Phase.UNREACHABLE || !mayGiveUpOn(spec, node)) {
            return Optional.empty();
        }
        Duration tolerance = spec.hasRescheduleAfterUnreachable()
                ? Duration.ofSeconds(spec.getRescheduleAfterUnreachable().getSeconds(), spec.getRescheduleAfterUnreachable().getNanos())
                : Duration.ZERO;
        Instant since = node.getStatus().hasLastHeartbeat()
                ? Joiner.toInstant(node.getStatus().getLastHeartbeat()) : Instant.EPOCH;
        return Optional.of(since.plus(tolerance));
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
