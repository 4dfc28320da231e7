package dev.edgeplane.controlplane.events;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ObjectReference;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The objects each node was given to run, recent ones included: the replicas, Apps, Volumes and
 * VolumeSnapshots of its assignments (the node authorizer's rule: a node speaks only about what is
 * bound to it). Fed by the assignments informer; an assignment's removal keeps its objects, so the
 * events of a replica being stopped are still accepted. Bounded per node (oldest forgotten) and
 * dropped with the node.
 */
@ApplicationScoped
public class NodeObjects {
    /** Objects remembered per node; past it the oldest go (a node with more churn loses old events). */
    static final int MAX_PER_NODE = 1024;

    private final StateCaches caches;
    private final Map<String, LinkedHashSet<String>> byNode = new ConcurrentHashMap<>();

    public NodeObjects(StateCaches caches) {
        this.caches = caches;
    }

    /** Subscribes to the informers; call once they have started. */
    public void start() {
        caches.assignments().subscribe(new PrefixCache.Listener<>() {
            @Override
            public void onEvents(List<PrefixCache.Event<Assignment>> events, long revision) {
                for (PrefixCache.Event<Assignment> event : events) {
                    if (event instanceof PrefixCache.Put<Assignment> put) {
                        remember(put.entry().value());
                    }
                }
            }

            @Override
            public void onReset(Map<String, Entry<Assignment>> state, long revision) {
                state.values().forEach(e -> remember(e.value()));
            }
        }, (state, revision) -> {
            state.values().forEach(e -> remember(e.value()));
            return null;
        });
        caches.nodes().subscribe(new PrefixCache.Listener<>() {
            @Override
            public void onEvents(List<PrefixCache.Event<dev.edgeplane.api.v1.Node>> events, long revision) {
                for (var event : events) {
                    if (event instanceof PrefixCache.Delete<dev.edgeplane.api.v1.Node>) {
                        byNode.remove(Keys.suffix(event.key(), Keys.NODES));
                    }
                }
            }
        });
    }

    /** True when {@code node} may report an event about {@code object} (its own Node always). */
    public boolean owns(String node, ObjectReference object) {
        if (object.getKind().equals("Node")) {
            return object.getName().isEmpty() || object.getName().equals(node);
        }
        LinkedHashSet<String> objects = byNode.get(node);
        if (objects == null) {
            return false;
        }
        synchronized (objects) {
            return objects.contains(key(object.getKind(), object.getNamespace(), object.getName()));
        }
    }

    void remember(Assignment a) {
        String ns = a.getNamespace();
        LinkedHashSet<String> objects = byNode.computeIfAbsent(a.getNode(), n -> new LinkedHashSet<>());
        synchronized (objects) {
            if (a.hasVolumeSnapshot()) {
                add(objects, key("VolumeSnapshot", ns, a.getVolumeSnapshot().getName()));
            } else if (a.hasVolumeTask()) {
                add(objects, key("Volume", ns, a.getVolumeTask().getName()));
            } else if (a.hasVolumeSnapshotPolicy()) {
                add(objects, key("VolumeSnapshotPolicy", ns, a.getVolumeSnapshotPolicy().getName()));
            } else if (a.hasCronJob()) {
                add(objects, key("CronJob", ns, a.getCronJob().getName()));
            } else if (a.hasImagePull()) {
                add(objects, key("ImagePrefetch", ns, a.getImagePull().getName()));
            } else {
                add(objects, key("Replica", ns, a.getReplica()));
                add(objects, key("App", ns, a.getApp()));
                a.getVolumesMap().values().forEach(claim -> add(objects, key("Volume", ns, claim.getName())));
            }
        }
    }

    private static void add(LinkedHashSet<String> objects, String key) {
        objects.remove(key);
        objects.add(key);
        if (objects.size() > MAX_PER_NODE) {
            Iterator<String> oldest = objects.iterator();
            oldest.next();
            oldest.remove();
        }
    }

    private static String key(String kind, String namespace, String name) {
        return kind + "/" + (namespace.isEmpty() ? "default" : namespace) + "/" + name;
    }
}
