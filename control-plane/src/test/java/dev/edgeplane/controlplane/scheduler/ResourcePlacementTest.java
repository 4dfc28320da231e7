package dev.edgeplane.controlplane.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.ContainerPort;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.Resources;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Placement by requests and host ports: no overcommit, no double-booked port, and a reason when nothing fits. */
class ResourcePlacementTest {
    private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");
    private static final long MIB = 1L << 20;

    private static Node node(String name, long cpuMillis, long memoryBytes) {
        Node n = PlacementTest.ready(name);
        return n.toBuilder().setStatus(n.getStatus().toBuilder()
                .setCapacity(Resources.newBuilder().setCpuMillis(cpuMillis).setMemoryBytes(memoryBytes))).build();
    }

    private static App app(String name, int replicas, Container container) {
        return PlacementTest.with(PlacementTest.app(name, replicas), s -> s.setTemplate(PodTemplate.newBuilder().addContainers(container)));
    }

    private static Container requesting(long cpuMillis, long memoryBytes) {
        return Container.newBuilder().setName("c").setImage("i:1")
                .setRequests(Resources.newBuilder().setCpuMillis(cpuMillis).setMemoryBytes(memoryBytes)).build();
    }

    private static Container hostPort(int port) {
        return Container.newBuilder().setName("c").setImage("i:1")
                .addPorts(ContainerPort.newBuilder().setContainerPort(port).setHostPort(port)).build();
    }

    private static Placement.Result place(App app, NodeIndex nodes) {
        return Placement.place(app, nodes, Map.of(), Map.of(), NOW, Optional.empty(), Integer.MAX_VALUE);
    }

    @Test
    void replicasGoOnlyWhereTheirRequestsFitAndTheRestWaitSayingWhy() {
        NodeIndex nodes = NodeIndex.of(List.of(node("a", 2000, 1024 * MIB), node("b", 2000, 1024 * MIB), node("c", 2000, 1024 * MIB)));
        Placement.Result result = place(app("big", 5, requesting(100, 600 * MIB)), nodes);
        assertEquals(3, result.desired().size(), "one 600 MiB replica per 1 GiB node: " + result.desired());
        assertEquals(3, result.desired().values().stream().distinct().count());
        assertEquals(Optional.of("0/3 nodes: 3 insufficient memory"), result.unschedulable());
        assertEquals(true, result.pending(app("big", 5, requesting(100, 600 * MIB))));
    }

    @Test
    void whatOtherAppsReservedIsTakenIntoAccount() {
        NodeIndex nodes = NodeIndex.of(List.of(node("a", 1000, 1024 * MIB), node("b", 1000, 1024 * MIB)));
        nodes.count("a", new PodRequests(900, 0, List.of()), 1);
        Placement.Result result = place(app("web", 2, requesting(200, 0)), nodes);
        assertEquals(Map.of("web-0", "b", "web-1", "b"), result.desired(), "a has only 100m left");
        assertEquals(Optional.empty(), result.unschedulable());
    }

    @Test
    void twoReplicasNeverShareAHostPortOnANode() {
        NodeIndex nodes = NodeIndex.of(List.of(node("a", 0, 0), node("b", 0, 0), node("c", 0, 0)));
        nodes.count("c", new PodRequests(0, 0, List.of("8088/tcp")), 1); // another App holds it there
        Placement.Result result = place(app("web", 3, hostPort(8088)), nodes);
        assertEquals(2, result.desired().size());
        assertEquals(List.of("a", "b"), result.desired().values().stream().sorted().toList());
        assertEquals(Optional.of("0/3 nodes: 3 host port 8088/tcp in use"), result.unschedulable());
    }

    @Test
    void theReasonCountsEveryNodeByWhatStoppedIt() {
        NodeIndex nodes = NodeIndex.of(List.of(node("a", 1000, 512 * MIB), node("b", 1000, 512 * MIB), node("c", 4000, 4096 * MIB)));
        nodes.count("c", new PodRequests(0, 0, List.of("8088/tcp")), 1);
        Container both = requesting(100, 1024 * MIB).toBuilder()
                .addPorts(ContainerPort.newBuilder().setContainerPort(8088).setHostPort(8088)).build();
        Placement.Result result = place(app("web", 1, both), nodes);
        assertEquals(Map.of(), result.desired());
        assertEquals(Optional.of("0/3 nodes: 2 insufficient memory, 1 host port 8088/tcp in use"), result.unschedulable());
    }

