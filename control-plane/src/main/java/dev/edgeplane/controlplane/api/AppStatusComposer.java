package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.AppPools;
import dev.edgeplane.api.TemplateHashes;
import dev.edgeplane.api.v1.AppPoolStatus;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.RolloutStatus;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.AppStatus;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.controlplane.controllers.app.AppController;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * App.status is not stored: it is composed on read from the App's assignments and the replica
 * statuses agents reported (both from the in-memory watches); its message is the App controller's
 * last word on replicas it could not place.
 */
@ApplicationScoped
public class AppStatusComposer {
    private final StateCaches caches;
    private final AppController controller;

    public AppStatusComposer(StateCaches caches, AppController controller) {
        this.caches = caches;
        this.controller = controller;
    }

    /** Kubernetes' availableReplicas: ready for at least min_ready_seconds. */
    private static boolean readyLongEnough(ReplicaStatus replica, int minReadySeconds, java.time.Instant now) {
        if (minReadySeconds == 0 || !replica.hasReadyTransitionTime()) {
            return true;
        }
        return !java.time.Instant.ofEpochSecond(replica.getReadyTransitionTime().getSeconds()).plusSeconds(minReadySeconds).isAfter(now);
    }

    public App withStatus(App app) {
        String ns = app.getMetadata().getNamespace();
        String name = app.getMetadata().getName();
        // From the controller's index and a prefix of the status cache: O(this App's replicas), not O(fleet).
        Map<String, Assignment> assigned = new HashMap<>();
        for (Entry<Assignment> e : controller.assignmentsOf(ns, name)) {
            assigned.put(e.value().getReplica(), e.value());
        }
        AppStatus.Builder status = AppStatus.newBuilder();
        status.setDesiredReplicas(app.getSpec().getMode() == AppSpec.Mode.EVERY_NODE
                ? assigned.size() : (int) AppPools.desiredReplicas(app.getSpec()));
        String hash = TemplateHashes.of(app.getSpec().getTemplate());
        // With pools, one count per pool (ready and available tallied below, updated from the assignments).
        List<AppPools.Group> groups = AppPools.has(app.getSpec()) ? AppPools.groups(app) : List.of();
        Map<AppPools.Group, AppPoolStatus.Builder> pools = new LinkedHashMap<>();
        for (AppPools.Group g : groups) {
            pools.put(g, AppPoolStatus.newBuilder().setName(g.pool()).setDesiredReplicas(g.desired()));
        }
        for (Assignment a : assigned.values()) {
            if (a.getTemplateHash().equals(hash)) {
                AppPools.groupOf(groups, a.getReplica()).ifPresent(g -> {
                    AppPoolStatus.Builder p = pools.get(g);
                    p.setUpdatedReplicas(p.getUpdatedReplicas() + 1);
                });
            }
        }
        int ready = 0;
        int available = 0;
        int minReady = Math.max(0, app.getSpec().getMinReadySeconds());
        java.time.Instant now = java.time.Instant.now();
        boolean allCurrent = true;
        // Replica names start with "<app>-" ("<app>-<ordinal>", "<app>-<node>"); others sharing the prefix are skipped below.
        for (Entry<ReplicaStatus> e : caches.replicaStatuses().list(Keys.REPLICA_STATUS + ns + "/" + name + "-")) {
            ReplicaStatus replica = e.value();
            if (!replica.getApp().equals(name)) {
                continue;
            }
            Assignment a = assigned.get(replica.getName());
            ReplicaStatus shown = replica;
            Entry<Node> node = caches.nodes().get(Keys.node(replica.getNode()));
            boolean nodeReady = node != null && node.value().getStatus().getPhase() == NodeStatus.Phase.READY;
            if (node != null && node.value().getStatus().getPhase() == NodeStatus.Phase.UNREACHABLE
                    && replica.getPhase() == ReplicaStatus.Phase.RUNNING) {
                shown = replica.toBuilder().setPhase(ReplicaStatus.Phase.UNKNOWN)
                        .setMessage("node " + replica.getNode() + " is unreachable; last reported RUNNING").build();
            }
            status.addReplicas(shown);
            if (a == null || !a.getNode().equals(replica.getNode())) {
                continue; // a leftover from a replica being removed or moved
            }
            if (replica.getGeneration() != 0 && replica.getGeneration() < a.getGeneration()) {
                allCurrent = false;
            }
            if (replica.getPhase() == ReplicaStatus.Phase.RUNNING && replica.getReady()) { // probes passed, on the agent
                ready++;
                boolean isAvailable = nodeReady && readyLongEnough(replica, minReady, now);
                if (isAvailable) {
                    available++;
                }
                AppPoolStatus.Builder pool = AppPools.groupOf(groups, replica.getName()).map(pools::get).orElse(null);
                if (pool != null) {
                    pool.setReadyReplicas(pool.getReadyReplicas() + 1)
                            .setAvailableReplicas(pool.getAvailableReplicas() + (isAvailable ? 1 : 0));
                }
            }
        }
        pools.values().forEach(status::addPools);
        status.setUpdatedReplicas((int) assigned.values().stream().filter(a -> a.getTemplateHash().equals(hash)).count());
        Entry<RolloutStatus> rollout = caches.rollouts().get(Keys.rollout(ns, name));
        if (rollout != null) {
            status.setRollout(rollout.value());
        }
        long generation = app.getMetadata().getGeneration();
        boolean scheduled = assigned.values().stream().allMatch(a -> a.getGeneration() > 0);
        controller.unschedulable(ns, name).ifPresent(status::setMessage);
        status.setReadyReplicas(ready).setAvailableReplicas(available)
                .setObservedGeneration(allCurrent && scheduled ? generation : Math.max(0, generation - 1));
        return app.toBuilder().setStatus(status).build();
    }
}
