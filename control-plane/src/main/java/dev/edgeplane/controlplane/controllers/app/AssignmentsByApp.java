package dev.edgeplane.controlplane.controllers.app;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.controlplane.scheduler.NodeIndex;
import dev.edgeplane.controlplane.scheduler.PodRequests;
import dev.edgeplane.controlplane.store.Entry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The replicas' assignments indexed by App ("namespace/app" -> assignment key -> entry) and by node
 * (node -> App -> replicas there), kept from the assignment watch; replica counts per node go to the
 * {@link NodeIndex}. Volume snapshots, volume tasks and image pull tasks in a node's prefix are not
 * replicas and are left out. Thread-safe: the watch thread writes, the workers read copies.
 */
final class AssignmentsByApp {
    private final NodeIndex nodes;
    private final Map<String, Map<String, Entry<Assignment>>> byApp = new HashMap<>();
    private final Map<String, Map<String, Integer>> appsByNode = new HashMap<>();

    AssignmentsByApp(NodeIndex nodes) {
        this.nodes = nodes;
    }

    /** A pod that holds its node's resources; a Job's pods are in (their App key "ns/job.NAME" is never reconciled here). */
    static boolean isReplica(Assignment a) {
        return dev.edgeplane.api.JobPods.occupiesNode(a);
    }

    static String appKey(Assignment a) {
        return a.getNamespace() + "/" + a.getApp();
    }

    /** Indexes a put; returns its App key, or null when it is not a replica's. */
    synchronized String add(Entry<Assignment> e) {
        if (!isReplica(e.value())) {
            return null;
        }
        String app = appKey(e.value());
        Entry<Assignment> before = byApp.computeIfAbsent(app, k -> new HashMap<>()).put(e.key(), e);
        if (before != null) {
            uncount(app, before.value());
        }
        count(app, e.value());
        return app;
    }

    /** Forgets an entry (deleted, or replaced by a put under another key); returns its App key or null. */
    synchronized String remove(Entry<Assignment> e) {
        if (!isReplica(e.value())) {
            return null;
        }
        String app = appKey(e.value());
        Map<String, Entry<Assignment>> mine = byApp.get(app);
        if (mine != null && mine.remove(e.key()) != null) {
            uncount(app, e.value());
            if (mine.isEmpty()) {
                byApp.remove(app);
            }
        }
        return app;
    }

    synchronized void clear() {
        byApp.clear();
        appsByNode.clear();
        nodes.clearReplicas();
    }

    private void count(String app, Assignment a) {
        appsByNode.computeIfAbsent(a.getNode(), k -> new HashMap<>()).merge(app, 1, Integer::sum);
        nodes.count(a.getNode(), PodRequests.of(a), 1);
    }

    private void uncount(String app, Assignment a) {
        String node = a.getNode();
        Map<String, Integer> apps = appsByNode.get(node);
        if (apps != null) {
            apps.computeIfPresent(app, (k, n) -> n <= 1 ? null : n - 1);
            if (apps.isEmpty()) {
                appsByNode.remove(node);
            }
        }
        nodes.count(node, PodRequests.of(a), -1);
    }

    /** A copy of the App's entries. */
    synchronized List<Entry<Assignment>> of(String app) {
        Map<String, Entry<Assignment>> mine = byApp.get(app);
        return mine == null ? List.of() : new ArrayList<>(mine.values());
    }

    synchronized int count(String app) {
        Map<String, Entry<Assignment>> mine = byApp.get(app);
        return mine == null ? 0 : mine.size();
    }

    synchronized Set<String> appsOn(String node) {
        Map<String, Integer> apps = appsByNode.get(node);
        return apps == null ? Set.of() : new HashSet<>(apps.keySet());
    }

    synchronized Set<String> apps() {
        return new HashSet<>(byApp.keySet());
    }
}
