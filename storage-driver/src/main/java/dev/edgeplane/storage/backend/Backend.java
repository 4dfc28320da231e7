package dev.edgeplane.storage.backend;

import dev.edgeplane.storage.metadata.BackendKind;
import dev.edgeplane.storage.metadata.SnapshotRecord;
import dev.edgeplane.storage.metadata.VolumeRecord;
import dev.edgeplane.storage.mount.MountEntry;

import java.nio.file.Path;
import java.util.List;

/**
 * Where volume bytes live. Every method is idempotent: called again after a crash half way it
 * first removes what a previous attempt left behind, or sees the work is done. A call that finds
 * the host in a state it must not touch throws {@link IllegalStateException}.
 */
public sealed interface Backend permits LoopfsBackend, BtrfsBackend {

    BackendKind kind();

    /** Filesystem types a volume may have; the first is the default. */
    List<String> fsTypes();

    long minimumVolumeBytes(String fsType);

    /** Total bytes of the pool; {@code allocatedBytes} is what this driver has promised already. */
    long poolCapacityBytes(long allocatedBytes);

    /** What a snapshot takes out of the pool (a full copy for loopfs, shared blocks for btrfs). */
    long snapshotAllocatedBytes(SnapshotRecord snapshot);

    void createVolume(VolumeRecord volume);

    void restoreVolume(VolumeRecord volume, SnapshotRecord snapshot);

    void deleteVolume(VolumeRecord volume);

    /** Grows the volume's storage; returns whether the node must then grow the filesystem. */
    boolean expandVolume(VolumeRecord volume, long newBytes);

    /** @param stagedAt the volume's staging mount, or null when it is not mounted */
    void createSnapshot(VolumeRecord volume, SnapshotRecord snapshot, Path stagedAt);

    void deleteSnapshot(SnapshotRecord snapshot);

    /**
     * Attaches and mounts the volume at the staging path; grows the filesystem first if a resize is
     * pending. Returns false when the filesystem still does not span its (grown) device.
     */
    boolean stage(VolumeRecord volume, Path stagingPath, List<String> mountFlags);

    void unstage(VolumeRecord volume, Path stagingPath);

    void nodeExpand(VolumeRecord volume, Path stagingPath);

    /** Inode counts are 0 where the filesystem has no fixed inode table (btrfs). */
    VolumeStats stats(VolumeRecord volume, Path path);

    /** Whether this mount shows this volume (staging mount or a bind of it). */
    boolean isVolumeMount(VolumeRecord volume, MountEntry mount);

    /** Whether the host still holds the volume (attached, mounted): then it must not be deleted. */
    boolean inUse(VolumeRecord volume);

    /** After a restart: release host resources that no record needs (e.g. leaked loop devices). */
    void reconcile(List<VolumeRecord> volumes);
}