    private static Node allowing(String name, boolean privileged, String... hostPaths) {
        Node n = node(name, 0, 0);
        return n.toBuilder().setStatus(n.getStatus().toBuilder().setWorkloadPolicy(dev.edgeplane.api.v1.WorkloadPolicy.newBuilder()
                .setAllowPrivileged(privileged).addAllAllowedHostPaths(List.of(hostPaths)))).build();
    }

    @Test
    void podsAHostsOwnPolicyWouldRefuseAreKeptOffItSayingWhy() {
        // c is an older agent that does not say: only the agent itself decides there.
        NodeIndex nodes = NodeIndex.of(List.of(allowing("a", false, "/srv/data"), allowing("b", true), node("c", 0, 0)));
        Container privileged = Container.newBuilder().setName("c").setImage("i:1")
                .setSecurityContext(dev.edgeplane.api.v1.SecurityContext.newBuilder().setPrivileged(true)).build();
        Placement.Result onlyB = place(app("priv", 3, privileged), nodes);
        assertEquals(List.of("b", "c"), onlyB.desired().values().stream().distinct().sorted().toList());
        assertFalse(onlyB.desired().containsValue("a"));

        App hostPath = PlacementTest.with(app("logs", 1, requesting(0, 0)), s -> s.setTemplate(s.getTemplate().toBuilder()
                .addVolumes(dev.edgeplane.api.v1.PodVolume.newBuilder().setName("etc")
                        .setHostPath(dev.edgeplane.api.v1.HostPathSource.newBuilder().setPath("/etc")))));
        NodeIndex strict = NodeIndex.of(List.of(allowing("a", false, "/srv/data"), allowing("b", true)));
        Placement.Result refused = place(hostPath, strict);
        assertEquals(Map.of(), refused.desired());
        assertEquals(Optional.of("0/2 nodes: 2 hostPath /etc not allowed"), refused.unschedulable());

        App underPrefix = PlacementTest.with(app("data", 1, requesting(0, 0)), s -> s.setTemplate(s.getTemplate().toBuilder()
                .addVolumes(dev.edgeplane.api.v1.PodVolume.newBuilder().setName("d")
                        .setHostPath(dev.edgeplane.api.v1.HostPathSource.newBuilder().setPath("/srv/data/../data/x")))));
        assertEquals(Map.of("data-0", "a"), place(underPrefix, strict).desired(), "normalised, then under an allowed prefix");
    }

    @Test
    void everyNodeAppsAreCheckedToo() {
        NodeIndex nodes = NodeIndex.of(List.of(node("a", 1000, 0), node("b", 1000, 0)));
        nodes.count("b", new PodRequests(900, 0, List.of()), 1);
        App daemon = PlacementTest.with(app("agent", 0, requesting(500, 0)), s -> s.setMode(AppSpec.Mode.EVERY_NODE));
        Placement.Result result = place(daemon, nodes);
        assertEquals(Map.of("agent-a", "a"), result.desired());
        assertEquals(Optional.of("0/2 nodes: 1 insufficient cpu"), result.unschedulable());
    }

    @Test
    void requestsDefaultToLimitsAndAnInitContainerCountsWhileItIsTheLargest() {
        Container limited = Container.newBuilder().setName("c").setImage("i:1")
                .setLimits(Resources.newBuilder().setCpuMillis(300).setMemoryBytes(64 * MIB)).build();
        Container init = Container.newBuilder().setName("init").setImage("i:1")
                .setRequests(Resources.newBuilder().setMemoryBytes(256 * MIB)).build();
        PodRequests requests = PodRequests.of(PodTemplate.newBuilder().addContainers(limited).addContainers(requesting(100, 0).toBuilder().setName("d"))
                .addInitContainers(init).build());
        assertEquals(new PodRequests(400, 256 * MIB, List.of()), requests);
    }

    @Test
    void aNodeThatReportsNoCapacityIsNotChecked() {
        NodeIndex nodes = NodeIndex.of(List.of(node("a", 0, 0)));
        assertEquals(3, place(app("web", 3, requesting(4000, 8192 * MIB)), nodes).desired().size());
    }
}
