package dev.edgeplane.controlplane.controllers.app;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Which Apps use which objects (volumes, ConfigMaps, Secrets), both ways, by etcd key: an object's
 * change wakes exactly the Apps that use it. Thread-safe; answers are copies.
 */
final class UsageIndex {
    private final Map<String, Set<String>> appsByObject = new HashMap<>();
    private final Map<String, Set<String>> objectsByApp = new HashMap<>();

    /** {@code app} now uses exactly {@code objects} (none: it is gone or uses nothing). */
    synchronized void set(String app, Set<String> objects) {
        for (String old : objectsByApp.getOrDefault(app, Set.of())) {
            Set<String> apps = appsByObject.get(old);
            if (apps != null && apps.remove(app) && apps.isEmpty()) {
                appsByObject.remove(old);
            }
        }
        if (objects.isEmpty()) {
            objectsByApp.remove(app);
            return;
        }
        objectsByApp.put(app, Set.copyOf(objects));
        objects.forEach(o -> appsByObject.computeIfAbsent(o, k -> new HashSet<>()).add(app));
    }

    synchronized Set<String> appsUsing(String object) {
        return Set.copyOf(appsByObject.getOrDefault(object, Set.of()));
    }

    synchronized Set<String> usedBy(String app) {
        return objectsByApp.getOrDefault(app, Set.of());
    }
}
