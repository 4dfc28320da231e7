package dev.edgeplane.agent.volumes;

import dev.edgeplane.storage.StorageDriverConfig;
import java.nio.file.Path;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * Where the agent's pod volumes live and how it reaches the CSI driver.
 *
 * @param volumesDir  emptyDirs and CSI staging/publish targets ({@code <state-dir>/volumes})
 * @param driverSocket a CSI driver's unix socket; empty = host the driver in this process
 * @param csiStateDir  the in-process driver's state dir ({@code <state-dir>/csi}); its loopfs files live under it
 * @param btrfsPool    the in-process driver's btrfs pool, if any
 * @param enabled      false: no driver at all (named volumes are refused; emptyDir and hostPath work)
 */
public record VolumeSettings(Path volumesDir, Optional<Path> driverSocket, Path csiStateDir, Optional<Path> btrfsPool,
                             boolean enabled) {
    private static final Logger LOG = Logger.getLogger(VolumeSettings.class.getName());

    public static VolumeSettings defaults(Path agentStateDir) {
        return new VolumeSettings(agentStateDir.resolve("volumes"), Optional.empty(), agentStateDir.resolve("csi"),
                Optional.empty(), true);
    }

    public VolumeSettings withBtrfsPool(Path pool) {
        return new VolumeSettings(volumesDir, driverSocket, csiStateDir, Optional.ofNullable(pool), enabled);
    }

    /** Opens the driver; a driver that cannot start leaves named volumes refused, not the agent down. */
    PodVolumes openFor(String nodeName) {
        if (!enabled) {
            return PodVolumes.withoutDriver(volumesDir);
        }
        if (driverSocket.isPresent()) {
            LOG.info(() -> "volumes: CSI driver on " + driverSocket.get());
            return StorageDrivers.socket(volumesDir, driverSocket.get());
        }
        try {
            StorageDriverConfig config = StorageDriverConfig.of(csiStateDir, nodeName);
            if (btrfsPool.isPresent()) {
                config = config.withBtrfsPool(btrfsPool.get());
            }
            PodVolumes volumes = StorageDrivers.inProcess(volumesDir, config);
            LOG.info(() -> "volumes: CSI driver in process, state " + csiStateDir + ", pod volumes " + volumesDir);
            return volumes;
        } catch (RuntimeException e) {
            LOG.severe("volumes: cannot start the storage driver in " + csiStateDir + " (" + e.getMessage()
                    + "); pods with named volumes stay pending");
            return PodVolumes.withoutDriver(volumesDir);
        }
    }

    public PodVolumes open(String nodeName) {
        return openFor(nodeName);
    }
}
