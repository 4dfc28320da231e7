package dev.edgeplane.storage.backend;

import dev.edgeplane.storage.StepHook;
import dev.edgeplane.storage.host.Capabilities;
import dev.edgeplane.storage.host.CommandException;
import dev.edgeplane.storage.host.Commands;
import dev.edgeplane.storage.host.FsStats;
import dev.edgeplane.storage.metadata.BackendKind;
import dev.edgeplane.storage.metadata.SnapshotRecord;
import dev.edgeplane.storage.metadata.VolumeRecord;
import dev.edgeplane.storage.mount.MountEntry;
import dev.edgeplane.storage.mount.Mounter;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * Each volume is a sparse file attached to a loop device and formatted ext4 or xfs, so its size
 * is a hard limit no matter what the workload writes.
 *
 * <p>Snapshots are full sparse copies of the file. A staged (mounted) volume is frozen with
 * fsfreeze for the length of the copy, which flushes the filesystem and blocks writers, so the copy
 * is a clean filesystem image; an unstaged volume is copied as it is. Copies are independent of
 * their source, so deleting a snapshot never affects a volume restored from it. The reconciler
 * thaws every staged volume at restart, in case the driver died mid-copy.
 */
public final class LoopfsBackend implements Backend {
    private static final Logger LOG = Logger.getLogger(LoopfsBackend.class.getName());
    private static final long MIB = 1024 * 1024;
    private static final Duration COPY_TIMEOUT = Duration.ofMinutes(30);

    private final Path volumesDir;
    private final Path snapshotsDir;
    private final long configuredCapacityBytes;
    private final Commands commands;
    private final LoopDevices loops;
    private final Mounter mounter;
    private final StepHook hook;
    /** Growing a mounted ext4 (EXT4_IOC_RESIZE_FS) needs CAP_SYS_RESOURCE; without it ext4 grows at stage time. */
    private final boolean ext4OnlineGrow;

