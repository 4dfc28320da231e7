package dev.edgeplane.storage.metadata;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Everything the driver knows about one volume, controller and node side, persisted as one file.
 *
 * @param fsResizePending the block device grew but the filesystem on it not yet (loopfs)
 * @param staging         null when not staged
 */
public record VolumeRecord(String id, String name, BackendKind backend, String fsType, long capacityBytes,
                           Map<String, String> parameters, String sourceSnapshotId, Phase phase,
                           long createdAtMillis, boolean fsResizePending, Staging staging,
                           List<Publication> publications) {

    public VolumeRecord {
        parameters = Map.copyOf(parameters == null ? Map.of() : parameters);
        publications = List.copyOf(publications == null ? List.of() : publications);
    }

    public boolean ready() {
        return phase == Phase.DONE;
    }

    public boolean inUseOnNode() {
        return staging != null || !publications.isEmpty();
    }

    public Optional<Publication> publication(String targetPath) {
        return publications.stream().filter(p -> p.targetPath().equals(targetPath)).findFirst();
    }

    public VolumeRecord withPhase(Phase p) {
        return new VolumeRecord(id, name, backend, fsType, capacityBytes, parameters, sourceSnapshotId, p,
                createdAtMillis, fsResizePending, staging, publications);
    }

    public VolumeRecord withCapacity(long bytes, boolean resizePending) {
        return new VolumeRecord(id, name, backend, fsType, bytes, parameters, sourceSnapshotId, phase,
                createdAtMillis, resizePending, staging, publications);
    }

    public VolumeRecord withStaging(Staging s) {
        return new VolumeRecord(id, name, backend, fsType, capacityBytes, parameters, sourceSnapshotId, phase,
                createdAtMillis, fsResizePending, s, publications);
    }

    public VolumeRecord withPublication(Publication p) {
        List<Publication> next = new ArrayList<>();
        for (Publication existing : publications) {
            if (!existing.targetPath().equals(p.targetPath())) {
                next.add(existing);
            }
        }
        next.add(p);
        return new VolumeRecord(id, name, backend, fsType, capacityBytes, parameters, sourceSnapshotId, phase,
                createdAtMillis, fsResizePending, staging, next);
    }

    public VolumeRecord withoutPublication(String targetPath) {
        List<Publication> next = publications.stream().filter(p -> !p.targetPath().equals(targetPath)).toList();
        return new VolumeRecord(id, name, backend, fsType, capacityBytes, parameters, sourceSnapshotId, phase,
                createdAtMillis, fsResizePending, staging, next);
    }
}
