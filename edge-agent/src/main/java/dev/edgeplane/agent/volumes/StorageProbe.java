package dev.edgeplane.agent.volumes;

import dev.edgeplane.api.v1.NodeStorage;
import dev.edgeplane.api.v1.StorageBackend;
import dev.edgeplane.csi.v1.GetCapacityResponse;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * What storage this node can serve, for its heartbeats (NodeStatus.storage): the storage driver's CSI
 * GetCapacity for each backend and filesystem the edge driver knows, asked every {@link #PERIOD}
 * (a few in-process calls and one statfs each: cheap). A backend none of whose filesystems the driver
 * can make here is left out.
 */
public final class StorageProbe implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(StorageProbe.class.getName());
    /** How often the driver is asked. */
    public static final Duration PERIOD = Duration.ofSeconds(30);
    /** ListVolumes pages read for the pools' sizes (500 volumes each): bounded on a host with very many. */
    static final int MAX_LIST_PAGES = 20;
    /** The backends of the edge storage driver and the filesystems each may make, in the order reported. */
    static final Map<String, List<String>> CANDIDATES = Map.of("loopfs", List.of("ext4", "xfs"), "btrfs", List.of("btrfs"));

    private final PodVolumes volumes;
    private final AtomicReference<NodeStorage> latest = new AtomicReference<>();
    private final ScheduledExecutorService timer;

    public StorageProbe(PodVolumes volumes) {
        this.volumes = volumes;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "storage-probe");
            t.setDaemon(true);
            return t;
        });
    }

    /** Probes now, then every {@link #PERIOD}. */
    public void start() {
        timer.scheduleWithFixedDelay(this::probeOnce, 0, PERIOD.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The last probe's result; null before the first or without a driver (then nothing is reported). */
    public NodeStorage latest() {
        return latest.get();
    }

    void probeOnce() {
        if (!volumes.hasDriver()) {
            return;
        }
        try {
            latest.set(probe());
        } catch (RuntimeException e) {
            LOG.log(Level.FINE, "storage probe failed; keeping the last result", e);
        }
    }

    NodeStorage probe() {
        NodeStorage.Builder storage = NodeStorage.newBuilder();
        // CSI has no pool size: it is what is free plus what the driver's volumes hold already.
        Map<String, Long> held = volumes.volumeBytesByBackend(MAX_LIST_PAGES);
        for (String backend : List.of("loopfs", "btrfs")) {
            StorageBackend.Builder b = StorageBackend.newBuilder().setName(backend);
            for (String fsType : CANDIDATES.get(backend)) {
                GetCapacityResponse capacity;
                try {
                    capacity = volumes.capacity(Map.of("backend", backend, "fsType", fsType));
                } catch (StatusRuntimeException e) {
                    LOG.fine(() -> "storage probe: " + backend + "/" + fsType + ": " + e.getStatus());
                    continue;
                }
                if (!capacity.hasMaximumVolumeSize()) {
                    continue; // the driver cannot serve it here
                }
                b.addFsTypes(fsType).setFreeBytes(capacity.getAvailableCapacity())
                        .setTotalBytes(capacity.getAvailableCapacity() + held.getOrDefault(backend, 0L));
            }
            if (b.getFsTypesCount() > 0) {
                storage.addBackends(b);
            }
        }
        return storage.build();
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
