package dev.edgeplane.storage;

import dev.edgeplane.csi.v1.CreateVolumeResponse;
import dev.edgeplane.csi.v1.DeleteVolumeRequest;
import dev.edgeplane.csi.v1.ListVolumesRequest;
import dev.edgeplane.csi.v1.NodePublishVolumeRequest;
import dev.edgeplane.csi.v1.NodeStageVolumeRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static dev.edgeplane.storage.Requests.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kill -9 of the driver process in the middle of NodeStage and of NodePublish, then a restart:
 * no leaked loop device, no double mount, and the CO's retries complete normally.
 */
class CrashRecoveryTest {
    private HostFixture host;

    @AfterEach
    void cleanUp() throws Exception {
        if (host != null) {
            host.close();
        }
    }

    @Test
    void killNineMidStageAndMidPublishThenRestart() throws Exception {
        host = new HostFixture("crash");
        Path socket = host.dir().resolve("csi.sock");
        Path pauseFile = host.dir().resolve("paused");
        List<String> flags = List.of("--state-dir", host.dir().resolve("state").toString(), "--node-id", "edge-1");
        Path staging = host.dir().resolve("staging/v");
        Path target = host.dir().resolve("pods/p/v");

        // 1) die after the loop device is attached, before the staging mount
        DriverProcess first = host.closeLater(DriverProcess.start(host.dir(), socket, flags,
                Map.of("EDGEPLANE_CSI_PAUSE_AT", StepHook.STAGE_AFTER_ATTACH, "EDGEPLANE_CSI_PAUSE_FILE", pauseFile.toString())));
        CreateVolumeResponse created = first.client.controller.createVolume(
                Requests.create("crashy", 32 * MIB, Map.of()).build());
        String id = created.getVolume().getVolumeId();
        NodeStageVolumeRequest stage = Requests.stage(id, staging);
        CompletableFuture<?> inFlight = CompletableFuture.runAsync(() -> first.client.node.nodeStageVolume(stage));
        awaitFile(pauseFile);
        assertEquals(1, loopDevicesOf(id), "attached before the crash");
        first.kill9();
        inFlight.handle((r, e) -> null).join();
        Files.delete(pauseFile);

        // 2) restart: the half-done stage is rolled back (loop device released); then die mid-publish
        DriverProcess second = host.closeLater(DriverProcess.start(host.dir(), socket, flags,
                Map.of("EDGEPLANE_CSI_PAUSE_AT", StepHook.PUBLISH_AFTER_MOUNT, "EDGEPLANE_CSI_PAUSE_FILE", pauseFile.toString())));
        assertEquals(0, loopDevicesOf(id), "the leaked loop device was detached at restart");
        assertEquals(0, host.mounts.at(staging).size());
        second.client.node.nodeStageVolume(stage); // the CO's retry
        assertEquals(1, host.mounts.at(staging).size());
        Files.writeString(staging.resolve("data.txt"), "survives");
        NodePublishVolumeRequest publish = Requests.publish(id, staging, target, false);
        inFlight = CompletableFuture.runAsync(() -> second.client.node.nodePublishVolume(publish));
        awaitFile(pauseFile);
        assertEquals(1, host.mounts.at(target).size(), "bind mount made before the crash");
        second.kill9();
        inFlight.handle((r, e) -> null).join();

        // 3) restart without fault injection: unfinished publish undone, stage kept, retries succeed once
        DriverProcess third = host.closeLater(DriverProcess.start(host.dir(), socket, flags, Map.of()));
        assertEquals(0, host.mounts.at(target).size(), "the unconfirmed publish was undone");
        assertEquals(1, host.mounts.at(staging).size(), "the confirmed stage stays");
        assertEquals(1, loopDevicesOf(id));
        third.client.node.nodeStageVolume(stage);
        third.client.node.nodePublishVolume(publish);
        third.client.node.nodePublishVolume(publish);
        assertEquals(1, host.mounts.at(target).size(), "no double mount");
        assertEquals("survives", Files.readString(target.resolve("data.txt")));
        assertEquals("edge-1", third.client.controller.listVolumes(ListVolumesRequest.getDefaultInstance())
                .getEntries(0).getStatus().getPublishedNodeIds(0));

        // 4) a restart with everything in place changes nothing (no second mount, same device)
        third.kill9();
        DriverProcess fourth = host.closeLater(DriverProcess.start(host.dir(), socket, flags, Map.of()));
        assertEquals(1, host.mounts.at(target).size());
        assertEquals(1, host.mounts.at(staging).size());
        assertEquals(1, loopDevicesOf(id));

        fourth.client.node.nodeUnpublishVolume(Requests.unpublish(id, target));
        fourth.client.node.nodeUnstageVolume(Requests.unstage(id, staging));
        fourth.client.controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build());
        assertEquals(List.of(), host.leaks());
        assertTrue(Files.readString(fourth.log).contains("serving CSI"));
    }

    @Test
    void killNineWhileASnapshotHoldsTheVolumeFrozen() throws Exception {
        host = new HostFixture("frozen");
        Path socket = host.dir().resolve("csi.sock");
        Path pauseFile = host.dir().resolve("paused");
        List<String> flags = List.of("--state-dir", host.dir().resolve("state").toString(), "--node-id", "edge-1");
        Path staging = host.dir().resolve("staging/v");
        DriverProcess first = host.closeLater(DriverProcess.start(host.dir(), socket, flags,
                Map.of("EDGEPLANE_CSI_PAUSE_AT", StepHook.SNAPSHOT_WHILE_FROZEN, "EDGEPLANE_CSI_PAUSE_FILE",
                        pauseFile.toString())));
        String id = first.client.controller.createVolume(Requests.create("frozen", 32 * MIB, Map.of()).build())
                .getVolume().getVolumeId();
        first.client.node.nodeStageVolume(Requests.stage(id, staging));
        CompletableFuture<?> inFlight = CompletableFuture.runAsync(() -> first.client.controller.createSnapshot(
                dev.edgeplane.csi.v1.CreateSnapshotRequest.newBuilder().setName("s").setSourceVolumeId(id).build()));
        awaitFile(pauseFile);
        first.kill9();
        inFlight.handle((r, e) -> null).join();

        DriverProcess second = host.closeLater(DriverProcess.start(host.dir(), socket, flags, Map.of()));
        // the filesystem was thawed at restart: a write completes instead of blocking forever
        CompletableFuture<Void> write = CompletableFuture.runAsync(() -> {
            try {
                Files.writeString(staging.resolve("after.txt"), "thawed");
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        write.get(30, java.util.concurrent.TimeUnit.SECONDS);
        assertEquals(0, second.client.controller.listSnapshots(
                dev.edgeplane.csi.v1.ListSnapshotsRequest.getDefaultInstance()).getEntriesCount(),
                "the unfinished snapshot was rolled back");
        try (var files = Files.list(host.dir().resolve("state/loopfs/snapshots"))) {
            assertEquals(List.of(), files.toList(), "no partial copy left");
        }
        second.client.node.nodeUnstageVolume(Requests.unstage(id, staging));
        second.client.controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build());
        assertEquals(List.of(), host.leaks());
    }

    @Test
    void restartRepairsDoubleMountsAndDetachesLoopDevicesNoRecordNeeds() throws Exception {
        host = new HostFixture("repair");
        StorageDriverConfig config = StorageDriverConfig.of(host.dir().resolve("state"), "edge-1");
        Path socket = host.dir().resolve("csi.sock");
        InProcessDriver d = new InProcessDriver(config, socket);
        String id = d.client.controller.createVolume(Requests.create("repair", 32 * MIB, Map.of()).build())
                .getVolume().getVolumeId();
        Path staging = host.dir().resolve("staging/v");
        Path target = host.dir().resolve("pods/p/v");
        d.client.node.nodeStageVolume(Requests.stage(id, staging));
        d.client.node.nodePublishVolume(Requests.publish(id, staging, target, false));
        d.close();

        // someone (or a crashed older driver) mounted the target a second time, and a volume file
        // that has no record is attached to a loop device
        host.commands.check("mount", "--bind", staging.toString(), target.toString());
        assertEquals(2, host.mounts.at(target).size());
        Path orphan = config.loopfsDir().resolve("volumes/vol-orphan.img");
        try (var raf = new java.io.RandomAccessFile(orphan.toFile(), "rw")) {
            raf.setLength(16 * MIB);
        }
        host.loops.attach(orphan);

        InProcessDriver restarted = host.closeLater(new InProcessDriver(config, socket));
        assertEquals(1, host.mounts.at(target).size(), "double mount removed");
        assertEquals(1, host.mounts.at(staging).size());
        assertEquals(0, loopDevicesOf("vol-orphan"), "orphan loop device detached");
        assertEquals(1, loopDevicesOf(id), "the staged volume keeps its device");

        restarted.client.node.nodeUnpublishVolume(Requests.unpublish(id, target));
        restarted.client.node.nodeUnstageVolume(Requests.unstage(id, staging));
        restarted.client.controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build());
        assertEquals(List.of(), host.leaks());
    }

    @Test
    void afterAHostRebootConfirmedStagesAndPublishesAreMountedAgain() throws Exception {
        host = new HostFixture("reboot");
        StorageDriverConfig config = StorageDriverConfig.of(host.dir().resolve("state"), "edge-1");
        Path socket = host.dir().resolve("csi.sock");
        InProcessDriver d = new InProcessDriver(config, socket);
        String id = d.client.controller.createVolume(Requests.create("reboot", 32 * MIB, Map.of()).build())
                .getVolume().getVolumeId();
        Path staging = host.dir().resolve("staging/v");
        Path target = host.dir().resolve("pods/p/v");
        d.client.node.nodeStageVolume(Requests.stage(id, staging));
        d.client.node.nodePublishVolume(Requests.publish(id, staging, target, true));
        Files.writeString(staging.resolve("kept.txt"), "kept");
        d.close();

        // what a reboot does: every mount and loop device is gone, the metadata stays
        host.commands.check("umount", target.toString());
        host.commands.check("umount", staging.toString());
        for (var e : host.loops.all().entrySet()) {
            if (e.getValue().getFileName().toString().equals(id + ".img")) {
                host.loops.detach(e.getKey());
            }
        }

        InProcessDriver restarted = host.closeLater(new InProcessDriver(config, socket));
        assertEquals(1, host.mounts.at(staging).size());
        assertEquals(1, host.mounts.at(target).size());
        assertTrue(host.mounts.at(target).get(0).readOnly(), "read-only publish restored read-only");
        assertEquals("kept", Files.readString(target.resolve("kept.txt")));

        restarted.client.node.nodeUnpublishVolume(Requests.unpublish(id, target));
        restarted.client.node.nodeUnstageVolume(Requests.unstage(id, staging));
        restarted.client.controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build());
        assertEquals(List.of(), host.leaks());
    }

    private long loopDevicesOf(String volumeId) {
        return host.loops.all().values().stream().filter(f -> f.getFileName().toString().equals(volumeId + ".img"))
                .count();
    }

    private static void awaitFile(Path file) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!Files.exists(file)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the driver never reached the pause point (" + file + ")");
            }
            Thread.sleep(20);
        }
    }
}
