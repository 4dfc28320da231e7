package dev.edgeplane.controlplane.volumes;

import java.util.Map;
import java.util.Optional;

/** The storage classes a Volume may name, as the CSI CreateVolume parameters of the edge storage driver. */
public final class StorageClasses {
    public static final String DEFAULT = "loopfs";
    private static final Map<String, Map<String, String>> CLASSES = Map.of(
            "loopfs", Map.of("backend", "loopfs", "fsType", "ext4"),
            "loopfs-xfs", Map.of("backend", "loopfs", "fsType", "xfs"),
            "btrfs", Map.of("backend", "btrfs"));
    /** The driver's smallest volume (xfs needs more, which the driver itself enforces). */
    public static final long MIN_BYTES = 16L << 20;

    private StorageClasses() {}

    /** CSI parameters of a class ("" = the default); empty when unknown. */
    public static Optional<Map<String, String>> parameters(String storageClass) {
        return Optional.ofNullable(CLASSES.get(storageClass.isEmpty() ? DEFAULT : storageClass));
    }

    public static String names() {
        return String.join(", ", new java.util.TreeSet<>(CLASSES.keySet()));
    }
}
