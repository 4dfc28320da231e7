package dev.edgeplane.controlplane.scheduler;

import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.StorageBackend;
import dev.edgeplane.api.v1.StorageClass;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.controlplane.store.Entry;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * Whether a node can hold volumes not bound yet (pure, no I/O): its storage driver has the class's
 * backend and filesystem, and the backend's free bytes cover them all (Kubernetes' CSIStorageCapacity
 * check). What a node reported is NodeStatus.storage; a node that reported nothing (an older agent)
 * is not checked, as a capacity it has not reported is not.
 *
 * @param needs one per unbound volume
 */
public record StorageFit(List<Need> needs) {
    /** Nothing to hold: every node fits. */
    public static final StorageFit NONE = new StorageFit(List.of());

    /** One volume to place: its backend and filesystem ("" = any the backend makes) and size. */
    public record Need(String volume, String backend, String fsType, long sizeBytes) {}

    public StorageFit {
        needs = List.copyOf(needs);
    }

    /**
     * The needs of an App's unbound volumes, their classes looked up in {@code classes}. A volume whose
     * class is unknown needs nothing here (the API refuses such a class; the driver reports what fails).
     */
    public static StorageFit of(Collection<Entry<Volume>> unbound, Function<String, Optional<StorageClass>> classes) {
        List<Need> needs = new ArrayList<>();
        for (Entry<Volume> e : unbound) {
            Volume volume = e.value();
            classes.apply(volume.getSpec().getStorageClass()).ifPresent(c -> needs.add(new Need(
                    volume.getMetadata().getName(), c.getSpec().getBackend(), c.getSpec().getFsType(), volume.getSpec().getSizeBytes())));
        }
        return needs.isEmpty() ? NONE : new StorageFit(needs);
    }

    /** Why the node cannot hold these volumes ("no btrfs storage", "insufficient btrfs storage"), or null when it can. */
    public String misfit(Node node) {
        if (needs.isEmpty() || !node.getStatus().hasStorage()) {
            return null;
        }
        Map<String, StorageBackend> backends = new LinkedHashMap<>();
        node.getStatus().getStorage().getBackendsList().forEach(b -> backends.putIfAbsent(b.getName(), b));
        Map<String, Long> wanted = new TreeMap<>();
        for (Need need : needs) {
            StorageBackend backend = backends.get(need.backend());
            if (backend == null) {
                return "no " + need.backend() + " storage";
            }
            if (!need.fsType().isEmpty() && !backend.getFsTypesList().contains(need.fsType())) {
                return "no " + need.fsType() + " on " + need.backend() + " storage";
            }
            wanted.merge(need.backend(), need.sizeBytes(), Long::sum);
        }
        for (Map.Entry<String, Long> w : wanted.entrySet()) {
            if (backends.get(w.getKey()).getFreeBytes() < w.getValue()) {
                return "insufficient " + w.getKey() + " storage";
            }
        }
        return null;
    }

    /**
     * Where an IMMEDIATE volume binds at creation: a READY, schedulable node without conditions that
     * reported storage able to hold it, the one with the most free bytes of the backend (spreading
     * volumes), then by name. Empty, with {@code why} filled as a FailedScheduling message, when none can.
     */
    public static Optional<String> immediateNode(Need need, Collection<Node> nodes, StringBuilder why) {
        StorageFit fit = new StorageFit(List.of(need));
        Map<String, String> refused = new TreeMap<>();
        Node best = null;
        long bestFree = -1;
        for (Node node : nodes) {
            String name = node.getMetadata().getName();
            String misfit;
            if (node.getStatus().getPhase() != NodeStatus.Phase.READY) {
                misfit = "not ready";
            } else if (node.getSpec().getUnschedulable()) {
                misfit = "cordoned";
            } else if (node.getStatus().getConditionsCount() > 0) {
                misfit = "under " + node.getStatus().getConditions(0).getType();
            } else if (!node.getStatus().hasStorage()) {
                misfit = "storage not reported";
            } else {
                misfit = fit.misfit(node);
            }
            if (misfit != null) {
                refused.put(name, misfit);
                continue;
            }
            long free = freeBytes(node, need.backend());
            if (best == null || free > bestFree || (free == bestFree && name.compareTo(best.getMetadata().getName()) < 0)) {
                best = node;
                bestFree = free;
            }
        }
        if (best == null) {
            why.append(Placement.unschedulable(nodes.size(), nodes.size(), refused));
            return Optional.empty();
        }
        return Optional.of(best.getMetadata().getName());
    }

    static long freeBytes(Node node, String backend) {
        return node.getStatus().getStorage().getBackendsList().stream().filter(b -> b.getName().equals(backend))
                .map(StorageBackend::getFreeBytes).max(Comparator.naturalOrder()).orElse(0L);
    }
}
