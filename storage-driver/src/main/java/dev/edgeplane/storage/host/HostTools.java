package dev.edgeplane.storage.host;

import java.nio.file.Files;
import java.nio.file.Path;

/** What this host has for making volumes: loop devices, mkfs programs. Cheap checks of files, no processes. */
public final class HostTools {
    private HostTools() {}

    /** The kernel's loop-device control file: loopfs volumes need it. */
    public static boolean hasLoopDevices() {
        return Files.exists(Path.of("/dev/loop-control"));
    }

    /** Whether {@code program} is an executable file in a directory of $PATH. */
    public static boolean onPath(String program) {
        String path = System.getenv("PATH");
        if (path == null || path.isEmpty()) {
            path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        }
        for (String dir : path.split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }
}
