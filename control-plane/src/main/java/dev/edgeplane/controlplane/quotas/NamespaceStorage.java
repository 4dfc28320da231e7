package dev.edgeplane.controlplane.quotas;

import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotPolicy;
import java.util.HashMap;
import java.util.Map;

/**
 * The storage objects of one namespace by name, as a quota counts them; a write is checked by
 * comparing the usage of this with that of its changed copy ({@link #withVolume} etc.).
 */
public record NamespaceStorage(Map<String, Volume> volumes, Map<String, VolumeSnapshot> snapshots,
                               Map<String, VolumeSnapshotPolicy> policies) {
    public static final NamespaceStorage EMPTY = new NamespaceStorage(Map.of(), Map.of(), Map.of());

    public NamespaceStorage {
        volumes = Map.copyOf(volumes);
        snapshots = Map.copyOf(snapshots);
        policies = Map.copyOf(policies);
    }

    public NamespaceStorage withVolume(Volume volume) {
        Map<String, Volume> next = new HashMap<>(volumes);
        next.put(volume.getMetadata().getName(), volume);
        return new NamespaceStorage(next, snapshots, policies);
    }

    public NamespaceStorage withSnapshot(VolumeSnapshot snapshot) {
        Map<String, VolumeSnapshot> next = new HashMap<>(snapshots);
        next.put(snapshot.getMetadata().getName(), snapshot);
        return new NamespaceStorage(volumes, next, policies);
    }

    public NamespaceStorage withPolicy(VolumeSnapshotPolicy policy) {
        Map<String, VolumeSnapshotPolicy> next = new HashMap<>(policies);
        next.put(policy.getMetadata().getName(), policy);
        return new NamespaceStorage(volumes, snapshots, next);
    }

    /** True when the policy's volume_selector selects the volume (all its labels present; empty: every volume). */
    public static boolean selects(VolumeSnapshotPolicy policy, Volume volume) {
        Map<String, String> labels = volume.getMetadata().getLabelsMap();
        for (Map.Entry<String, String> e : policy.getSpec().getVolumeSelectorMap().entrySet()) {
            if (!e.getValue().equals(labels.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    /**
     * What a quota counts: sizes and number of volumes; snapshots taken by hand, plus keep_count x the
     * volumes each policy selects (what its nodes may hold, offline too), plus the snapshots of policies
     * that no longer exist (nothing prunes them any more).
     */
    public StorageUsage usage() {
        long bytes = 0;
        for (Volume v : volumes.values()) {
            bytes = StorageUsage.add(bytes, Math.max(0, v.getSpec().getSizeBytes()));
        }
        long snapshotCount = 0;
        for (VolumeSnapshot s : snapshots.values()) {
            if (s.getSpec().getPolicy().isEmpty() || !policies.containsKey(s.getSpec().getPolicy())) {
                snapshotCount++;
            }
        }
        for (VolumeSnapshotPolicy p : policies.values()) {
            long selected = volumes.values().stream().filter(v -> selects(p, v)).count();
            snapshotCount = StorageUsage.add(snapshotCount, selected * Math.max(0, p.getSpec().getKeepCount()));
        }
        return new StorageUsage(bytes, volumes.size(), snapshotCount);
    }
}
