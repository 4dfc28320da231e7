package dev.edgeplane.controlplane.scheduler;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.StorageClass;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeClaim;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.volumes.StorageClasses;
import dev.edgeplane.controlplane.volumes.VolumeTasks;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * Wait-for-first-consumer binding of Volumes (pure, no I/O). An App's named volumes are resolved
 * into the VolumeClaims its assignments carry; a volume bound to a node (or restored on one) pins
 * the App there; the first placement of its consumer binds an unbound one. The phase follows:
 * PENDING (on no node, or not created on its node yet) -> BOUND (a replica placed on its node uses
 * it) -> AVAILABLE (created there, its App has no replica placed) -> RELEASED (no App names it any
 * more; Retain) or DELETING (Delete: its node is told to delete it through a {@link VolumeTasks}
 * entry written in the same transaction; the resource goes once the node confirms). Scaling to 0
 * only makes a volume AVAILABLE: nothing but a volume task ever deletes data on a node. Whether it
 * exists on its node comes from the agent's reports (VolumeStatus.node_status).
 */
public final class VolumeBinding {
    private VolumeBinding() {}

    /**
     * A guarded write of one Volume key: put {@code value}, or delete when it is empty; with a
     * {@code task}, that entry of the node's desired state is put in the same transaction.
     */
    public record VolumeWrite(String key, long modRevision, Optional<Volume> value, String why, Optional<Assignment> task) {
        VolumeWrite(String key, long modRevision, Optional<Volume> value, String why) {
            this(key, modRevision, value, why, Optional.empty());
        }
    }

    /** What an App's volumes mean for placing it. */
    public record Resolved(Map<String, VolumeClaim> claims, Optional<String> pinnedTo, List<Entry<Volume>> unbound) {}

    /** As below, with the built-in storage classes only. */
    public static Optional<Resolved> resolve(App app, Map<String, Entry<Volume>> volumes) {
        return resolve(app, volumes, StorageClasses::builtIn);
    }

    /**
     * Empty when a volume the App names does not exist (its replicas wait). A claim carries its
     * class's CSI parameters ({@code classes}: the stored StorageClasses).
     */
    public static Optional<Resolved> resolve(App app, Map<String, Entry<Volume>> volumes,
                                             Function<String, Optional<StorageClass>> classes) {
        Map<String, VolumeClaim> claims = new LinkedHashMap<>();
        Optional<String> pinned = Optional.empty();
        List<Entry<Volume>> unbound = new ArrayList<>();
        String ns = app.getMetadata().getNamespace();
        for (PodVolume pv : app.getSpec().getTemplate().getVolumesList()) {
            if (pv.getSourceCase() != PodVolume.SourceCase.VOLUME || claims.containsKey(pv.getVolume())) {
                continue;
            }
            Entry<Volume> entry = volumes.get(Keys.volume(ns, pv.getVolume()));
            if (entry == null) {
                return Optional.empty();
            }
            Volume volume = entry.value();
            if (volume.getStatus().getPhase() == VolumeStatus.Phase.DELETING) {
                return Optional.empty(); // on its way out: the App waits for a new Volume of that name
            }
            claims.put(pv.getVolume(), VolumeClaim.newBuilder()
                    .setName(volume.getMetadata().getName())
                    .setUid(volume.getMetadata().getUid())
                    .setSizeBytes(volume.getSpec().getSizeBytes())
                    .putAllParameters(classes.apply(volume.getSpec().getStorageClass()).map(StorageClasses::parameters).orElse(Map.of()))
                    .setDeleteOnRelease(volume.getSpec().getReclaimPolicy() == VolumeSpec.ReclaimPolicy.DELETE)
                    .setSourceSnapshotId(volume.getStatus().getSourceSnapshotId())
                    .build());
            if (!volume.getStatus().getNode().isEmpty()) {
                pinned = pinned.isPresent() ? pinned : Optional.of(volume.getStatus().getNode());
            } else {
                unbound.add(entry);
            }
        }
        return Optional.of(new Resolved(claims, pinned, unbound));
    }

