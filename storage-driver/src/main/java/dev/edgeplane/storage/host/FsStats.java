package dev.edgeplane.storage.host;

import java.nio.file.Path;

/** What statfs(2) says about the filesystem holding a path: bytes and inodes. */
public record FsStats(long totalBytes, long freeBytes, long availableBytes, long totalInodes, long freeInodes) {

    public long usedBytes() {
        return totalBytes - freeBytes;
    }

    public long usedInodes() {
        return totalInodes - freeInodes;
    }

    /** Reads it with stat -f, which Java's FileStore cannot (no inode counts there). */
    public static FsStats of(Commands commands, Path path) {
        // %S fundamental block size, %b total blocks, %f free blocks, %a available to non-root,
        // %c total inodes, %d free inodes
        String[] f = commands.check("stat", "-f", "-c", "%S %b %f %a %c %d", path.toString()).trim().split("\\s+");
        long block = Long.parseLong(f[0]);
        return new FsStats(block * Long.parseLong(f[1]), block * Long.parseLong(f[2]),
                block * Long.parseLong(f[3]), Long.parseLong(f[4]), Long.parseLong(f[5]));
    }

    public static String fsType(Commands commands, Path path) {
        return commands.check("stat", "-f", "-c", "%T", path.toString()).trim();
    }
}
