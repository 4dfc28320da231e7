package dev.edgeplane.storage;

import com.google.rpc.BadRequest;
import dev.edgeplane.csi.v1.CapacityRange;
import dev.edgeplane.csi.v1.CreateSnapshotRequest;
import dev.edgeplane.csi.v1.CreateSnapshotResponse;
import dev.edgeplane.csi.v1.CreateVolumeRequest;
import dev.edgeplane.csi.v1.DeleteSnapshotRequest;
import dev.edgeplane.csi.v1.DeleteVolumeRequest;
import dev.edgeplane.csi.v1.ListVolumesRequest;
import dev.edgeplane.csi.v1.NodeGetVolumeStatsRequest;
import dev.edgeplane.csi.v1.VolumeCapability;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static dev.edgeplane.storage.LifecycleTest.assertCode;
import static dev.edgeplane.storage.Requests.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad input is refused with INVALID_ARGUMENT before anything is created; rules on busy objects. */
class BadInputTest {
    private static HostFixture host;
    private static CsiClient csi;
    private static Path stateDir;
    private static final CountDownLatch SNAPSHOT_REACHED = new CountDownLatch(1);
    private static final CountDownLatch SNAPSHOT_RELEASE = new CountDownLatch(1);

    @BeforeAll
    static void start() throws Exception {
        host = new HostFixture("badinput");
        stateDir = host.dir().resolve("state");
        StepHook holdSnapshot = (step, id) -> {
            if (step.equals(StepHook.SNAPSHOT_COPYING)) {
                SNAPSHOT_REACHED.countDown();
                try {
                    SNAPSHOT_RELEASE.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        StorageDriverConfig config = StorageDriverConfig.of(stateDir, "edge-1")
                .withLoopfsCapacityBytes(256 * MIB).withHook(holdSnapshot);
        csi = host.closeLater(new InProcessDriver(config, host.dir().resolve("csi.sock"))).client;
    }

    @AfterAll
    static void stop() throws Exception {
        SNAPSHOT_RELEASE.countDown();
        host.close();
    }

    private static void invalid(Executable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call);
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
        com.google.rpc.Status details = StatusProto.fromThrowable(e);
        assertTrue(details != null && details.getDetailsList().stream().anyMatch(a -> a.is(BadRequest.class)),
                "carries a google.rpc.BadRequest");
    }

    private static CreateVolumeRequest.Builder good(String name) {
        return Requests.create(name, 32 * MIB, Map.of());
    }

    @Test
    void badNamesIdsSizesAndParametersCreateNothing() throws Exception {
        for (String name : List.of("../escape", "/etc/passwd", "a\0b", "", "..", "a/b", "x".repeat(300))) {
            invalid(() -> csi.controller.createVolume(good(name).build()));
        }
        invalid(() -> csi.controller.createVolume(good("zero").setCapacityRange(CapacityRange.newBuilder()).build()));
        invalid(() -> csi.controller.createVolume(good("negative").setCapacityRange(
                CapacityRange.newBuilder().setRequiredBytes(-1)).build()));
        invalid(() -> csi.controller.createVolume(good("huge").setCapacityRange(
                CapacityRange.newBuilder().setRequiredBytes(1024 * 1024 * MIB)).build()));
        invalid(() -> csi.controller.createVolume(good("limit-below-min").setCapacityRange(
                CapacityRange.newBuilder().setRequiredBytes(MIB).setLimitBytes(2 * MIB)).build()));
        invalid(() -> csi.controller.createVolume(good("param").putParameters("color", "blue").build()));
        invalid(() -> csi.controller.createVolume(good("backend").putParameters("backend", "zfs").build()));
        invalid(() -> csi.controller.createVolume(good("btrfs-off").putParameters("backend", "btrfs").build()));
        invalid(() -> csi.controller.createVolume(good("fs").putParameters("fsType", "ntfs").build()));
        invalid(() -> csi.controller.createVolume(good("no-caps").clearVolumeCapabilities().build()));
        invalid(() -> csi.controller.createVolume(good("block").clearVolumeCapabilities()
                .addVolumeCapabilities(VolumeCapability.newBuilder()
                        .setBlock(VolumeCapability.BlockVolume.getDefaultInstance())
                        .setAccessMode(Requests.mount("").getAccessMode())).build()));
        invalid(() -> csi.controller.createVolume(good("multi").clearVolumeCapabilities()
                .addVolumeCapabilities(Requests.mount("").toBuilder().setAccessMode(VolumeCapability.AccessMode
                        .newBuilder().setMode(VolumeCapability.AccessMode.Mode.MULTI_NODE_MULTI_WRITER))).build()));
        invalid(() -> csi.controller.createVolume(Requests.restore("from-bad", 32 * MIB, Map.of(), "../../snap")));
        for (String id : List.of("../../etc", "/etc/passwd", "vol\0x", "", "a/../b")) {
            invalid(() -> csi.controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build()));
            invalid(() -> csi.controller.deleteSnapshot(DeleteSnapshotRequest.newBuilder().setSnapshotId(id).build()));
            invalid(() -> csi.node.nodeStageVolume(Requests.stage(id, host.dir().resolve("s"))));
            invalid(() -> csi.controller.createSnapshot(CreateSnapshotRequest.newBuilder().setName("s")
                    .setSourceVolumeId(id).build()));
        }
        invalid(() -> csi.controller.createSnapshot(CreateSnapshotRequest.newBuilder().setName("a/../b")
                .setSourceVolumeId("vol-000").build()));
        assertCode(Status.Code.ABORTED, () -> csi.controller.listVolumes(
                ListVolumesRequest.newBuilder().setStartingToken("../x").build()));

        // nothing was created anywhere
        assertEquals(List.of(), list(stateDir.resolve("volumes")));
        assertEquals(List.of(), list(stateDir.resolve("loopfs/volumes")));
        assertEquals(List.of(), host.leaks());
    }

    @Test
    void badPathsAreRefusedAndBusyVolumesAreProtected() throws Exception {
        String id = csi.controller.createVolume(good("paths").build()).getVolume().getVolumeId();
        try {
            Path staging = host.dir().resolve("staging/paths");
            for (String p : List.of("relative/path", host.dir() + "/a/../../etc", stateDir.resolve("x").toString(),
                    "/", host.dir() + "/a\0b")) {
                invalid(() -> csi.node.nodeStageVolume(Requests.stage(id, Path.of("/placeholder")).toBuilder()
                        .setStagingTargetPath(p).build()));
                invalid(() -> csi.node.nodePublishVolume(Requests.publish(id, staging, Path.of("/placeholder"), false)
                        .toBuilder().setTargetPath(p).build()));
            }
            assertCode(Status.Code.NOT_FOUND, () -> csi.node.nodeStageVolume(Requests.stage("vol-unknown", staging)));
            assertCode(Status.Code.FAILED_PRECONDITION, () -> csi.node.nodePublishVolume(
                    Requests.publish(id, staging, host.dir().resolve("t"), false)));
            assertCode(Status.Code.NOT_FOUND, () -> csi.node.nodeGetVolumeStats(NodeGetVolumeStatsRequest.newBuilder()
                    .setVolumeId(id).setVolumePath(host.dir().resolve("t").toString()).build()));

            // the pool holds 256 MiB: what is beyond its size is invalid, what is beyond its free space exhausted
            assertCode(Status.Code.RESOURCE_EXHAUSTED, () -> csi.controller.createVolume(
                    Requests.create("too-much", 240 * MIB, Map.of()).build()));

            // one snapshot at a time per volume; the volume cannot be deleted meanwhile
            CompletableFuture<CreateSnapshotResponse> first = CompletableFuture.supplyAsync(() ->
                    csi.controller.createSnapshot(CreateSnapshotRequest.newBuilder().setName("first")
                            .setSourceVolumeId(id).build()));
            assertTrue(SNAPSHOT_REACHED.await(30, TimeUnit.SECONDS));
            assertCode(Status.Code.ABORTED, () -> csi.controller.createSnapshot(CreateSnapshotRequest.newBuilder()
                    .setName("second").setSourceVolumeId(id).build()));
            assertCode(Status.Code.ABORTED, () -> csi.controller.deleteVolume(
                    DeleteVolumeRequest.newBuilder().setVolumeId(id).build()));
            SNAPSHOT_RELEASE.countDown();
            String snapshotId = first.get(30, TimeUnit.SECONDS).getSnapshot().getSnapshotId();
            assertTrue(first.get().getSnapshot().getReadyToUse());
            csi.controller.deleteSnapshot(DeleteSnapshotRequest.newBuilder().setSnapshotId(snapshotId).build());
        } finally {
            SNAPSHOT_RELEASE.countDown();
            csi.controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build());
        }
        assertEquals(List.of(), host.leaks());
    }

    private static List<Path> list(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        }
    }
}
