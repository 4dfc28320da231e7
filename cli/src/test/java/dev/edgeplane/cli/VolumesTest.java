package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotSpec;
import dev.edgeplane.api.v1.VolumeSnapshotStatus;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.api.v1.VolumeStatus;
import java.io.StringReader;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Volume and VolumeSnapshot manifests and the tables of `edgectl get volumes|volumesnapshots`. */
class VolumesTest {
    @Test
    void manifestsReadVolumesAndSnapshotsInTheApiMapping() {
        List<Manifests.Manifest> read = Manifests.read(new StringReader("""
                kind: Volume
                metadata: {name: restored}
                spec: {sizeBytes: "33554432", reclaimPolicy: DELETE, sourceSnapshot: before-upgrade}
                ---
                kind: VolumeSnapshot
                metadata: {name: before-upgrade}
                spec: {volume: data}
                """), "test");
        Volume volume = assertInstanceOf(Manifests.VolumeManifest.class, read.get(0)).volume();
        assertEquals(32L << 20, volume.getSpec().getSizeBytes());
        assertEquals(VolumeSpec.ReclaimPolicy.DELETE, volume.getSpec().getReclaimPolicy());
        assertEquals("before-upgrade", volume.getSpec().getSourceSnapshot());
        assertEquals("data", assertInstanceOf(Manifests.VolumeSnapshotManifest.class, read.get(1)).snapshot().getSpec().getVolume());
    }

    @Test
    void rowsShowPhaseNodeAndReadiness() {
        Instant now = Instant.ofEpochSecond(1_000);
        Volume v = Volume.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName("data"))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(1536L << 20).setStorageClass("loopfs"))
                .setStatus(VolumeStatus.newBuilder().setPhase(VolumeStatus.Phase.BOUND).setNode("edge-1")
                        .setNodeStatus(VolumeNodeStatus.newBuilder().setState(VolumeNodeStatus.State.PUBLISHED)))
                .build();
        assertEquals(List.of("default", "data", "BOUND", "edge-1", "PUBLISHED", "-", "1.5Gi", "loopfs", "RETAIN", "-", "-", "-"),
                Volumes.volumeRow(v, now).subList(0, 12));
        Volume growing = v.toBuilder().setSpec(v.getSpec().toBuilder().setSizeBytes(3L << 30))
                .setStatus(v.getStatus().toBuilder().setCapacityBytes(1536L << 20).setAllocatedBytes(3L << 30)
                        .setResizeState(VolumeStatus.ResizeState.FILESYSTEM_RESIZE_PENDING)
                        .setResizeMessage("the filesystem grows when the volume is next staged")).build();
        assertEquals(List.of("1.5Gi", "3Gi", "loopfs", "RETAIN", "-", "FILESYSTEM_RESIZE_PENDING"),
                Volumes.volumeRow(growing, now).subList(5, 11));
        java.io.StringWriter text = new java.io.StringWriter();
        Volumes.describe(new java.io.PrintWriter(text, true), growing, now);
        assertTrue(text.toString().contains("Resize:        FILESYSTEM_RESIZE_PENDING: the filesystem grows"), text.toString());
        assertTrue(text.toString().contains("Capacity:      1.5Gi"), text.toString());
        VolumeSnapshot s = VolumeSnapshot.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName("s1"))
                .setSpec(VolumeSnapshotSpec.newBuilder().setVolume("data"))
                .setStatus(VolumeSnapshotStatus.newBuilder().setReadyToUse(true).setSizeBytes(32L << 20).setNode("edge-1")
                        .setSnapshotId("snap-1"))
                .build();
        assertEquals(List.of("default", "s1", "data", "true", "32Mi", "edge-1", "snap-1", "-"), Volumes.snapshotRow(s, now).subList(0, 8));
        assertEquals("512", Volumes.bytes(512));
        assertEquals("16Mi", Volumes.bytes(16L << 20));
        assertEquals(ResourceKind.VOLUMESNAPSHOT, ResourceKind.parse("snapshots"));
        assertEquals(ResourceKind.VOLUME, ResourceKind.parse("volumes"));
    }
}
