package dev.edgeplane.storage.backend;

import dev.edgeplane.storage.host.CommandException;
import dev.edgeplane.storage.host.Commands;
import dev.edgeplane.storage.host.FsStats;
import dev.edgeplane.storage.metadata.BackendKind;
import dev.edgeplane.storage.metadata.SnapshotRecord;
import dev.edgeplane.storage.metadata.VolumeRecord;
import dev.edgeplane.storage.mount.MountEntry;
import dev.edgeplane.storage.mount.Mounter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.logging.Logger;

/**
 * Volumes are subvolumes of a pool directory on a btrfs filesystem, each with a quota group
 * limit on referenced bytes (a hard size: writes past it fail with EDQUOT, "Disk quota exceeded").
 * Snapshots are read-only copy-on-write snapshots, taken atomically even while the volume is in
 * use; a restore is a writable snapshot of the snapshot. btrfs snapshots share blocks but do not
 * depend on each other, so a snapshot can be deleted while volumes restored from it live on.
 */
public final class BtrfsBackend implements Backend {
    private static final Logger LOG = Logger.getLogger(BtrfsBackend.class.getName());
    private static final long MIB = 1024 * 1024;

    private final Path pool;
    private final Path volumesDir;
    private final Path snapshotsDir;
    private final Commands commands;
    private final Mounter mounter;

