package dev.edgeplane.controlplane.volumes;

import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.api.v1.VolumeTask;

/**
 * Where a volume's growth is, from its spec and its node's report (pure): Kubernetes' PVC resize,
 * with spec.size_bytes as spec.resources.requests, allocated_bytes as status.allocatedResources and
 * capacity_bytes as status.capacity. The backing grows first (controller), then the filesystem
 * (node); a node that cannot grow it mounted grows it at the next stage.
 */
public final class VolumeResize {
    /** The largest volume the API accepts (16 TiB): beyond any edge host's disk, and far from overflow. */
    public static final long MAX_BYTES = 16L << 40;
    static final String NEXT_STAGE = "the filesystem grows when the volume is next staged (mounted for a pod)";

    private VolumeResize() {}

    /** The status with capacity_bytes, allocated_bytes, resize_state and resize_message derived anew. */
    public static VolumeStatus derive(long requestedBytes, VolumeStatus status) {
        VolumeNodeStatus node = status.getNodeStatus();
        VolumeStatus.Builder next = status.toBuilder();
        if (!onNode(node)) {
            // on no node yet: it is created at the requested size, nothing to resize
            return next.clearCapacityBytes().clearAllocatedBytes().setResizeState(VolumeStatus.ResizeState.NONE)
                    .clearResizeMessage().build();
        }
        // a report without a size (an agent restarted since it last saw the volume) keeps the last known one
        long allocated = node.getCapacityBytes() > 0 ? node.getCapacityBytes() : status.getAllocatedBytes();
        if (allocated == 0) {
            return next.setResizeState(VolumeStatus.ResizeState.NONE).clearResizeMessage().build(); // size not known yet
        }
        next.setAllocatedBytes(allocated);
        if (!node.getFilesystemResizePending()) {
            next.setCapacityBytes(allocated);
        } else if (status.getCapacityBytes() == 0 || status.getCapacityBytes() > allocated) {
            next.setCapacityBytes(allocated); // never seen before (a restore): the best we know
        } // else the filesystem still spans what it did: keep capacity_bytes
        if (allocated < requestedBytes) {
            if (!node.getResizeError().isEmpty()) {
                return next.setResizeState(VolumeStatus.ResizeState.FAILED).setResizeMessage(node.getResizeError()
                        + "; retried while spec.size_bytes is above allocated_bytes").build();
            }
            return next.setResizeState(VolumeStatus.ResizeState.CONTROLLER_RESIZE_IN_PROGRESS)
                    .setResizeMessage("node " + status.getNode() + " is growing it from " + allocated + " to "
                            + requestedBytes + " bytes").build();
        }
        if (node.getFilesystemResizePending()) {
            String why = !node.getResizeError().isEmpty() ? node.getResizeError()
                    : node.getState() == VolumeNodeStatus.State.CREATED ? "not mounted now; " + NEXT_STAGE
                    : "its node cannot grow this filesystem while mounted (ext4 needs CAP_SYS_RESOURCE); " + NEXT_STAGE;
            return next.setResizeState(VolumeStatus.ResizeState.FILESYSTEM_RESIZE_PENDING).setResizeMessage(why).build();
        }
        return next.setResizeState(VolumeStatus.ResizeState.NONE).clearResizeMessage().build();
    }

    /** The node's agent reported it created (and not deleted since). */
    private static boolean onNode(VolumeNodeStatus node) {
        return switch (node.getState()) {
            case CREATED, STAGED, PUBLISHED -> true;
            default -> false;
        };
    }

    public static Volume derive(Volume volume) {
        return volume.toBuilder().setStatus(derive(volume.getSpec().getSizeBytes(), volume.getStatus())).build();
    }

    /**
     * Whether the volume's node must be ordered to grow it (VolumeTask EXPAND): it exists there at
     * less than its spec asks (or at a size not known), and is not being deleted.
     */
    public static boolean needsOrder(Volume volume) {
        VolumeStatus status = volume.getStatus();
        // a size not known (0) is ordered too: growing a volume that has the size already is a no-op
        return onNode(status.getNodeStatus()) && !status.getNode().isEmpty() && status.getPhase() != VolumeStatus.Phase.DELETING
                && status.getAllocatedBytes() < volume.getSpec().getSizeBytes();
    }

    /** Whether an EXPAND order of {@code task} is carried out by the volume as it now is. */
    public static boolean done(VolumeTask task, Volume volume) {
        return task.getAction() == VolumeTask.Action.EXPAND
                && volume.getStatus().getAllocatedBytes() >= task.getSizeBytes();
    }
}
