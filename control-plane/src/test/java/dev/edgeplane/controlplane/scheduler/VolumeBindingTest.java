package dev.edgeplane.controlplane.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.Write;
import dev.edgeplane.controlplane.controllers.app.AppPlanner;
import dev.edgeplane.api.TemplateHashes;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Volume handling, through the App controller's pure plan: resolve, bind on first use, pin, release. */
class VolumeBindingTest {
    private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");

    private static Entry<App> app() {
        App app = PlacementTest.app("cam", 1).toBuilder().setSpec(PlacementTest.app("cam", 1).getSpec().toBuilder()
                .setTemplate(PodTemplate.newBuilder().addContainers(Container.newBuilder().setName("main").setImage("busybox:1"))
                        .addVolumes(PodVolume.newBuilder().setName("data").setVolume("rec")))).build();
        return new Entry<>(Keys.app("default", "cam"), app, 5, 5);
    }

    private static Entry<Volume> volume(String boundTo, VolumeStatus.Phase phase, VolumeSpec.ReclaimPolicy policy) {
        Volume v = Volume.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("rec").setNamespace("default").setUid("u1"))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(64L << 20).setStorageClass("loopfs-xfs").setReclaimPolicy(policy))
                .setStatus(VolumeStatus.newBuilder().setPhase(phase).setNode(boundTo)).build();
        return new Entry<>(Keys.volume("default", "rec"), v, 7, 7);
    }

    /** The assignment writes of one App's plan; its volume status changes go to {@code volumeWrites}. */
    private static List<Write> plan(Entry<App> app, List<Node> nodes, List<Entry<Assignment>> assignments,
                                    Map<String, Entry<Volume>> volumes, List<VolumeBinding.VolumeWrite> volumeWrites) {
        AppPlanner.Plan plan = AppPlanner.plan(new AppPlanner.Inputs("default", app.value().getMetadata().getName(), app.value(),
                assignments, NodeIndex.of(nodes), volumes, List.of(), Set.of(TemplateHashes.of(app.value().getSpec().getTemplate())),
                NOW, false), AppPlanner.Budget.UNLIMITED);
        volumeWrites.addAll(plan.volumeWrites());
        return plan.writes();
    }

    private static List<Node> nodes() {
        return List.of(PlacementTest.ready("a"), PlacementTest.ready("b"));
    }

    @Test
    void firstPlacementBindsAndCarriesTheClaim() throws Exception {
        List<VolumeBinding.VolumeWrite> writes = new ArrayList<>();
        Entry<Volume> pending = volume("", VolumeStatus.Phase.PENDING, VolumeSpec.ReclaimPolicy.DELETE);
        List<Write> ops = plan(app(), nodes(), List.of(), Map.of(pending.key(), pending), writes);
        assertEquals(1, ops.size());
        Assignment assignment = Assignment.parseFrom(ops.get(0).value());
        assertEquals("a", assignment.getNode());
        var claim = assignment.getVolumesMap().get("rec");
        assertEquals(64L << 20, claim.getSizeBytes());
        assertEquals(Map.of("backend", "loopfs", "fsType", "xfs"), claim.getParametersMap());
        assertTrue(claim.getDeleteOnRelease());
        assertEquals("u1", claim.getUid());
        assertEquals(1, writes.size());
        Volume bound = writes.get(0).value().orElseThrow();
        assertEquals(VolumeStatus.Phase.BOUND, bound.getStatus().getPhase());
        assertEquals("a", bound.getStatus().getNode());
        assertEquals("cam-0", bound.getStatus().getReplica());
        assertEquals(7, writes.get(0).modRevision(), "guarded on the volume's revision");
    }

    @Test
    void boundVolumePinsAndMissingOneHolds() throws Exception {
        List<VolumeBinding.VolumeWrite> writes = new ArrayList<>();
        Entry<Volume> onB = volume("b", VolumeStatus.Phase.RELEASED, VolumeSpec.ReclaimPolicy.RETAIN);
        List<Write> ops = plan(app(), nodes(), List.of(), Map.of(onB.key(), onB), writes);
        assertEquals(1, ops.size());
        assertTrue(ops.get(0).key().startsWith(Keys.assignmentsOf("b")), "pinned to b");
        assertEquals(VolumeStatus.Phase.BOUND, writes.get(0).value().orElseThrow().getStatus().getPhase(), "re-bound");

        assertEquals(List.of(), plan(app(), nodes(), List.of(), Map.of(), new ArrayList<>()),
                "no volume, no placement");
    }

    @Test
    void unusedBoundVolumesAreReleasedOrDeleted() {
        Entry<Volume> retain = volume("a", VolumeStatus.Phase.BOUND, VolumeSpec.ReclaimPolicy.RETAIN);
        List<VolumeBinding.VolumeWrite> writes = VolumeBinding.settle(List.of(), Set.of(), Map.of(retain.key(), retain));
        assertEquals(VolumeStatus.Phase.RELEASED, writes.get(0).value().orElseThrow().getStatus().getPhase());
        assertEquals("a", writes.get(0).value().orElseThrow().getStatus().getNode(), "the data stays on its node");
        Entry<Volume> delete = volume("a", VolumeStatus.Phase.BOUND, VolumeSpec.ReclaimPolicy.DELETE);
        VolumeBinding.VolumeWrite deleting = VolumeBinding.settle(List.of(), Set.of(), Map.of(delete.key(), delete)).get(0);
        assertEquals(VolumeStatus.Phase.DELETING, deleting.value().orElseThrow().getStatus().getPhase(),
                "kept until its node confirms the data is gone");
        Assignment order = deleting.task().orElseThrow();
        assertEquals("a", order.getNode());
        assertEquals("volume." + delete.value().getMetadata().getName(), order.getReplica());
        assertEquals(dev.edgeplane.api.v1.VolumeTask.Action.DELETE, order.getVolumeTask().getAction());
        assertEquals(delete.value().getMetadata().getUid(), order.getVolumeTask().getUid());
        Entry<Volume> alreadyDeleting = new Entry<>(delete.key(), deleting.value().orElseThrow(), 9, 1);
        assertEquals(List.of(), VolumeBinding.settle(List.of(), Set.of(), Map.of(delete.key(), alreadyDeleting)), "ordered once");
        assertTrue(VolumeBinding.resolve(app().value(), Map.of(delete.key(), alreadyDeleting)).isEmpty(),
                "an App naming a volume on its way out waits");
        assertEquals(List.of(), VolumeBinding.settle(List.of(app()), Set.of(delete.key()), Map.of(delete.key(), delete)), "still used");
    }

    @Test
    void namedButIdleIsAvailableOnceItsNodeCreatedIt() {
        Entry<Volume> created = withNodeState(volume("a", VolumeStatus.Phase.BOUND, VolumeSpec.ReclaimPolicy.DELETE),
                VolumeNodeStatus.State.STAGED);
        Volume idle = VolumeBinding.settle(List.of(app()), Set.of(), Map.of(created.key(), created)).get(0).value().orElseThrow();
        assertEquals(VolumeStatus.Phase.AVAILABLE, idle.getStatus().getPhase(), "an App names it, no replica uses it");
        assertEquals("", idle.getStatus().getReplica());
        Entry<Volume> notYet = volume("a", VolumeStatus.Phase.BOUND, VolumeSpec.ReclaimPolicy.DELETE);
        assertEquals(VolumeStatus.Phase.PENDING, VolumeBinding.settle(List.of(app()), Set.of(), Map.of(notYet.key(), notYet))
                .get(0).value().orElseThrow().getStatus().getPhase(), "bound but never created on its node");
    }

    @Test
    void aVolumeLeftPendingBeforeItsNodeReportedItIsAvailableOnceTheReportComes() {
        // Its replica went (scaled to 0) before the node's first report: settled PENDING then, not stuck there.
        Entry<Volume> pending = volume("a", VolumeStatus.Phase.PENDING, VolumeSpec.ReclaimPolicy.DELETE);
        assertEquals(List.of(), VolumeBinding.settle(List.of(app()), Set.of(), Map.of(pending.key(), pending)), "nothing new to say");
        Entry<Volume> reported = withNodeState(pending, VolumeNodeStatus.State.CREATED);
        Volume idle = VolumeBinding.settle(List.of(app()), Set.of(), Map.of(reported.key(), reported)).get(0).value().orElseThrow();
        assertEquals(VolumeStatus.Phase.AVAILABLE, idle.getStatus().getPhase());
        Entry<Volume> unbound = withNodeState(volume("", VolumeStatus.Phase.PENDING, VolumeSpec.ReclaimPolicy.DELETE),
                VolumeNodeStatus.State.CREATED);
        assertEquals(List.of(), VolumeBinding.settle(List.of(app()), Set.of(), Map.of(unbound.key(), unbound)), "on no node: stays");
    }

    @Test
    void restoredVolumeWaitsPinnedAndItsClaimNamesTheSnapshot() throws Exception {
        Entry<Volume> restored = volume("b", VolumeStatus.Phase.PENDING, VolumeSpec.ReclaimPolicy.RETAIN);
        restored = new Entry<>(restored.key(), restored.value().toBuilder().setStatus(restored.value().getStatus().toBuilder()
                .setSourceSnapshotId("snap-1")).build(), 7, 7);
        assertEquals(List.of(), VolumeBinding.settle(List.of(), Set.of(), Map.of(restored.key(), restored)),
                "never used: neither released nor deleted");
        List<Write> ops = plan(app(), nodes(), List.of(), Map.of(restored.key(), restored), new ArrayList<>());
        assertEquals(1, ops.size(), "one put");
        assertTrue(ops.get(0).key().startsWith(Keys.assignmentsOf("b")), "pinned to the snapshot's node");
        Assignment assignment = Assignment.parseFrom(ops.get(0).value());
        assertEquals("snap-1", assignment.getVolumesMap().get("rec").getSourceSnapshotId());
    }

    private static Entry<Volume> withNodeState(Entry<Volume> e, VolumeNodeStatus.State state) {
        return new Entry<>(e.key(), e.value().toBuilder().setStatus(e.value().getStatus().toBuilder()
                .setNodeStatus(VolumeNodeStatus.newBuilder().setState(state).setVolumeId("vol-1"))).build(), e.modRevision(), e.createRevision());
    }
}