    public BtrfsBackend(Path pool, Commands commands, Mounter mounter) {
        this.pool = pool.toAbsolutePath().normalize();
        this.volumesDir = this.pool.resolve("volumes");
        this.snapshotsDir = this.pool.resolve("snapshots");
        this.commands = commands;
        this.mounter = mounter;
        String type = FsStats.fsType(commands, this.pool);
        if (!type.equals("btrfs")) {
            throw new IllegalArgumentException("btrfs pool " + this.pool + " is on " + type + ", not btrfs");
        }
        commands.check("btrfs", "quota", "enable", this.pool.toString());
        try {
            Files.createDirectories(volumesDir);
            Files.createDirectories(snapshotsDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare btrfs pool " + this.pool, e);
        }
    }

    @Override
    public BackendKind kind() {
        return BackendKind.BTRFS;
    }

    @Override
    public List<String> fsTypes() {
        return List.of("btrfs");
    }

    @Override
    public long minimumVolumeBytes(String fsType) {
        return 16 * MIB;
    }

    @Override
    public long poolCapacityBytes(long allocatedBytes) {
        return FsStats.of(commands, pool).totalBytes();
    }

    @Override
    public long snapshotAllocatedBytes(SnapshotRecord snapshot) {
        return 0; // shares blocks with its source
    }

    private Path volumePath(String id) {
        return volumesDir.resolve(id);
    }

    private Path snapshotPath(String id) {
        return snapshotsDir.resolve(id);
    }

    @Override
    public void createVolume(VolumeRecord volume) {
        Path path = volumePath(volume.id());
        deleteSubvolume(path);
        commands.check("btrfs", "subvolume", "create", path.toString());
        limit(path, volume.capacityBytes());
    }

    @Override
    public void restoreVolume(VolumeRecord volume, SnapshotRecord snapshot) {
        Path path = volumePath(volume.id());
        deleteSubvolume(path);
        commands.check("btrfs", "subvolume", "snapshot", snapshotPath(snapshot.id()).toString(), path.toString());
        limit(path, volume.capacityBytes());
    }

    private void limit(Path subvolume, long bytes) {
        commands.check("btrfs", "qgroup", "limit", Long.toString(bytes), subvolume.toString());
    }

    @Override
    public void deleteVolume(VolumeRecord volume) {
        if (inUse(volume)) {
            throw new IllegalStateException("volume " + volume.id() + " is still mounted");
        }
        deleteSubvolume(volumePath(volume.id()));
    }

    @Override
    public boolean expandVolume(VolumeRecord volume, long newBytes) {
        limit(volumePath(volume.id()), newBytes);
        return false;
    }

    @Override
    public void createSnapshot(VolumeRecord volume, SnapshotRecord snapshot, Path stagedAt) {
        Path path = snapshotPath(snapshot.id());
        deleteSubvolume(path);
        commands.check("btrfs", "subvolume", "snapshot", "-r", volumePath(volume.id()).toString(), path.toString());
    }

    @Override
    public void deleteSnapshot(SnapshotRecord snapshot) {
        deleteSubvolume(snapshotPath(snapshot.id()));
    }

    private void deleteSubvolume(Path path) {
        if (!Files.exists(path)) {
            return;
        }
        String id = commands.check("btrfs", "inspect-internal", "rootid", path.toString()).strip();
        if (Files.exists(path)) {
            // a read-only snapshot must be made writable before its qgroup relation can go; delete handles ro too
            commands.check("btrfs", "subvolume", "delete", path.toString());
        }
        // The qgroup of a deleted subvolume stays until the cleaner has freed its blocks; a busy
        // qgroup is harmless (it limits nothing), so a failure here is only logged.
        var r = commands.run("btrfs", "qgroup", "destroy", "0/" + id, pool.toString());
        if (!r.ok()) {
            LOG.fine(() -> "qgroup 0/" + id + " left for later: " + r.output());
        }
    }

    @Override
    public boolean stage(VolumeRecord volume, Path stagingPath, List<String> mountFlags) {
        Path path = volumePath(volume.id());
        if (!Files.isDirectory(path)) {
            throw new IllegalStateException("subvolume of volume " + volume.id() + " is missing");
        }
        List<MountEntry> mounts = mounter.table().at(stagingPath);
        if (mounts.isEmpty()) {
            try {
                Files.createDirectories(stagingPath);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create " + stagingPath, e);
            }
            mounter.bind(path, stagingPath, false);
        } else if (mounts.stream().noneMatch(m -> isVolumeMount(volume, m))) {
            throw new IllegalStateException("staging path " + stagingPath + " already has another mount");
        }
        return true;
    }

    @Override
    public void unstage(VolumeRecord volume, Path stagingPath) {
        for (MountEntry m : mounter.table().at(stagingPath)) {
            if (!isVolumeMount(volume, m)) {
                throw new IllegalStateException("staging path " + stagingPath + " holds a mount of something else");
            }
        }
        mounter.unmountAll(stagingPath);
    }

    @Override
    public void nodeExpand(VolumeRecord volume, Path stagingPath) {
        // the quota limit is the size; there is no filesystem to grow
    }

    @Override
    public VolumeStats stats(VolumeRecord volume, Path path) {
        FsStats fs = FsStats.of(commands, path);
        String id = commands.check("btrfs", "inspect-internal", "rootid", volumePath(volume.id()).toString()).strip();
        long used = 0;
        long limit = volume.capacityBytes();
        String out = commands.check("btrfs", "qgroup", "show", "-re", "--raw", "--sync", volumePath(volume.id()).toString());
        for (String line : out.split("\n")) {
            String[] f = line.strip().split("\\s+");
            if (f.length >= 4 && f[0].equals("0/" + id)) {
                used = Long.parseLong(f[1]);
                if (!f[3].equals("none")) {
                    limit = Long.parseLong(f[3]);
                }
            }
        }
        long available = Math.max(0, Math.min(limit - used, fs.availableBytes()));
        // btrfs allocates inodes on demand: statfs reports no inode totals, and neither do we
        return new VolumeStats(limit, used, available, 0, 0, 0);
    }

    @Override
    public boolean isVolumeMount(VolumeRecord volume, MountEntry mount) {
        return mount.fsType().equals("btrfs") && mount.root().endsWith("/volumes/" + volume.id());
    }

    @Override
    public boolean inUse(VolumeRecord volume) {
        return mounter.table().entries().stream().anyMatch(m -> isVolumeMount(volume, m));
    }

    @Override
    public void reconcile(List<VolumeRecord> volumes) {
        try {
            commands.check("btrfs", "qgroup", "clear-stale", pool.toString());
        } catch (CommandException e) {
            LOG.fine(() -> "qgroup clear-stale: " + e.getMessage());
        }
    }
}
