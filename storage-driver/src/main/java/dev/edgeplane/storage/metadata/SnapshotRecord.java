package dev.edgeplane.storage.metadata;

/** A point-in-time copy of a volume; {@code sizeBytes} is the smallest volume it restores into. */
public record SnapshotRecord(String id, String name, String sourceVolumeId, BackendKind backend, String fsType,
                             long sizeBytes, Phase phase, long createdAtMillis) {

    public boolean ready() {
        return phase == Phase.DONE;
    }

    public SnapshotRecord withPhase(Phase p) {
        return new SnapshotRecord(id, name, sourceVolumeId, backend, fsType, sizeBytes, p, createdAtMillis);
    }
}
