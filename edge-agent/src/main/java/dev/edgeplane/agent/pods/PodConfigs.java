package dev.edgeplane.agent.pods;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ContainerPort;
import dev.edgeplane.api.v1.VolumeMount;
import dev.edgeplane.cri.v1.ContainerConfig;
import dev.edgeplane.cri.v1.ContainerMetadata;
import dev.edgeplane.cri.v1.ImageSpec;
import dev.edgeplane.cri.v1.KeyValue;
import dev.edgeplane.cri.v1.LinuxContainerConfig;
import dev.edgeplane.cri.v1.LinuxContainerResources;
import dev.edgeplane.cri.v1.Capability;
import dev.edgeplane.cri.v1.Int64Value;
import dev.edgeplane.cri.v1.LinuxContainerSecurityContext;
import dev.edgeplane.cri.v1.LinuxPodSandboxConfig;
import dev.edgeplane.cri.v1.Mount;
import dev.edgeplane.cri.v1.LinuxSandboxSecurityContext;
import dev.edgeplane.cri.v1.NamespaceMode;
import dev.edgeplane.cri.v1.NamespaceOption;
import dev.edgeplane.cri.v1.PodSandboxConfig;
import dev.edgeplane.cri.v1.PodSandboxMetadata;
import dev.edgeplane.cri.v1.PortMapping;
import dev.edgeplane.cri.v1.Protocol;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;

/** Turns an assignment into CRI sandbox and container configs, the way the kubelet does for a host-network pod. */
public final class PodConfigs {
    /** CFS period for cpu limits: quota = millis * period / 1000. */
    static final long CPU_PERIOD = 100_000;

    private PodConfigs() {}

    /** A stable pod UID per replica and template: the runtime reserves sandbox names by it. */
    public static String podUid(Assignment assignment, String templateHash) {
        return UUID.nameUUIDFromBytes((assignment.getNamespace() + "/" + assignment.getReplica() + "/" + templateHash)
                .getBytes(StandardCharsets.UTF_8)).toString();
    }

    /** The pod's log directory: LOG_DIR/<namespace>_<replica>_<uid>. */
    public static Path logDirectory(Path logRoot, Assignment assignment, String templateHash) {
        return logRoot.resolve(assignment.getNamespace() + "_" + assignment.getReplica() + "_" + podUid(assignment, templateHash));
    }

    static Map<String, String> labels(Assignment assignment, String templateHash) {
        Map<String, String> labels = new HashMap<>();
        labels.put(PodLabels.MANAGED, "true");
        labels.put(PodLabels.NAMESPACE, assignment.getNamespace());
        labels.put(PodLabels.REPLICA, assignment.getReplica());
        labels.put(PodLabels.APP, assignment.getApp());
        labels.put(PodLabels.TEMPLATE_HASH, templateHash);
        return labels;
    }

    /** Kubernetes' SecurityContext as CRI's; the agent's own policy (privileged, run_as_non_root) is checked before. */
    static LinuxContainerSecurityContext securityContext(dev.edgeplane.api.v1.SecurityContext wanted) {
        LinuxContainerSecurityContext.Builder context = LinuxContainerSecurityContext.newBuilder()
                .setNamespaceOptions(hostNetwork())
                .setPrivileged(wanted.getPrivileged())
                .setReadonlyRootfs(wanted.getReadOnlyRootFilesystem());
        if (wanted.hasRunAsUser()) {
            context.setRunAsUser(Int64Value.newBuilder().setValue(wanted.getRunAsUser()));
        }
        if (wanted.hasRunAsGroup()) {
            context.setRunAsGroup(Int64Value.newBuilder().setValue(wanted.getRunAsGroup()));
        }
        if (wanted.hasCapabilities()) {
            context.setCapabilities(Capability.newBuilder().addAllAddCapabilities(wanted.getCapabilities().getAddList())
                    .addAllDropCapabilities(wanted.getCapabilities().getDropList()));
        }
        return context.build();
    }

