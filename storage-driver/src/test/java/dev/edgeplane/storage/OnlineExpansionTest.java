package dev.edgeplane.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.csi.v1.CapacityRange;
import dev.edgeplane.csi.v1.ControllerExpandVolumeRequest;
import dev.edgeplane.csi.v1.ControllerExpandVolumeResponse;
import dev.edgeplane.csi.v1.NodeExpandVolumeRequest;
import dev.edgeplane.csi.v1.NodeGetVolumeStatsRequest;
import dev.edgeplane.csi.v1.VolumeUsage;
import dev.edgeplane.storage.host.Capabilities;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Growing a published volume without unmounting it, per backend and filesystem, over the driver's real
 * socket on real loop devices: the size statfs shows on the pod's path (loopfs) or the quota
 * NodeGetVolumeStats reports (btrfs, whose statfs is the pool's) follows ControllerExpandVolume and
 * NodeExpandVolume while the volume stays mounted, and the data stays. ext4 grows mounted only with
 * CAP_SYS_RESOURCE: without it NodeExpandVolume says so (FAILED_PRECONDITION) and changes nothing.
 */
class OnlineExpansionTest {
    private HostFixture host;

    @AfterEach
    void cleanUp() throws Exception {
        if (host != null) {
            host.close();
        }
    }

    private static long statfs(Path path) throws Exception {
        return Files.getFileStore(path).getTotalSpace();
    }

    private static long statsTotal(CsiClient csi, String id, Path target) {
        return csi.node.nodeGetVolumeStats(NodeGetVolumeStatsRequest.newBuilder().setVolumeId(id)
                .setVolumePath(target.toString()).build()).getUsageList().stream()
                .filter(u -> u.getUnit() == VolumeUsage.Unit.BYTES).findFirst().orElseThrow().getTotal();
    }

    @ParameterizedTest
    @ValueSource(strings = {"loopfs/ext4", "loopfs/xfs", "btrfs/btrfs"})
    void aPublishedVolumeGrowsWithoutBeingUnmounted(String backendAndFs) throws Exception {
        String backend = backendAndFs.split("/")[0];
        String fs = backendAndFs.split("/")[1];
        host = new HostFixture("grow-" + fs);
        StorageDriverConfig config = StorageDriverConfig.of(host.dir().resolve("state"), "edge-1");
        if (backend.equals("btrfs")) {
            config = config.withBtrfsPool(host.btrfsPool(1024 * Requests.MIB));
        }
        CsiClient csi = host.closeLater(new InProcessDriver(config, host.dir().resolve("csi.sock"))).client;
        long small = fs.equals("xfs") ? 300 * Requests.MIB : 64 * Requests.MIB;
        String id = csi.controller.createVolume(Requests.create("grow", small, Map.of("backend", backend, "fsType", fs)).build())
                .getVolume().getVolumeId();
        Path staging = host.dir().resolve("staging/grow");
        Path target = host.dir().resolve("pods/p1/grow");
        csi.node.nodeStageVolume(Requests.stage(id, staging));
        csi.node.nodePublishVolume(Requests.publish(id, staging, target, false));
        Files.writeString(target.resolve("kept"), "v1");
        long statfsBefore = statfs(target);
        long statsBefore = statsTotal(csi, id, target);
        var mountsBefore = host.mounts.at(target);

        ControllerExpandVolumeResponse expanded = csi.controller.controllerExpandVolume(ControllerExpandVolumeRequest.newBuilder()
                .setVolumeId(id).setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(2 * small)).build());
        assertEquals(2 * small, expanded.getCapacityBytes());
        boolean online = !fs.equals("ext4") || Capabilities.effective().contains(Capabilities.CAP_SYS_RESOURCE);
        if (expanded.getNodeExpansionRequired()) {
            NodeExpandVolumeRequest grow = NodeExpandVolumeRequest.newBuilder().setVolumeId(id)
                    .setVolumePath(target.toString()).build();
            if (online) {
                assertEquals(2 * small, csi.node.nodeExpandVolume(grow).getCapacityBytes());
            } else {
                StatusRuntimeException refused = Assertions.assertThrows(StatusRuntimeException.class, () -> csi.node.nodeExpandVolume(grow));
                assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
                assertTrue(refused.getStatus().getDescription().contains("CAP_SYS_RESOURCE"), refused.getStatus().getDescription());
            }
        } else {
            assertEquals("btrfs", fs, "only a quota needs no node step");
        }
        assertEquals(mountsBefore, host.mounts.at(target), "never unmounted");
        if (fs.equals("btrfs")) {
            assertTrue(statsTotal(csi, id, target) >= 2 * small - 4 * Requests.MIB, "the quota: " + statsTotal(csi, id, target));
        } else if (online) {
            assertTrue(statfs(target) > statfsBefore + small / 2, "statfs " + statfsBefore + " -> " + statfs(target));
            assertTrue(statsTotal(csi, id, target) > statsBefore + small / 2);
        } else {
            assertEquals(statfsBefore, statfs(target), "unchanged until the next stage");
        }
        assertEquals("v1", Files.readString(target.resolve("kept")));
        assertFalse(host.mounts.at(staging).isEmpty());
        csi.node.nodeUnpublishVolume(Requests.unpublish(id, target));
        csi.node.nodeUnstageVolume(Requests.unstage(id, staging));
    }

    @Test
    void anExt4ThatCouldNotGrowMountedGrowsAtItsNextStage() throws Exception {
        host = new HostFixture("grow-restage");
        CsiClient csi = host.closeLater(new InProcessDriver(StorageDriverConfig.of(host.dir().resolve("state"), "edge-1"),
                host.dir().resolve("csi.sock"))).client;
        long small = 64 * Requests.MIB;
        String id = csi.controller.createVolume(Requests.create("restage", small, Map.of("backend", "loopfs", "fsType", "ext4"))
                .build()).getVolume().getVolumeId();
        Path staging = host.dir().resolve("staging/restage");
        Path target = host.dir().resolve("pods/p1/restage");
        csi.node.nodeStageVolume(Requests.stage(id, staging));
        csi.node.nodePublishVolume(Requests.publish(id, staging, target, false));
        long before = statfs(target);
        csi.controller.controllerExpandVolume(ControllerExpandVolumeRequest.newBuilder().setVolumeId(id)
                .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(2 * small)).build());
        csi.node.nodeUnpublishVolume(Requests.unpublish(id, target));
        csi.node.nodeUnstageVolume(Requests.unstage(id, staging));
        csi.node.nodeStageVolume(Requests.stage(id, staging));
        csi.node.nodePublishVolume(Requests.publish(id, staging, target, false));
        assertTrue(statfs(target) > before + small / 2, "statfs " + before + " -> " + statfs(target));
        assertFalse(csi.controller.controllerExpandVolume(ControllerExpandVolumeRequest.newBuilder().setVolumeId(id)
                .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(2 * small)).build()).getNodeExpansionRequired(),
                "nothing left to grow");
        csi.node.nodeUnpublishVolume(Requests.unpublish(id, target));
        csi.node.nodeUnstageVolume(Requests.unstage(id, staging));
    }
}
