package dev.edgeplane.controlplane.scheduler;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeClaim;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.volumes.StorageClasses;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Wait-for-first-consumer binding of Volumes (pure, no I/O). An App's named volumes are resolved
 * into the VolumeClaims its assignments carry; a volume bound to a node pins the App there; the
 * first placement of its consumer binds an unbound one; a bound volume no App names any more is
 * released (Retain) or deleted (Delete).
 */
final class VolumeBinding {
    private VolumeBinding() {}

    /** A guarded write of one Volume key: put {@code value}, or delete when it is empty. */
    record VolumeWrite(String key, long modRevision, Optional<Volume> value, String why) {}

    /** What an App's volumes mean for placing it. */
    record Resolved(Map<String, VolumeClaim> claims, Optional<String> pinnedTo, List<Entry<Volume>> unbound) {}

    /** Empty when a volume the App names does not exist (its replicas wait). */
    static Optional<Resolved> resolve(App app, Map<String, Entry<Volume>> volumes) {
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
            claims.put(pv.getVolume(), VolumeClaim.newBuilder()
                    .setName(volume.getMetadata().getName())
                    .setUid(volume.getMetadata().getUid())
                    .setSizeBytes(volume.getSpec().getSizeBytes())
                    .putAllParameters(StorageClasses.parameters(volume.getSpec().getStorageClass()).orElse(Map.of()))
                    .setDeleteOnRelease(volume.getSpec().getReclaimPolicy() == VolumeSpec.ReclaimPolicy.DELETE)
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
    static List<VolumeWrite> bind(Resolved resolved, Map<String, Entry<Volume>> volumes, String namespace,
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

    /** Bound volumes that no App names any more: RELEASED (Retain) or deleted (Delete). */
    static List<VolumeWrite> release(List<Entry<App>> apps, Map<String, Entry<Volume>> volumes) {
        Set<String> used = new HashSet<>();
        for (Entry<App> app : apps) {
            for (PodVolume pv : app.value().getSpec().getTemplate().getVolumesList()) {
                if (pv.getSourceCase() == PodVolume.SourceCase.VOLUME) {
                    used.add(Keys.volume(app.value().getMetadata().getNamespace(), pv.getVolume()));
                }
            }
        }
        List<VolumeWrite> writes = new ArrayList<>();
        for (Entry<Volume> entry : volumes.values()) {
            Volume volume = entry.value();
            if (used.contains(entry.key()) || volume.getStatus().getPhase() != VolumeStatus.Phase.BOUND) {
                continue;
            }
            if (volume.getSpec().getReclaimPolicy() == VolumeSpec.ReclaimPolicy.DELETE) {
                writes.add(new VolumeWrite(entry.key(), entry.modRevision(), Optional.empty(),
                        "deleted with its app (reclaim policy Delete)"));
            } else {
                writes.add(new VolumeWrite(entry.key(), entry.modRevision(), Optional.of(volume.toBuilder()
                        .setStatus(volume.getStatus().toBuilder().setPhase(VolumeStatus.Phase.RELEASED).clearReplica()
                                .setMessage("its app is gone; the data stays on " + volume.getStatus().getNode()))
                        .build()), "released (reclaim policy Retain)"));
            }
        }
        return writes;
    }
}
