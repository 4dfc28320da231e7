package dev.edgeplane.controlplane.volumes;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotTask;
import dev.edgeplane.controlplane.store.Keys;

/**
 * A VolumeSnapshot reaches its node as one more entry of the node's desired state: an Assignment
 * carrying a {@link VolumeSnapshotTask} at /edgeplane/assignments/&lt;node&gt;/&lt;ns&gt;/snapshot.&lt;name&gt;,
 * so the Sync stream, the agent's journal and its acks carry it like any replica. Deleting the key
 * deletes the snapshot on the node.
 */
public final class SnapshotTasks {
    /** Replica names are DNS labels (no dots): this prefix can never collide with one. */
    public static final String REPLICA_PREFIX = "snapshot.";

    private SnapshotTasks() {}

    public static String key(String node, String namespace, String snapshot) {
        return Keys.assignment(node, namespace, REPLICA_PREFIX + snapshot);
    }

    public static Assignment task(VolumeSnapshot snapshot, String node, String sourceVolumeId) {
        return Assignment.newBuilder()
                .setNode(node)
                .setNamespace(snapshot.getMetadata().getNamespace())
                .setReplica(REPLICA_PREFIX + snapshot.getMetadata().getName())
                .setVolumeSnapshot(VolumeSnapshotTask.newBuilder()
                        .setName(snapshot.getMetadata().getName())
                        .setUid(snapshot.getMetadata().getUid())
                        .setVolume(snapshot.getSpec().getVolume())
                        .setSourceVolumeId(sourceVolumeId))
                .build();
    }
}