    private static NamespaceOption hostNetwork() {
        // Host network and IPC shared in the pod, PID per container: what the kubelet sets for hostNetwork pods.
        return NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE).setPid(NamespaceMode.CONTAINER)
                .setIpc(NamespaceMode.POD).build();
    }

    public static PodSandboxConfig sandbox(Assignment assignment, String templateHash, int attempt, Path logRoot) {
        PodSandboxConfig.Builder config = PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder()
                        .setName(assignment.getReplica())
                        .setNamespace(assignment.getNamespace())
                        .setUid(podUid(assignment, templateHash))
                        .setAttempt(attempt))
                .setLogDirectory(logDirectory(logRoot, assignment, templateHash).toString())
                .putAllLabels(labels(assignment, templateHash))
                .putAnnotations(PodLabels.GENERATION, Long.toString(assignment.getGeneration()))
                .putAnnotations(PodLabels.GRACE_SECONDS, Integer.toString(assignment.getTemplate().getTerminationGraceSeconds()))
                .setLinux(LinuxPodSandboxConfig.newBuilder()
                        .setSecurityContext(LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(hostNetwork())
                                // A privileged container needs a privileged sandbox (CRI refuses it otherwise).
                                .setPrivileged(assignment.getTemplate().getContainersList().stream()
                                        .anyMatch(c -> c.getSecurityContext().getPrivileged()))));
        for (var container : assignment.getTemplate().getContainersList()) {
            for (ContainerPort port : container.getPortsList()) {
                if (port.getHostPort() > 0) {
                    config.addPortMappings(PortMapping.newBuilder()
                            .setProtocol(port.getProtocol() == ContainerPort.Protocol.UDP ? Protocol.UDP : Protocol.TCP)
                            .setContainerPort(port.getContainerPort())
                            .setHostPort(port.getHostPort()));
                }
            }
        }
        return config.build();
    }

    /** "8080,9090": the TCP ports the container declares, the only ones a port-forward to its replica reaches. */
    static String declaredTcpPorts(dev.edgeplane.api.v1.Container spec) {
        return spec.getPortsList().stream().filter(p -> p.getProtocol() != ContainerPort.Protocol.UDP)
                .map(p -> Integer.toString(p.getContainerPort())).distinct().collect(java.util.stream.Collectors.joining(","));
    }

    /** The container's log file, relative to the pod's log directory: NAME/ATTEMPT.log. */
    public static String logPath(String containerName, int attempt) {
        return containerName + "/" + attempt + ".log";
    }

    public static ContainerConfig container(Assignment assignment, dev.edgeplane.api.v1.Container spec,
                                            String templateHash, int attempt) {
        return container(assignment, spec, templateHash, attempt, Map.of());
    }

    /** With the host paths of the pod's volumes (by PodVolume name) for the container's volume mounts. */
    public static ContainerConfig container(Assignment assignment, dev.edgeplane.api.v1.Container spec,
                                            String templateHash, int attempt, Map<String, Path> volumePaths) {
        ConfigEnv env = ConfigEnv.of(assignment, spec);
        if (env.problem().isPresent()) {
            throw new IllegalArgumentException(env.problem().get()); // the pod worker checks first (CreateContainerConfigError)
        }
        return container(assignment, spec, templateHash, attempt, volumePaths, env.env());
    }

    /** With the environment already built (ConfigEnv): the pod worker checks it before creating the container. */
    static ContainerConfig container(Assignment assignment, dev.edgeplane.api.v1.Container spec, String templateHash, int attempt,
                                     Map<String, Path> volumePaths, Map<String, String> env) {
        Map<String, String> labels = labels(assignment, templateHash);
        labels.put(PodLabels.CONTAINER, spec.getName());
        LinuxContainerResources.Builder resources = LinuxContainerResources.newBuilder();
        if (spec.hasLimits()) {
            long cpuMillis = spec.getLimits().getCpuMillis();
            if (cpuMillis > 0) {
                resources.setCpuPeriod(CPU_PERIOD).setCpuQuota(Math.max(1000, cpuMillis * CPU_PERIOD / 1000));
            }
            if (spec.getLimits().getMemoryBytes() > 0) {
                resources.setMemoryLimitInBytes(spec.getLimits().getMemoryBytes());
            }
        }
        ContainerConfig.Builder config = ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(spec.getName()).setAttempt(attempt))
                .setImage(ImageSpec.newBuilder().setImage(spec.getImage()))
                .addAllCommand(spec.getCommandList())
                .addAllArgs(spec.getArgsList())
                .setWorkingDir(spec.getWorkingDir())
                .putAllLabels(labels)
                .putAnnotations(PodLabels.GENERATION, Long.toString(assignment.getGeneration()))
                .putAnnotations(PodLabels.PORTS, declaredTcpPorts(spec))
                .putAllAnnotations(spec.getLifecycle().hasPreStop() ? java.util.Map.of(PodLabels.PRE_STOP,
                        java.util.Base64.getEncoder().encodeToString(spec.getLifecycle().getPreStop().toByteArray())) : java.util.Map.of())
                .setLogPath(logPath(spec.getName(), attempt))
                .setLinux(LinuxContainerConfig.newBuilder()
                        .setResources(resources)
                        .setSecurityContext(securityContext(spec.getSecurityContext())));
        env.forEach((name, value) -> config.addEnvs(KeyValue.newBuilder().setKey(name).setValue(value)));
        for (VolumeMount mount : spec.getVolumeMountsList()) {
            Path host = volumePaths.get(mount.getName());
            if (host == null) {
                throw new IllegalArgumentException("volume mount " + mount.getName() + " names no volume of the pod");
            }
            config.addMounts(Mount.newBuilder().setContainerPath(mount.getMountPath())
                    .setHostPath(host.toString()).setReadonly(mount.getReadOnly()));
        }
        return config.build();
    }
}
