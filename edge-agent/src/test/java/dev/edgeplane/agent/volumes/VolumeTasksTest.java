package dev.edgeplane.agent.volumes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.journal.JournalStore;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.Changes;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.api.v1.VolumeClaim;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeReport;
import dev.edgeplane.api.v1.VolumeTask;
import dev.edgeplane.storage.StorageDriverConfig;
import dev.edgeplane.testkit.HostStorage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Volume orders against the CSI driver hosted in process on a real loop device (ext4): a volume
 * with reclaim policy Delete keeps its data when its pod goes (scaled to 0) and comes back, is not
 * deleted while a desired replica still names it, and is deleted (loop device detached, files gone)
 * and reported DELETED on the control plane's order; the report is forgotten once the order is gone.
 */
class VolumeTasksTest {
    @TempDir Path tmp;
    private PodVolumes volumes;
    private final List<VolumeReport> reports = new CopyOnWriteArrayList<>();
    private final List<String> forgotten = new CopyOnWriteArrayList<>();
    private VolumeTasks tasks;

    @BeforeEach
    void openDriver() {
        volumes = StorageDrivers.inProcess(tmp.resolve("volumes"), StorageDriverConfig.of(tmp.resolve("csi"), "node-1"));
        volumes.onVolumeReport(reports::add);
    }

    @AfterEach
    void cleanUp() throws Exception {
        try {
            if (tasks != null) {
                tasks.close();
            }
            volumes.podRemoved("pod-a", true);
            volumes.podRemoved("pod-b", true);
            volumes.close();
        } finally {
            HostStorage.releaseUnder(tmp);
        }
    }


    private static final VolumeClaim CLAIM = VolumeClaim.newBuilder().setName("rec").setUid("u1").setSizeBytes(32L << 20)
            .putParameters("backend", "loopfs").putParameters("fsType", "ext4").setDeleteOnRelease(true).build();

    private static Assignment pod() {
        return Assignment.newBuilder().setNamespace("default").setReplica("cam-0").setApp("cam")
                .setTemplate(PodTemplate.newBuilder().addVolumes(PodVolume.newBuilder().setName("data").setVolume("rec")))
                .putVolumes("rec", CLAIM).build();
    }

    private static Assignment deleteOrder() {
        return Assignment.newBuilder().setNode("node-1").setNamespace("default").setReplica("volume.rec")
                .setVolumeTask(VolumeTask.newBuilder().setName("rec").setUid("u1").setAction(VolumeTask.Action.DELETE)).build();
    }

    private long volumesOnDriver() throws IOException {
        try (Stream<Path> files = Files.list(tmp.resolve("csi/volumes"))) {
            return files.count();
        }
    }

    private long imageFiles() throws IOException {
        try (Stream<Path> files = Files.walk(tmp.resolve("csi"))) {
            return files.filter(f -> f.getFileName().toString().endsWith(".img")).count();
        }
    }

    private boolean loopDeviceAttached() throws Exception {
        return !HostStorage.loopDevicesUnder(tmp).isEmpty();
    }

