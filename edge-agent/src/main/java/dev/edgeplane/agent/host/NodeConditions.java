package dev.edgeplane.agent.host;

import dev.edgeplane.agent.metrics.ProcFiles;
import dev.edgeplane.api.v1.NodeCondition;
import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * The node's conditions that hold now, the kubelet's eviction signals: MemoryPressure when available
 * memory is below a threshold (its default 100 MiB), DiskPressure when the free share of the disk
 * holding the container runtime's data is below a threshold (10 %), RuntimeUnreachable when the
 * container runtime does not answer. Messages name the threshold, not the current value, so a node
 * under pressure does not report a "change" on every look. The control plane places no new replica
 * on a node with any of them.

 */
public record NodeConditions(Thresholds thresholds, BooleanSupplier runtimeAnswers) {
    /**
     * @param memoryAvailableBytes below this: MemoryPressure (0: never)
     * @param diskFreePercent      below this share free on {@code diskPath}: DiskPressure (0: never)
     * @param diskPath             a path on the runtime's disk (/var/lib/containerd, else /)
     */
    public record Thresholds(long memoryAvailableBytes, int diskFreePercent, Path diskPath) {
        public static final long DEFAULT_MEMORY_AVAILABLE = 100L << 20;
        public static final int DEFAULT_DISK_FREE_PERCENT = 10;

        public static Thresholds defaults() {
            return new Thresholds(DEFAULT_MEMORY_AVAILABLE, DEFAULT_DISK_FREE_PERCENT, defaultDiskPath());
        }

        public static Path defaultDiskPath() {
            Path containerd = Path.of("/var/lib/containerd");
            return Files.isDirectory(containerd) ? containerd : Path.of("/");
        }
    }

    public List<NodeCondition> current() {
        long memoryAvailableBytes = thresholds.memoryAvailableBytes();
        int diskFreePercent = thresholds.diskFreePercent();
        Path diskPath = thresholds.diskPath();
        List<NodeCondition> conditions = new ArrayList<>(0);
        if (memoryAvailableBytes > 0) {
            try {
                long available = ProcFiles.meminfo(Files.readString(Path.of("/proc/meminfo"))).available();
                if (available < memoryAvailableBytes) {
                    conditions.add(condition("MemoryPressure", "available memory below " + (memoryAvailableBytes >> 20) + " MiB"));
                }
            } catch (IOException | RuntimeException unreadable) {
                // unknown: no verdict
            }
        }
        if (diskFreePercent > 0) {
            try {
                FileStore store = Files.getFileStore(diskPath);
                if (store.getTotalSpace() > 0 && store.getUsableSpace() * 100 / store.getTotalSpace() < diskFreePercent) {
                    conditions.add(condition("DiskPressure", "free space on " + diskPath + " below " + diskFreePercent + "%"));
                }
            } catch (IOException unreadable) {
                // unknown: no verdict
            }
        }
        if (!runtimeAnswers.getAsBoolean()) {
            conditions.add(condition("RuntimeUnreachable", "the container runtime does not answer"));
        }
        return conditions;
    }

    private static NodeCondition condition(String type, String message) {
        return NodeCondition.newBuilder().setType(type).setMessage(message).build();
    }
}
