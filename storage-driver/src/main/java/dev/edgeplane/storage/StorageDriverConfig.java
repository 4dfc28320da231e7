package dev.edgeplane.storage;

import dev.edgeplane.storage.metadata.BackendKind;

import java.nio.file.Path;
import java.util.Objects;

/**
 * How a driver instance is set up.
 *
 * @param driverName          the CSI plugin name (GetPluginInfo)
 * @param nodeId              this host's name in NodeGetInfo and ListVolumes
 * @param stateDir            crash-safe metadata lives here
 * @param loopfsDir           sparse volume and snapshot files of the loopfs backend
 * @param loopfsCapacityBytes the loopfs pool's size; 0 = whatever the host filesystem has room for
 * @param btrfsPool           a directory on a btrfs filesystem, or null to leave the btrfs backend off
 * @param defaultBackend      used when a CreateVolume names no "backend" parameter
 * @param hook                called at named steps (tests); {@link StepHook#NONE} otherwise
 */
public record StorageDriverConfig(String driverName, String nodeId, Path stateDir, Path loopfsDir,
                                  long loopfsCapacityBytes, Path btrfsPool, BackendKind defaultBackend,
                                  StepHook hook) {
    public static final String DEFAULT_DRIVER_NAME = "csi.edgeplane.dev";

    public StorageDriverConfig {
        Objects.requireNonNull(driverName, "driverName");
        Objects.requireNonNull(nodeId, "nodeId");
        Objects.requireNonNull(stateDir, "stateDir");
        stateDir = stateDir.toAbsolutePath().normalize();
        loopfsDir = (loopfsDir == null ? stateDir.resolve("loopfs") : loopfsDir).toAbsolutePath().normalize();
        btrfsPool = btrfsPool == null ? null : btrfsPool.toAbsolutePath().normalize();
        defaultBackend = defaultBackend == null ? BackendKind.LOOPFS : defaultBackend;
        hook = hook == null ? StepHook.NONE : hook;
        if (loopfsCapacityBytes < 0) {
            throw new IllegalArgumentException("loopfsCapacityBytes must be >= 0");
        }
        if (defaultBackend == BackendKind.BTRFS && btrfsPool == null) {
            throw new IllegalArgumentException("default backend btrfs needs a btrfs pool");
        }
    }

    /** loopfs under the state dir, no btrfs, the host's free space as the pool. */
    public static StorageDriverConfig of(Path stateDir, String nodeId) {
        return new StorageDriverConfig(DEFAULT_DRIVER_NAME, nodeId, stateDir, null, 0, null, BackendKind.LOOPFS,
                StepHook.NONE);
    }

    public StorageDriverConfig withBtrfsPool(Path pool) {
        return new StorageDriverConfig(driverName, nodeId, stateDir, loopfsDir, loopfsCapacityBytes, pool,
                defaultBackend, hook);
    }

    public StorageDriverConfig withLoopfsCapacityBytes(long bytes) {
        return new StorageDriverConfig(driverName, nodeId, stateDir, loopfsDir, bytes, btrfsPool,
                defaultBackend, hook);
    }

    public StorageDriverConfig withHook(StepHook h) {
        return new StorageDriverConfig(driverName, nodeId, stateDir, loopfsDir, loopfsCapacityBytes, btrfsPool,
                defaultBackend, h);
    }
}
