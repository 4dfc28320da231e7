package dev.edgeplane.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Releases what storage tests leave on the host, whichever way they ended: mounts under a directory
 * and loop devices backed by files under it. Run it in a test's cleanup so a failed test does not
 * leak mounts or loop devices into the next one.
 */
public final class HostStorage {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private HostStorage() {}

    /** Unmounts everything mounted under {@code root} (deepest first), then detaches its loop devices. */
    public static void releaseUnder(Path root) {
        List<String> mounts = new ArrayList<>(mountsUnder(root));
        mounts.sort(Comparator.comparingInt(String::length).reversed());
        for (String target : mounts) {
            Commands.exec(List.of("umount", "-l", target), Map.of(), TIMEOUT);
        }
        for (String device : loopDevicesUnder(root)) {
            Commands.exec(List.of("losetup", "-d", device), Map.of(), TIMEOUT);
        }
    }

    /** The mount points under {@code root}, as /proc/self/mounts lists them. */
    public static List<String> mountsUnder(Path root) {
        String prefix = root.toAbsolutePath().toString();
        List<String> mounts = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
                String target = line.split(" ")[1];
                if (target.startsWith(prefix)) {
                    mounts.add(target);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read /proc/self/mounts", e);
        }
        return mounts;
    }

    /** Loop devices whose backing file is under {@code root}, e.g. "/dev/loop3". */
    public static List<String> loopDevicesUnder(Path root) {
        String prefix = root.toAbsolutePath().toString();
        List<String> devices = new ArrayList<>();
        for (String line : Commands.exec(List.of("losetup", "-a"), Map.of(), TIMEOUT).output().split("\n")) {
            if (line.startsWith("/dev/loop") && line.contains(prefix)) {
                devices.add(line.substring(0, line.indexOf(':')));
            }
        }
        return devices;
    }
}
