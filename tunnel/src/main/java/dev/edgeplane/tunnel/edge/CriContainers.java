package dev.edgeplane.tunnel.edge;

import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.cri.v1.Container;
import dev.edgeplane.cri.v1.ContainerFilter;
import dev.edgeplane.cri.v1.ContainerState;
import dev.edgeplane.cri.v1.ContainerStatus;
import dev.edgeplane.cri.v1.ContainerStatusRequest;
import dev.edgeplane.cri.v1.ExecSyncRequest;
import dev.edgeplane.cri.v1.ExecSyncResponse;
import dev.edgeplane.cri.v1.ListContainersRequest;
import dev.edgeplane.cri.v1.RuntimeServiceGrpc;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The containers of the agent's replicas, found through CRI by the labels the agent puts on them
 * (edgeplane.dev/namespace, /replica, /container), and what the tunnel does with them.
 */
public final class CriContainers {
    static final String NAMESPACE = "edgeplane.dev/namespace";
    static final String REPLICA = "edgeplane.dev/replica";
    static final String CONTAINER = "edgeplane.dev/container";
    /** Annotation on each container the agent creates: the TCP ports it declares ("8080,9090"), all a port-forward may reach. */
    public static final String PORTS = "edgeplane.dev/ports";

    private final RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime;

    public CriContainers(Channel criChannel) {
        this.runtime = RuntimeServiceGrpc.newBlockingStub(criChannel);
    }

    private RuntimeServiceGrpc.RuntimeServiceBlockingStub call() {
        return runtime.withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    /**
     * The target's container: the newest instance, or with {@code previous} the newest one that
     * ended before it (the last terminated instance).
     */
    public ContainerStatus find(OpsTarget target, boolean previous) {
        List<Container> all = call().listContainers(ListContainersRequest.newBuilder()
                .setFilter(ContainerFilter.newBuilder()
                        .putLabelSelector(NAMESPACE, target.getNamespace())
                        .putLabelSelector(REPLICA, target.getReplica()))
                .build()).getContainersList();
        String name = target.getContainer().isEmpty()
                ? all.stream().min(Comparator.comparingLong(Container::getCreatedAt)).map(c -> c.getLabelsOrDefault(CONTAINER, c.getMetadata().getName())).orElse("")
                : target.getContainer();
        List<Container> instances = all.stream()
                .filter(c -> name.equals(c.getLabelsOrDefault(CONTAINER, c.getMetadata().getName())))
                .sorted(Comparator.comparingLong(Container::getCreatedAt).reversed())
                .toList();
        String what = target.getNamespace() + "/" + target.getReplica() + (name.isEmpty() ? "" : "/" + name);
        if (instances.isEmpty()) {
            throw Status.NOT_FOUND.withDescription("no container " + what + " on this node").asRuntimeException();
        }
        if (previous) {
            Container current = instances.get(0);
            List<Container> older = instances.stream().skip(1).toList();
            if (current.getState() == ContainerState.CONTAINER_EXITED && older.isEmpty()) {
                return status(current.getId()); // the current instance is the last terminated one
            }
            if (older.isEmpty()) {
                throw Status.NOT_FOUND.withDescription("container " + what + " has no previous instance").asRuntimeException();
            }
            return status(older.get(0).getId());
        }
        return status(instances.get(0).getId());
    }

    /**
     * The TCP ports the replica's running containers declare (pods use host networking, so these are
     * host ports): a port-forward to the replica reaches these and no other port of the host.
     */
    public java.util.Set<Integer> declaredPorts(OpsTarget target) {
        java.util.Set<Integer> ports = new java.util.TreeSet<>();
        for (Container c : call().listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                        .setState(dev.edgeplane.cri.v1.ContainerStateValue.newBuilder().setState(ContainerState.CONTAINER_RUNNING))
                        .putLabelSelector(NAMESPACE, target.getNamespace())
                        .putLabelSelector(REPLICA, target.getReplica()))
                .build()).getContainersList()) {
            for (String port : c.getAnnotationsOrDefault(PORTS, "").split(",")) {
                if (port.matches("[0-9]{1,5}")) {
                    ports.add(Integer.parseInt(port));
                }
            }
        }
        return ports;
    }

    public ContainerStatus status(String containerId) {
        return call().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(containerId).build()).getStatus();
    }

    public boolean running(String containerId) {
        try {
            return status(containerId).getState() == ContainerState.CONTAINER_RUNNING;
        } catch (StatusRuntimeException e) {
            return false;
        }
    }

    public ExecSyncResponse execSync(String containerId, List<String> command, long timeoutSeconds) {
        return runtime.withDeadlineAfter(timeoutSeconds + 30, TimeUnit.SECONDS).execSync(ExecSyncRequest.newBuilder()
                .setContainerId(containerId).addAllCmd(command).setTimeout(timeoutSeconds).build());
    }

    /** The runtime streaming server's URL for one interactive exec. */
    public String execUrl(String containerId, List<String> command, boolean tty, boolean stdin) {
        return call().exec(dev.edgeplane.cri.v1.ExecRequest.newBuilder()
                .setContainerId(containerId).addAllCmd(command)
                .setTty(tty).setStdin(stdin).setStdout(true).setStderr(!tty)
                .build()).getUrl();
    }
}
