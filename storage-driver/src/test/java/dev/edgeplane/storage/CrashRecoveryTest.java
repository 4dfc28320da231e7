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
