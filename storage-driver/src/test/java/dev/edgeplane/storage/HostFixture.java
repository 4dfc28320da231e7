package dev.edgeplane.storage;

import dev.edgeplane.storage.backend.LoopDevices;
import dev.edgeplane.storage.host.Commands;
import dev.edgeplane.storage.mount.MountEntry;
import dev.edgeplane.storage.mount.MountTable;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A temp dir for one test and the guarantee that it leaves the host clean: on close every mount
 * under the dir is unmounted and every loop device backed by a file in it detached, and anything
 * the code under test left behind (beyond what the fixture itself owns) is reported as a leak.
 */
public final class HostFixture implements AutoCloseable {
    final Commands commands = new Commands();
    final MountTable mounts = new MountTable();
    final LoopDevices loops = new LoopDevices(commands);
    final Path dir;
    private final Set<Path> ownedMounts = new HashSet<>();
    private final Set<Path> ownedLoopFiles = new HashSet<>();
    private final List<AutoCloseable> closeFirst = new ArrayList<>();

    public HostFixture(String name) throws IOException {
        this.dir = Files.createTempDirectory("edgeplane-csi-" + name + "-").toRealPath();
    }

    public Path dir() {
        return dir;
    }

    /** Closed (in reverse order) before the leak check: drivers, clients, driver processes. */
    public <T extends AutoCloseable> T closeLater(T c) {
        closeFirst.add(c);
        return c;
    }

    /** A loop-backed btrfs filesystem mounted under the dir; its pool directory is returned. */
    public Path btrfsPool(long bytes) throws IOException {
        Path image = dir.resolve("btrfs.img");
        Path mount = dir.resolve("btrfs");
        Files.createDirectories(mount);
        try (var raf = new java.io.RandomAccessFile(image.toFile(), "rw")) {
            raf.setLength(bytes);
        }
        commands.check("mkfs.btrfs", "-q", "-f", image.toString());
        ownedLoopFiles.add(image);
        ownedMounts.add(mount);
        commands.check("mount", "-o", "loop", image.toString(), mount.toString());
        Path pool = mount.resolve("pool");
        Files.createDirectories(pool);
        return pool;
    }

    /** Mounts and loop devices under the dir that the code under test still holds. */
    public List<String> leaks() {
        List<String> leaks = new ArrayList<>();
        for (MountEntry m : mounts.entries()) {
            if (m.mountPoint().startsWith(dir) && !ownedMounts.contains(m.mountPoint())) {
                leaks.add("mount " + m.source() + " on " + m.mountPoint());
            }
        }
        for (Map.Entry<String, Path> e : loops.all().entrySet()) {
            if (e.getValue().startsWith(dir) && !ownedLoopFiles.contains(e.getValue())) {
                leaks.add("loop device " + e.getKey() + " -> " + e.getValue());
            }
        }
        return leaks;
    }

    @Override
    public void close() throws Exception {
        for (int i = closeFirst.size() - 1; i >= 0; i--) {
            try {
                closeFirst.get(i).close();
            } catch (Exception e) {
                System.err.println("closing " + closeFirst.get(i) + ": " + e);
            }
        }
        List<String> leaks = leaks();
        cleanUp();
        if (!leaks.isEmpty()) {
            throw new AssertionError("the test left host state behind (now cleaned): " + leaks);
        }
    }

    private void cleanUp() throws IOException {
        for (int round = 0; round < 20; round++) {
            List<MountEntry> left = mounts.entries().stream().filter(m -> m.mountPoint().startsWith(dir))
                    .sorted(Comparator.comparingInt((MountEntry m) -> m.mountPoint().getNameCount()).reversed()
                            .thenComparing(Comparator.comparingInt(MountEntry::id).reversed()))
                    .toList();
            if (left.isEmpty()) {
                break;
            }
            commands.run("fsfreeze", "--unfreeze", left.get(0).mountPoint().toString());
            if (!commands.run("umount", left.get(0).mountPoint().toString()).ok()) {
                commands.run("umount", "-l", left.get(0).mountPoint().toString());
            }
        }
        for (Map.Entry<String, Path> e : loops.all().entrySet()) {
            if (e.getValue().startsWith(dir)) {
                commands.run("losetup", "-d", e.getKey());
            }
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
