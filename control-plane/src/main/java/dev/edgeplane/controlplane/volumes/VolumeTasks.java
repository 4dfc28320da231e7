package dev.edgeplane.controlplane.volumes;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.api.v1.VolumeTask;
import dev.edgeplane.controlplane.store.Keys;

/**
 * The only way a volume's data is deleted on its node: an Assignment carrying a {@link VolumeTask}
 * at /edgeplane/assignments/&lt;node&gt;/&lt;ns&gt;/volume.&lt;name&gt;, written together with the Volume's
 * DELETING phase (by the scheduler for reclaim policy Delete, by DeleteVolume for a released one).
 * It travels, is journalled and acked like a replica; the node reports the volume DELETED, and
 * {@link VolumeReports} then removes the Volume and this key in one transaction. The same key
 * carries an EXPAND order while a grown volume's node has not grown it yet ({@link VolumeResize});
 * a deletion overwrites it, and {@link VolumeReports} removes it once the node reports the size.
 */
public final class VolumeTasks {
    /** Replica names are DNS labels (no dots): this prefix can never collide with one. */
    public static final String REPLICA_PREFIX = "volume.";

    private VolumeTasks() {}

    public static String key(String node, String namespace, String volume) {
        return Keys.assignment(node, namespace, REPLICA_PREFIX + volume);
    }

    /** The key of a DELETING volume's task. */
    public static String key(Volume volume) {
        return key(volume.getStatus().getNode(), volume.getMetadata().getNamespace(), volume.getMetadata().getName());
    }

    public static Assignment delete(Volume volume) {
        return order(volume, task(volume).setAction(VolumeTask.Action.DELETE));
    }

    /** The order to grow a volume no pod of its node may be using to its spec's size (same key as a deletion). */
    public static Assignment expand(Volume volume) {
        return order(volume, task(volume).setAction(VolumeTask.Action.EXPAND).setSizeBytes(volume.getSpec().getSizeBytes()));
    }

    /** The task about this volume as its node knows it (name, uid, the CSI id it last reported). */
    private static VolumeTask.Builder task(Volume volume) {
        return VolumeTask.newBuilder()
                .setName(volume.getMetadata().getName())
                .setUid(volume.getMetadata().getUid())
                .setVolumeId(volume.getStatus().getNodeStatus().getVolumeId());
    }

    /** The entry of the volume's node's desired state that carries the task (at {@link #key(Volume)}). */
    private static Assignment order(Volume volume, VolumeTask.Builder task) {
        return Assignment.newBuilder()
                .setNode(volume.getStatus().getNode())
                .setNamespace(volume.getMetadata().getNamespace())
                .setReplica(REPLICA_PREFIX + volume.getMetadata().getName())
                .setVolumeTask(task)
                .build();
    }

    /** The volume marked DELETING on its node, with {@code why} as its message. */
    public static Volume deleting(Volume volume, String why) {
        return volume.toBuilder().setStatus(volume.getStatus().toBuilder().setPhase(VolumeStatus.Phase.DELETING)
                .clearReplica().setMessage(why + "; waiting for node " + volume.getStatus().getNode() + " to delete its data"))
                .build();
    }
}
