package dev.edgeplane.controlplane.nodes;

import dev.edgeplane.api.v1.NodeCondition;
import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.NodeStatus;

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
}
