package dev.edgeplane.controlplane.nodes;

import dev.edgeplane.api.v1.NodeCondition;
import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.NodeStorage;
import dev.edgeplane.api.v1.StorageBackend;

/** Small helpers for NodeStatus. */
public final class NodeStatuses {
    private NodeStatuses() {}

    /** Copies what the agent says about its host into the status; empty fields leave the old value. */
    public static NodeStatus.Builder withInfo(NodeStatus.Builder status, NodeInfo info) {
        if (!info.getAgentVersion().isEmpty()) {
            status.setAgentVersion(info.getAgentVersion());
        }
        if (!info.getOs().isEmpty()) {
            status.setOs(info.getOs());
        }
        if (!info.getArch().isEmpty()) {
            status.setArch(info.getArch());
        }
        if (!info.getKernelVersion().isEmpty()) {
            status.setKernelVersion(info.getKernelVersion());
        }
        if (!info.getHostname().isEmpty()) {
            status.setHostname(info.getHostname());
        }
        if (info.hasCapacity()) {
            status.setCapacity(info.getCapacity());
        }
        if (!info.getContainerRuntimeVersion().isEmpty()) {
            status.setContainerRuntimeVersion(info.getContainerRuntimeVersion());
        }
        if (info.hasWorkloadPolicy()) {
            status.setWorkloadPolicy(info.getWorkloadPolicy());
        }
        return status;
    }

    /**
     * Sets the conditions that hold now to {@code reported}: a condition that held before keeps its
     * transition time, a new one starts at {@code at}, one not reported any more is gone.
     */
    public static NodeStatus.Builder withConditions(NodeStatus.Builder status, java.util.List<NodeCondition> reported, java.time.Instant at) {
        java.util.Map<String, NodeCondition> before = new java.util.HashMap<>();
        status.getConditionsList().forEach(c -> before.put(c.getType(), c));
        status.clearConditions();
        for (NodeCondition c : reported) {
            NodeCondition held = before.get(c.getType());
            status.addConditions(c.toBuilder().setLastTransitionTime(held != null ? held.getLastTransitionTime()
                    : dev.edgeplane.controlplane.join.Joiner.timestamp(at)));
        }
        return status;
    }

    /** Type and message of each condition, in order: what a change of conditions compares. */
    public static java.util.List<String> conditionKeys(java.util.List<NodeCondition> conditions) {
        return conditions.isEmpty() ? java.util.List.of() : conditions.stream().map(c -> c.getType() + ": " + c.getMessage()).toList();
    }

    /** Whether reported storage is worth a write over what was recorded: {@link dev.edgeplane.api.StorageReports#moved}. */
    public static boolean storageMoved(NodeStorage recorded, NodeStorage reported) {
        return dev.edgeplane.api.StorageReports.moved(recorded, reported);
    }

    static final int MAX_STORAGE_BACKENDS = 8;
    static final int MAX_FS_TYPES = 8;
    static final int MAX_STORAGE_NAME = 32;

    /** Storage an agent may report: at most 8 backends of at most 8 fs types, short names, no negative bytes. */
    public static boolean storageWellFormed(NodeStorage storage) {
        if (storage.getBackendsCount() > MAX_STORAGE_BACKENDS) {
            return false;
        }
        for (StorageBackend b : storage.getBackendsList()) {
            if (b.getName().isEmpty() || b.getName().length() > MAX_STORAGE_NAME || b.getFsTypesCount() > MAX_FS_TYPES
                    || b.getTotalBytes() < 0 || b.getFreeBytes() < 0
                    || b.getFsTypesList().stream().anyMatch(f -> f.isEmpty() || f.length() > MAX_STORAGE_NAME)) {
                return false;
            }
        }
        return true;
    }
}