    /** @param capacityBytes the pool's size; 0 means "what the host filesystem has room for" */
    public LoopfsBackend(Path dir, long capacityBytes, Commands commands, LoopDevices loops, Mounter mounter,
                         StepHook hook) {
        this.volumesDir = dir.resolve("volumes").toAbsolutePath().normalize();
        this.snapshotsDir = dir.resolve("snapshots").toAbsolutePath().normalize();
        this.configuredCapacityBytes = capacityBytes;
        this.commands = commands;
        this.loops = loops;
        this.mounter = mounter;
        this.hook = hook;
        this.ext4OnlineGrow = Capabilities.effective().contains(Capabilities.CAP_SYS_RESOURCE);
        if (!ext4OnlineGrow) {
            LOG.warning("no CAP_SYS_RESOURCE: mounted ext4 volumes cannot grow online; they grow when next staged");
        }
        try {
            Files.createDirectories(volumesDir);
            Files.createDirectories(snapshotsDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create loopfs dirs under " + dir, e);
        }
    }

    @Override
    public BackendKind kind() {
        return BackendKind.LOOPFS;
    }

    @Override
    public List<String> fsTypes() {
        return List.of("ext4", "xfs");
    }

    @Override
    public long minimumVolumeBytes(String fsType) {
        // mkfs.xfs refuses filesystems under 300 MiB
        return "xfs".equals(fsType) ? 300 * MIB : 16 * MIB;
    }

    @Override
    public long poolCapacityBytes(long allocatedBytes) {
        if (configuredCapacityBytes > 0) {
            return configuredCapacityBytes;
        }
        // Sparse files count once as allocated here even where they already use host space: err low.
        return allocatedBytes + FsStats.of(commands, volumesDir).availableBytes();
    }

    @Override
    public long snapshotAllocatedBytes(SnapshotRecord snapshot) {
        return snapshot.sizeBytes();
    }

    Path volumeFile(String volumeId) {
        return volumesDir.resolve(volumeId + ".img");
    }

    private Path snapshotFile(String snapshotId) {
        return snapshotsDir.resolve(snapshotId + ".img");
    }

    private static Path temp(Path file) {
        return file.resolveSibling(file.getFileName() + ".tmp");
    }

    @Override
    public void createVolume(VolumeRecord volume) {
        Path file = volumeFile(volume.id());
        requireDetached(volume, file);
        Path tmp = temp(file);
        try {
            Files.deleteIfExists(file);
            Files.deleteIfExists(tmp);
            try (RandomAccessFile raf = new RandomAccessFile(tmp.toFile(), "rw")) {
                raf.setLength(volume.capacityBytes());
            }
            mkfs(volume.fsType(), tmp);
            sync(tmp);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
            syncDir(volumesDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + file, e);
        }
    }

    private void mkfs(String fsType, Path device) {
        switch (fsType) {
            // -m 0: no blocks reserved for root, the volume's size is what the workload gets
            case "ext4" -> commands.check("mkfs.ext4", "-q", "-F", "-m", "0",
                    "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1", device.toString());
            case "xfs" -> commands.check("mkfs.xfs", "-q", "-f", "-K", device.toString());
            default -> throw new IllegalArgumentException("unsupported fsType " + fsType);
        }
    }

    @Override
    public void restoreVolume(VolumeRecord volume, SnapshotRecord snapshot) {
        Path file = volumeFile(volume.id());
        requireDetached(volume, file);
        Path tmp = temp(file);
        try {
            Files.deleteIfExists(file);
            Files.deleteIfExists(tmp);
            copySparse(snapshotFile(snapshot.id()), tmp);
            try (RandomAccessFile raf = new RandomAccessFile(tmp.toFile(), "rw")) {
                if (raf.length() < volume.capacityBytes()) {
                    raf.setLength(volume.capacityBytes());
                }
            }
            sync(tmp);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
            syncDir(volumesDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot restore " + file, e);
        }
    }

    @Override
    public void deleteVolume(VolumeRecord volume) {
        Path file = volumeFile(volume.id());
        requireDetached(volume, file);
        try {
            Files.deleteIfExists(temp(file));
            if (Files.deleteIfExists(file)) {
                syncDir(volumesDir);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + file, e);
        }
    }

    private void requireDetached(VolumeRecord volume, Path file) {
        if (!loops.find(file).isEmpty()) {
            throw new IllegalStateException("volume " + volume.id() + " is still attached to a loop device");
        }
    }

    @Override
    public boolean expandVolume(VolumeRecord volume, long newBytes) {
        Path file = volumeFile(volume.id());
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            if (raf.length() < newBytes) {
                raf.setLength(newBytes);
                raf.getFD().sync();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot grow " + file, e);
        }
        for (String device : loops.find(file)) {
            loops.refreshCapacity(device);
        }
        return true;
    }

    @Override
    public void createSnapshot(VolumeRecord volume, SnapshotRecord snapshot, Path stagedAt) {
        Path target = snapshotFile(snapshot.id());
        Path tmp = temp(target);
        try {
            Files.deleteIfExists(target);
            Files.deleteIfExists(tmp);
            if (stagedAt != null) {
                commands.check("fsfreeze", "--freeze", stagedAt.toString());
                try {
                    hook.reached(StepHook.SNAPSHOT_WHILE_FROZEN, snapshot.id());
                    copySparse(volumeFile(volume.id()), tmp);
                } finally {
                    commands.check("fsfreeze", "--unfreeze", stagedAt.toString());
                }
            } else {
                hook.reached(StepHook.SNAPSHOT_COPYING, snapshot.id());
                copySparse(volumeFile(volume.id()), tmp);
            }
            sync(tmp);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            syncDir(snapshotsDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot snapshot " + volume.id(), e);
        }
    }

    private void copySparse(Path from, Path to) {
        // cp finds holes with SEEK_HOLE/SEEK_DATA, so only written blocks are read and stored
        commands.check(COPY_TIMEOUT, List.of("cp", "--sparse=always", from.toString(), to.toString()));
    }

    @Override
    public void deleteSnapshot(SnapshotRecord snapshot) {
        try {
            Path file = snapshotFile(snapshot.id());
            Files.deleteIfExists(temp(file));
            if (Files.deleteIfExists(file)) {
                syncDir(snapshotsDir);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete snapshot " + snapshot.id(), e);
        }
    }

    @Override
    public boolean stage(VolumeRecord volume, Path stagingPath, List<String> mountFlags) {
        Path file = volumeFile(volume.id());
        if (!Files.exists(file)) {
            throw new IllegalStateException("backing file of volume " + volume.id() + " is missing");
        }
        List<String> devices = loops.find(file);
        String device = devices.isEmpty() ? loops.attach(file) : devices.get(0);
        hook.reached(StepHook.STAGE_AFTER_ATTACH, volume.id());
        List<MountEntry> mounts = mounter.table().at(stagingPath);
        boolean grown = !volume.fsResizePending();
        if (mounts.isEmpty()) {
            mkdirs(stagingPath);
            if (!grown && "ext4".equals(volume.fsType())) {
                // offline growth needs no special capability: check, then resize, before mounting
                loops.refreshCapacity(device);
                commands.check("e2fsck", "-f", "-p", device);
                commands.check("resize2fs", device);
                grown = true;
            }
            List<String> options = new ArrayList<>(mountFlags);
            if ("xfs".equals(volume.fsType())) {
                options.add("nouuid"); // a restored copy has its source's UUID; xfs refuses twins without this
            }
            mounter.mount(device, stagingPath, volume.fsType(), options);
        } else if (mounts.stream().noneMatch(m -> m.source().equals(device))) {
            throw new IllegalStateException("staging path " + stagingPath + " already has another mount");
        }
        hook.reached(StepHook.STAGE_AFTER_MOUNT, volume.id());
        if (!grown && ("xfs".equals(volume.fsType()) || ext4OnlineGrow)) {
            nodeExpand(volume, stagingPath);
            grown = true;
        }
        return grown;
    }

    @Override
    public void unstage(VolumeRecord volume, Path stagingPath) {
        Path file = volumeFile(volume.id());
        List<String> devices = loops.find(file);
        for (MountEntry m : mounter.table().at(stagingPath)) {
            if (!devices.contains(m.source())) {
                throw new IllegalStateException("staging path " + stagingPath + " holds a mount of something else: "
                        + m.source());
            }
        }
        mounter.unmountAll(stagingPath);
        for (String device : devices) {
            if (mounter.table().ofSource(device).isEmpty()) {
                loops.detach(device);
            } else {
                throw new IllegalStateException("volume " + volume.id() + " is still mounted elsewhere via " + device);
            }
        }
    }

    @Override
    public void nodeExpand(VolumeRecord volume, Path stagingPath) {
        Path file = volumeFile(volume.id());
        List<String> devices = loops.find(file);
        if (devices.isEmpty()) {
            throw new IllegalStateException("volume " + volume.id() + " is not staged");
        }
        String device = devices.get(0);
        loops.refreshCapacity(device);
        switch (volume.fsType()) {
            case "ext4" -> {
                if (!ext4OnlineGrow) {
                    throw new IllegalStateException("growing a mounted ext4 needs CAP_SYS_RESOURCE, which this "
                            + "driver lacks; the filesystem grows when the volume is next staged");
                }
                commands.check("resize2fs", device);
            }
            case "xfs" -> commands.check("xfs_growfs", stagingPath.toString());
            default -> throw new IllegalStateException("cannot grow " + volume.fsType());
        }
        LOG.info(() -> "grew the filesystem of " + volume.id() + " to " + volume.capacityBytes() + " bytes");
    }

    @Override
    public VolumeStats stats(VolumeRecord volume, Path path) {
        FsStats s = FsStats.of(commands, path);
        return new VolumeStats(s.totalBytes(), s.usedBytes(), s.availableBytes(), s.totalInodes(), s.usedInodes(),
                s.freeInodes());
    }

    @Override
    public boolean isVolumeMount(VolumeRecord volume, MountEntry mount) {
        return loops.find(volumeFile(volume.id())).contains(mount.source());
    }

    @Override
    public boolean inUse(VolumeRecord volume) {
        return !loops.find(volumeFile(volume.id())).isEmpty();
    }

    @Override
    public void reconcile(List<VolumeRecord> volumes) {
        Map<String, VolumeRecord> byFile = new HashMap<>();
        for (VolumeRecord v : volumes) {
            byFile.put(volumeFile(v.id()).toString(), v);
        }
        Set<String> keptFor = new HashSet<>();
        for (Map.Entry<String, Path> e : loops.all().entrySet()) {
            String device = e.getKey();
            Path file = e.getValue();
            if (!file.startsWith(volumesDir) && !file.startsWith(snapshotsDir)) {
                continue; // not ours
            }
            VolumeRecord owner = byFile.get(file.toString());
            boolean mounted = !mounter.table().ofSource(device).isEmpty();
            if (mounted) {
                if (owner == null || owner.staging() == null) {
                    LOG.warning(device + " (" + file + ") is mounted but no staged volume needs it; leaving it");
                }
                keptFor.add(file.toString());
                continue;
            }
            boolean needed = owner != null && owner.staging() != null && !keptFor.contains(file.toString());
            if (needed) {
                keptFor.add(file.toString());
                continue;
            }
            try {
                loops.detach(device);
                LOG.info(() -> "detached leaked loop device " + device + " (" + file + ")");
            } catch (CommandException ex) {
                LOG.warning("cannot detach " + device + ": " + ex.getMessage());
            }
        }
        removeTempFiles(volumesDir);
        removeTempFiles(snapshotsDir);
    }

    private static void removeTempFiles(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                if (f.getFileName().toString().endsWith(".tmp")) {
                    Files.deleteIfExists(f);
                }
            }
        } catch (IOException e) {
            LOG.warning("cannot clean " + dir + ": " + e);
        }
    }

    private static void mkdirs(Path p) {
        try {
            Files.createDirectories(p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + p, e);
        }
    }

    private static void sync(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
    }

    private static void syncDir(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }
}
