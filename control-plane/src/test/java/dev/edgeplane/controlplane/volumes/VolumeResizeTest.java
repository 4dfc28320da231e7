package dev.edgeplane.controlplane.volumes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.api.v1.VolumeTask;
import org.junit.jupiter.api.Test;

/** The resize state derived from a volume's spec and its node's report (Kubernetes' PVC resize, pure). */
class VolumeResizeTest {
    private static final long MIB = 1 << 20;

    private static VolumeStatus status(VolumeNodeStatus.State state, long capacity, boolean fsPending, String error) {
        return VolumeStatus.newBuilder().setPhase(VolumeStatus.Phase.BOUND).setNode("n1")
                .setNodeStatus(VolumeNodeStatus.newBuilder().setState(state).setCapacityBytes(capacity)
                        .setFilesystemResizePending(fsPending).setResizeError(error)).build();
    }

    @Test
    void onNoNodeThereIsNothingToResize() {
        VolumeStatus s = VolumeResize.derive(128 * MIB, VolumeStatus.newBuilder().setPhase(VolumeStatus.Phase.PENDING).build());
        assertEquals(VolumeStatus.ResizeState.NONE, s.getResizeState());
        assertEquals(0, s.getCapacityBytes());
        VolumeStatus deleted = VolumeResize.derive(128 * MIB, status(VolumeNodeStatus.State.DELETED, 64 * MIB, false, ""));
        assertEquals(VolumeStatus.ResizeState.NONE, deleted.getResizeState());
    }

    @Test
    void aGrowthGoesThroughControllerThenFilesystemThenNone() {
        VolumeStatus asked = VolumeResize.derive(128 * MIB, status(VolumeNodeStatus.State.PUBLISHED, 64 * MIB, false, ""));
        assertEquals(VolumeStatus.ResizeState.CONTROLLER_RESIZE_IN_PROGRESS, asked.getResizeState());
        assertEquals(64 * MIB, asked.getCapacityBytes());
        assertEquals(64 * MIB, asked.getAllocatedBytes());

        VolumeStatus backingGrown = VolumeResize.derive(128 * MIB, asked.toBuilder()
                .setNodeStatus(asked.getNodeStatus().toBuilder().setCapacityBytes(128 * MIB).setFilesystemResizePending(true)).build());
        assertEquals(VolumeStatus.ResizeState.FILESYSTEM_RESIZE_PENDING, backingGrown.getResizeState());
        assertEquals(64 * MIB, backingGrown.getCapacityBytes(), "pods still see the old size");
        assertEquals(128 * MIB, backingGrown.getAllocatedBytes());
        assertTrue(backingGrown.getResizeMessage().contains("CAP_SYS_RESOURCE"), backingGrown.getResizeMessage());

        VolumeStatus done = VolumeResize.derive(128 * MIB, backingGrown.toBuilder()
                .setNodeStatus(backingGrown.getNodeStatus().toBuilder().setFilesystemResizePending(false)).build());
        assertEquals(VolumeStatus.ResizeState.NONE, done.getResizeState());
        assertEquals(128 * MIB, done.getCapacityBytes());
        assertEquals("", done.getResizeMessage());
    }

    @Test
    void anUnmountedVolumeWaitsForItsNextStageAndAFailureSaysWhy() {
        VolumeStatus unmounted = VolumeResize.derive(128 * MIB, status(VolumeNodeStatus.State.CREATED, 128 * MIB, true, ""));
        assertEquals(VolumeStatus.ResizeState.FILESYSTEM_RESIZE_PENDING, unmounted.getResizeState());
        assertTrue(unmounted.getResizeMessage().startsWith("not mounted now"), unmounted.getResizeMessage());
        assertEquals(128 * MIB, unmounted.getCapacityBytes(), "never seen before: the best known");

        VolumeStatus failed = VolumeResize.derive(1024 * MIB, status(VolumeNodeStatus.State.PUBLISHED, 64 * MIB, false,
                "cannot grow to 1073741824 bytes: storage driver: RESOURCE_EXHAUSTED loopfs pool has 0 bytes left"));
        assertEquals(VolumeStatus.ResizeState.FAILED, failed.getResizeState());
        assertTrue(failed.getResizeMessage().contains("RESOURCE_EXHAUSTED"));
        assertEquals(64 * MIB, failed.getCapacityBytes());
    }

    @Test
    void anOrderIsNeededWhileTheNodeHasLessAndIsDoneOnceItHasEnough() {
        Volume v = Volume.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("v").setNamespace("default").setUid("u"))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(128 * MIB))
                .setStatus(status(VolumeNodeStatus.State.CREATED, 64 * MIB, false, "")).build();
        v = VolumeResize.derive(v);
        assertTrue(VolumeResize.needsOrder(v));
        VolumeTask order = VolumeTasks.expand(v).getVolumeTask();
        assertEquals(VolumeTask.Action.EXPAND, order.getAction());
        assertEquals(128 * MIB, order.getSizeBytes());
        assertFalse(VolumeResize.done(order, v));
        Volume deleting = v.toBuilder().setStatus(v.getStatus().toBuilder().setPhase(VolumeStatus.Phase.DELETING)).build();
        assertFalse(VolumeResize.needsOrder(deleting), "a volume being deleted is never grown");
        Volume grown = VolumeResize.derive(v.toBuilder().setStatus(v.getStatus().toBuilder()
                .setNodeStatus(v.getStatus().getNodeStatus().toBuilder().setCapacityBytes(128 * MIB))).build());
        assertTrue(VolumeResize.done(order, grown));
        assertFalse(VolumeResize.needsOrder(grown));
        Volume unseen = Volume.newBuilder().setSpec(VolumeSpec.newBuilder().setSizeBytes(128 * MIB))
                .setStatus(VolumeStatus.newBuilder().setNode("n1").setPhase(VolumeStatus.Phase.PENDING)).build();
        assertFalse(VolumeResize.needsOrder(VolumeResize.derive(unseen)), "not created on its node yet: created at the new size");
    }

    @Test
    void aReportWithoutASizeKeepsTheLastKnownOneAndAnUnknownSizeIsOrderedAnyway() {
        VolumeStatus known = VolumeResize.derive(64 * MIB, status(VolumeNodeStatus.State.PUBLISHED, 64 * MIB, false, ""));
        VolumeStatus released = VolumeResize.derive(64 * MIB, known.toBuilder()
                .setNodeStatus(VolumeNodeStatus.newBuilder().setState(VolumeNodeStatus.State.CREATED)).build());
        assertEquals(64 * MIB, released.getAllocatedBytes());
        assertEquals(64 * MIB, released.getCapacityBytes());
        Volume unknown = Volume.newBuilder().setSpec(VolumeSpec.newBuilder().setSizeBytes(128 * MIB))
                .setStatus(VolumeStatus.newBuilder().setNode("n1").setPhase(VolumeStatus.Phase.AVAILABLE)
                        .setNodeStatus(VolumeNodeStatus.newBuilder().setState(VolumeNodeStatus.State.CREATED))).build();
        unknown = VolumeResize.derive(unknown);
        assertEquals(VolumeStatus.ResizeState.NONE, unknown.getStatus().getResizeState());
        assertTrue(VolumeResize.needsOrder(unknown), "growing a volume that has the size already is a no-op");
    }
}