    @Test
    void scaledToZeroKeepsTheDataAndOnlyAnOrderDeletesIt() throws Exception {
        Path data = volumes.prepare(pod(), "pod-a").get("data");
        Files.writeString(data.resolve("value"), "kept");
        volumes.podRemoved("pod-a", true); // scaled to 0: the replica is no longer desired
        assertEquals(1, volumesOnDriver(), "reclaim policy Delete, yet kept: the App still names it");
        assertEquals(VolumeNodeStatus.State.CREATED, reports.get(reports.size() - 1).getStatus().getState());
        Path again = volumes.prepare(pod(), "pod-b").get("data"); // scaled back to 1
        assertTrue(loopDeviceAttached());
        assertEquals("kept", Files.readString(again.resolve("value")));

        // The order arrives before the replica's removal: nothing happens while a desired replica names it.
        DesiredStateStore desired = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
        desired.applySnapshot(Snapshot.newBuilder().setRevision(5).addAssignments(pod()).addAssignments(deleteOrder()).build());
        assertEquals(1, desired.current().volumeTasks().size());
        assertEquals(1, desired.current().assignments().size(), "an order is not a replica");
        tasks = new VolumeTasks(volumes, desired, (ns, name) -> forgotten.add(ns + "/" + name), Duration.ofMinutes(10));
        tasks.syncOnce();
        assertEquals(1, volumesOnDriver());
        assertEquals("kept", Files.readString(again.resolve("value")));

        // The replica gone, its pod torn down: the order is carried out.
        desired.applyChanges(Changes.newBuilder().setRevision(6).addChanges(Change.newBuilder().setType(Change.Type.DELETE)
                .setKey("default/cam-0")).build());
        volumes.podRemoved("pod-b", true);
        assertEquals(1, imageFiles(), "still there after its pod is gone");
        tasks.syncOnce();
        assertEquals(0, volumesOnDriver(), "deleted through CSI");
        assertTrue(!loopDeviceAttached(), "its loop device detached");
        assertEquals(0, imageFiles(), "its backing file removed");
        VolumeReport last = reports.get(reports.size() - 1);
        assertEquals(VolumeNodeStatus.State.DELETED, last.getStatus().getState());
        assertEquals("u1", last.getUid());
        int reported = reports.size();
        tasks.syncOnce();
        assertEquals(reported, reports.size(), "done once per run");

        // The control plane removed the Volume and the order: nothing more to say about it.
        desired.applyChanges(Changes.newBuilder().setRevision(7).addChanges(Change.newBuilder().setType(Change.Type.DELETE)
                .setKey("default/volume.rec")).build());
        tasks.syncOnce();
        assertEquals(List.of("default/rec"), forgotten);

        // A restarted agent given the order again (the journal kept it): idempotent, reported DELETED again.
        DesiredStateStore replay = DesiredStateStore.open(new JournalStore(tmp.resolve("journal2")));
        replay.applySnapshot(Snapshot.newBuilder().setRevision(8).addAssignments(deleteOrder()).build());
        VolumeTasks restarted = new VolumeTasks(volumes, replay, (ns, name) -> { }, Duration.ofMinutes(10));
        restarted.syncOnce();
        restarted.close();
        assertEquals(VolumeNodeStatus.State.DELETED, reports.get(reports.size() - 1).getStatus().getState());
    }

    private static Assignment expandOrder(long bytes) {
        return Assignment.newBuilder().setNode("node-1").setNamespace("default").setReplica("volume.rec")
                .setVolumeTask(VolumeTask.newBuilder().setName("rec").setUid("u1").setAction(VolumeTask.Action.EXPAND)
                        .setSizeBytes(bytes)).build();
    }

    @Test
    void anExpandOrderGrowsAnUnusedVolumeOnceAndLeavesOneAReplicaNamesToIt() throws Exception {
        volumes.prepare(pod(), "pod-a");
        volumes.podRemoved("pod-a", true); // released: created, not staged

        // a desired replica names it: its pod grows it from the claim, the order waits
        DesiredStateStore desired = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
        desired.applySnapshot(Snapshot.newBuilder().setRevision(5).addAssignments(pod()).addAssignments(expandOrder(64L << 20)).build());
        tasks = new VolumeTasks(volumes, desired, (ns, name) -> forgotten.add(ns + "/" + name), Duration.ofMinutes(10));
        int reported = reports.size();
        tasks.syncOnce();
        assertEquals(reported, reports.size(), "left to the replica's pod");

        desired.applyChanges(Changes.newBuilder().setRevision(6).addChanges(Change.newBuilder().setType(Change.Type.DELETE)
                .setKey("default/cam-0")).build());
        tasks.syncOnce();
        VolumeNodeStatus grown = reports.get(reports.size() - 1).getStatus();
        assertEquals(64L << 20, grown.getCapacityBytes());
        assertTrue(grown.getFilesystemResizePending(), "not staged: its filesystem grows at the next stage");
        assertEquals(VolumeNodeStatus.State.CREATED, grown.getState());
        reported = reports.size();
        tasks.syncOnce();
        assertEquals(reported, reports.size(), "done once per size");
    }
}