    /** Binds the App's unbound volumes to the node its replica was just placed on; marks bound ones BOUND. */
    public static List<VolumeWrite> bind(Resolved resolved, Map<String, Entry<Volume>> volumes, String namespace,
                                  String replica, String node, Instant now) {
        List<VolumeWrite> writes = new ArrayList<>();
        for (VolumeClaim claim : resolved.claims().values()) {
            Entry<Volume> entry = volumes.get(Keys.volume(namespace, claim.getName()));
            VolumeStatus status = entry.value().getStatus();
            if (status.getPhase() == VolumeStatus.Phase.BOUND && status.getReplica().equals(replica)
                    && status.getNode().equals(node)) {
                continue;
            }
            if (!status.getNode().isEmpty() && !status.getNode().equals(node)) {
                continue; // bound elsewhere (two volumes of one App on two nodes): never rebind
            }
            VolumeStatus.Builder bound = status.toBuilder().setPhase(VolumeStatus.Phase.BOUND).setNode(node)
                    .setReplica(replica).setMessage("");
            if (!status.hasBindTime()) {
                bound.setBindTime(Joiner.timestamp(now));
            }
            writes.add(new VolumeWrite(entry.key(), entry.modRevision(),
                    Optional.of(entry.value().toBuilder().setStatus(bound).build()),
                    "bound to " + node + " for " + namespace + "/" + replica));
        }
        return writes;
    }

    /**
     * Volumes no placed replica uses ({@code used}: the keys {@link #bind} was called for): those
     * an App still names become AVAILABLE (created on their node) or PENDING; bound ones no App names
     * any more are RELEASED (Retain) or deleted (Delete).
     */
    public static List<VolumeWrite> settle(List<Entry<App>> apps, Set<String> used, Map<String, Entry<Volume>> volumes) {
        Set<String> named = new HashSet<>();
        for (Entry<App> app : apps) {
            for (PodVolume pv : app.value().getSpec().getTemplate().getVolumesList()) {
                if (pv.getSourceCase() == PodVolume.SourceCase.VOLUME) {
                    named.add(Keys.volume(app.value().getMetadata().getNamespace(), pv.getVolume()));
                }
            }
        }
        List<VolumeWrite> writes = new ArrayList<>();
        for (Entry<Volume> entry : volumes.values()) {
            Volume volume = entry.value();
            VolumeStatus status = volume.getStatus();
            if (used.contains(entry.key())) {
                continue;
            }
            if (named.contains(entry.key())) {
                // A bound volume its replica left; or one left PENDING that way before its node had reported it
                // created (a replica removed right after it was placed), which its node's report now makes AVAILABLE.
                boolean createdSincePending = status.getPhase() == VolumeStatus.Phase.PENDING && !status.getNode().isEmpty()
                        && created(status);
                if (status.getPhase() != VolumeStatus.Phase.BOUND && !createdSincePending) {
                    continue;
                }
                VolumeStatus.Builder idle = status.toBuilder().clearReplica();
                if (created(status)) {
                    idle.setPhase(VolumeStatus.Phase.AVAILABLE).setMessage("created on " + status.getNode() + "; no replica uses it");
                } else {
                    idle.setPhase(VolumeStatus.Phase.PENDING).setMessage("bound to " + status.getNode() + "; no replica placed yet");
                }
                writes.add(new VolumeWrite(entry.key(), entry.modRevision(), Optional.of(volume.toBuilder().setStatus(idle).build()),
                        idle.getPhase() + " (its app has no replica placed)"));
                continue;
            }
            boolean wasBound = status.hasBindTime() || status.getPhase() == VolumeStatus.Phase.BOUND
                    || status.getPhase() == VolumeStatus.Phase.AVAILABLE;
            if (!wasBound || status.getPhase() == VolumeStatus.Phase.RELEASED || status.getPhase() == VolumeStatus.Phase.DELETING) {
                continue; // never used (e.g. restored, waiting for its first consumer), already released or being deleted
            }
            if (volume.getSpec().getReclaimPolicy() == VolumeSpec.ReclaimPolicy.DELETE) {
                if (status.getNode().isEmpty()) {
                    writes.add(new VolumeWrite(entry.key(), entry.modRevision(), Optional.empty(),
                            "deleted with its app (reclaim policy Delete; on no node)"));
                    continue;
                }
                writes.add(new VolumeWrite(entry.key(), entry.modRevision(),
                        Optional.of(VolumeTasks.deleting(volume, "its app is gone (reclaim policy Delete)")),
                        "its app is gone (reclaim policy Delete): node " + status.getNode() + " told to delete it",
                        Optional.of(VolumeTasks.delete(volume))));
            } else {
                writes.add(new VolumeWrite(entry.key(), entry.modRevision(), Optional.of(volume.toBuilder()
                        .setStatus(status.toBuilder().setPhase(VolumeStatus.Phase.RELEASED).clearReplica()
                                .setMessage("its app is gone; the data stays on " + status.getNode()))
                        .build()), "released (reclaim policy Retain)"));
            }
        }
        return writes;
    }

    /** The node's agent reported it created (and not deleted since). */
    static boolean created(VolumeStatus status) {
        return switch (status.getNodeStatus().getState()) {
            case CREATED, STAGED, PUBLISHED -> true;
            default -> false;
        };
    }
}
