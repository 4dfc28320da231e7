package dev.edgeplane.controlplane.nodes;

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
        return status;
    }
}
