package dev.edgeplane.controlplane.scheduler;

import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.ContainerPort;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.Resources;
import java.util.List;
import java.util.TreeSet;

/**
 * What one replica of a template reserves on its node, by Kubernetes' rules: a container's request is
 * its {@code requests}, or its {@code limits} where a request is unset; a pod's is the sum over its
 * containers, or the largest init container's if that is more (init containers run one at a time,
 * before the others). Plus the host ports it binds ("8088/tcp").
 */
public record PodRequests(long cpuMillis, long memoryBytes, List<String> hostPorts, boolean privileged, List<String> hostPaths) {
    public static final PodRequests NONE = new PodRequests(0, 0, List.of());

    /** Requests only (what an assignment carries, what a node's usage adds up). */
    public PodRequests(long cpuMillis, long memoryBytes, List<String> hostPorts) {
        this(cpuMillis, memoryBytes, hostPorts, false, List.of());
    }

    /**
     * Why a host whose agent has {@code policy} would refuse this pod (privileged, a hostPath outside
     * what it allows), or null. The agent checks again, through symlinks: this is the early, clear error.
     */
    public String refusedBy(dev.edgeplane.api.v1.WorkloadPolicy policy) {
        if (privileged && !policy.getAllowPrivileged()) {
            return "privileged containers not allowed";
        }
        for (String path : hostPaths) {
            java.nio.file.Path wanted = java.nio.file.Path.of(path).normalize();
            if (policy.getAllowedHostPathsList().stream().noneMatch(prefix -> wanted.startsWith(java.nio.file.Path.of(prefix).normalize()))) {
                return "hostPath " + path + " not allowed";
            }
        }
        return null;
    }

    public static PodRequests of(PodTemplate template) {
        long cpu = 0;
        long memory = 0;
        boolean privileged = false;
        TreeSet<String> ports = new TreeSet<>();
        for (Container c : template.getContainersList()) {
            cpu += cpu(c);
            memory += memory(c);
            ports.addAll(hostPorts(c));
            privileged |= c.getSecurityContext().getPrivileged();
        }
        for (Container c : template.getInitContainersList()) {
            cpu = Math.max(cpu, cpu(c));
            memory = Math.max(memory, memory(c));
            ports.addAll(hostPorts(c));
            privileged |= c.getSecurityContext().getPrivileged();
        }
        List<String> hostPaths = template.getVolumesList().stream().filter(v -> v.hasHostPath()).map(v -> v.getHostPath().getPath())
                .sorted().toList();
        return new PodRequests(cpu, memory, List.copyOf(ports), privileged, hostPaths);
    }

    /** The same, as an assignment carries it. */
    public static PodRequests of(dev.edgeplane.api.v1.Assignment assignment) {
        return new PodRequests(assignment.getRequests().getCpuMillis(), assignment.getRequests().getMemoryBytes(),
                assignment.getHostPortsList());
    }

    /**
     * What an assignment carries of this (requests and host ports; not the policy facts): compare an
     * assignment's {@link #of(dev.edgeplane.api.v1.Assignment)} with this, never with the whole.
     */
    public PodRequests reservation() {
        return new PodRequests(cpuMillis, memoryBytes, hostPorts);
    }

    public Resources resources() {
        return Resources.newBuilder().setCpuMillis(cpuMillis).setMemoryBytes(memoryBytes).build();
    }

    private static long cpu(Container c) {
        return c.getRequests().getCpuMillis() > 0 ? c.getRequests().getCpuMillis() : Math.max(0, c.getLimits().getCpuMillis());
    }

    private static long memory(Container c) {
        return c.getRequests().getMemoryBytes() > 0 ? c.getRequests().getMemoryBytes() : Math.max(0, c.getLimits().getMemoryBytes());
    }

    private static List<String> hostPorts(Container c) {
        return c.getPortsList().stream().filter(p -> p.getHostPort() > 0)
                .map(p -> p.getHostPort() + "/" + (p.getProtocol() == ContainerPort.Protocol.UDP ? "udp" : "tcp")).toList();
    }
}
