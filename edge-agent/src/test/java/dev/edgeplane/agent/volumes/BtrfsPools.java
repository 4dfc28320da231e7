package dev.edgeplane.agent.volumes;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;

/** A loop-mounted btrfs for the driver's btrfs backend in tests; HostStorage.releaseUnder(dir) releases it. */
final class BtrfsPools {
    private BtrfsPools() {}

    /** Makes a sparse {@code bytes} btrfs image under {@code dir}, mounts it, and returns its pool directory. */
    static Path create(Path dir, long bytes) throws Exception {
        Path image = dir.resolve("btrfs.img");
        Path mount = dir.resolve("btrfs");
        Files.createDirectories(mount);
        try (RandomAccessFile raf = new RandomAccessFile(image.toFile(), "rw")) {
            raf.setLength(bytes);
        }
        run("mkfs.btrfs", "-q", "-f", image.toString());
        run("mount", "-o", "loop", image.toString(), mount.toString());
        Path pool = mount.resolve("pool");
        Files.createDirectories(pool);
        return pool;
    }

    private static void run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IllegalStateException(String.join(" ", command) + ": " + out);
        }
    }
}
