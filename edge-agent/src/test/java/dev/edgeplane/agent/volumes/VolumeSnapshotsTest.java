package dev.edgeplane.agent.volumes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.Await;
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
import dev.edgeplane.api.v1.VolumeSnapshotReport;
import dev.edgeplane.api.v1.VolumeSnapshotTask;
import dev.edgeplane.storage.StorageDriverConfig;
import dev.edgeplane.testkit.HostStorage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent's snapshot tasks against the CSI driver hosted in process on a real loop device (ext4):
 * a task in the desired state is taken and reported, a restore claim shows the data as it was, a
 * task kept through the journal is not taken twice, and the snapshot is deleted only once its task
 * is gone from a complete desired state. Cleans up mounts and loop devices under its temp dir.
 */
class VolumeSnapshotsTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir Path tmp;
    private PodVolumes volumes;
    private final List<VolumeSnapshots> running = new ArrayList<>();
    private final Map<String, VolumeSnapshotReport> snapshotReports = new ConcurrentHashMap<>();
    private final List<VolumeReport> volumeReports = new CopyOnWriteArrayList<>();
    private final List<String> forgotten = new CopyOnWriteArrayList<>();

    @BeforeEach
    void openDriver() {
        volumes = StorageDrivers.inProcess(tmp.resolve("volumes"), StorageDriverConfig.of(tmp.resolve("csi"), "node-1"));
        volumes.onVolumeReport(volumeReports::add);
    }

    @AfterEach
    void cleanUp() throws Exception {
        try {
            running.forEach(VolumeSnapshots::close);
            volumes.podRemoved("pod-a", true);
            volumes.podRemoved("pod-b", true);
            volumes.close();
        } finally {
            HostStorage.releaseUnder(tmp);
        }
        assertTrue(HostStorage.loopDevicesUnder(tmp).isEmpty(), "no loop device left");
    }


    private static Assignment pod(String replica, VolumeClaim claim) {
        return Assignment.newBuilder().setNamespace("default").setReplica(replica).setApp("cam")
                .setTemplate(PodTemplate.newBuilder().addVolumes(PodVolume.newBuilder().setName("data").setVolume(claim.getName())))
                .putVolumes(claim.getName(), claim).build();
    }

    private static VolumeClaim claim(String name, String uid, String sourceSnapshotId) {
        return VolumeClaim.newBuilder().setName(name).setUid(uid).setSizeBytes(32L << 20)
                .putParameters("backend", "loopfs").putParameters("fsType", "ext4").setDeleteOnRelease(true)
                .setSourceSnapshotId(sourceSnapshotId).build();
    }

    private static Assignment task(String name, String sourceVolumeId) {
        return Assignment.newBuilder().setNode("node-1").setNamespace("default").setReplica("snapshot." + name)
                .setVolumeSnapshot(VolumeSnapshotTask.newBuilder().setName(name).setUid("u-" + name).setVolume("rec")
                        .setSourceVolumeId(sourceVolumeId)).build();
    }

    private VolumeSnapshots start(DesiredStateStore desired) {
        VolumeSnapshots snapshots = new VolumeSnapshots(volumes, desired, r -> snapshotReports.put(r.getName(), r),
                (ns, name) -> forgotten.add(ns + "/" + name), tmp.resolve("volumes"), Duration.ofMillis(200));
        running.add(snapshots);
        snapshots.start();
        return snapshots;
    }

    private long snapshotsOnDriver() throws IOException {
        Path dir = tmp.resolve("csi/snapshots");
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.toString().endsWith(".json")).count();
        }
    }

    @Test
    void takesReportsRestoresAndDeletesOnlyOnACompleteState() throws Exception {
        // A published volume with "old" in it.
        Path data = volumes.prepare(pod("cam-0", claim("rec", "u1", "")), "pod-a").get("data");
        Files.writeString(data.resolve("value"), "old");
        VolumeReport published = volumeReports.get(volumeReports.size() - 1);
        assertEquals(VolumeNodeStatus.State.PUBLISHED, published.getStatus().getState());
        String volumeId = published.getStatus().getVolumeId();
        assertEquals("u1", published.getUid());

        // The task arrives in a complete desired state: taken (frozen while mounted), recorded, reported.
        DesiredStateStore desired = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
        desired.applySnapshot(Snapshot.newBuilder().setRevision(5).addAssignments(pod("cam-0", claim("rec", "u1", "")))
                .addAssignments(task("s1", volumeId)).build());
        assertEquals(1, desired.current().assignments().size(), "the task is not a replica");
        assertEquals(1, desired.current().volumeSnapshots().size());
        VolumeSnapshots snapshots = start(desired);
        Await.until(WAIT, "s1 ready", () -> snapshotReports.containsKey("s1") && snapshotReports.get("s1").getReadyToUse());
        VolumeSnapshotReport ready = snapshotReports.get("s1");
        assertEquals("u-s1", ready.getUid());
        assertFalse(ready.getSnapshotId().isEmpty());
        assertTrue(ready.getSizeBytes() >= 32L << 20);
        assertTrue(ready.hasCreationTime());
        assertTrue(Files.readString(tmp.resolve("volumes/snapshots.properties")).contains(ready.getSnapshotId()));
        Files.writeString(data.resolve("value"), "new");

        // A volume restored from it (another pod) shows the data as it was.
        Path restored = volumes.prepare(pod("reader-0", claim("restored", "u2", ready.getSnapshotId())), "pod-b").get("data");
        assertEquals("old", Files.readString(restored.resolve("value")));
        assertEquals("new", Files.readString(data.resolve("value")));

        // Restarted from the journal, the task is still there and asked again (idempotent: the same snapshot).
        snapshots.close();
        DesiredStateStore reopened = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
        assertEquals(1, reopened.current().volumeSnapshots().size(), "snapshot tasks survive in the journal");
        snapshotReports.clear();
        snapshots = start(reopened);
        Await.until(WAIT, "s1 reported again after the restart", () -> snapshotReports.containsKey("s1"));
        assertEquals(ready.getSnapshotId(), snapshotReports.get("s1").getSnapshotId());
        assertEquals(1, snapshotsOnDriver());

        // An incomplete desired state (no journal, no snapshot yet) never deletes what this agent took.
        snapshots.close();
        DesiredStateStore partial = DesiredStateStore.open(new JournalStore(tmp.resolve("other-journal")));
        partial.applyChanges(Changes.newBuilder().setRevision(9).addChanges(Change.newBuilder().setType(Change.Type.PUT)
                .setKey("default/cam-0").setAssignment(pod("cam-0", claim("rec", "u1", "")))).build());
        assertFalse(partial.current().complete());
        VolumeSnapshots cautious = start(partial);
        Thread.sleep(1_000); // a few passes (nothing to wait for: the point is that nothing happens)
        assertEquals(1, snapshotsOnDriver(), "kept on a partial desired state");
        cautious.close();

        // The task gone from a complete state: deleted through CSI, forgotten.
        reopened.applyChanges(Changes.newBuilder().setRevision(10).addChanges(Change.newBuilder().setType(Change.Type.DELETE)
                .setKey("default/snapshot.s1")).build());
        start(reopened);
        Await.until(WAIT, "s1 deleted on the driver", () -> {
            try {
                return snapshotsOnDriver() == 0;
            } catch (IOException e) {
                return false;
            }
        });
        Await.until(WAIT, "s1 forgotten", () -> forgotten.contains("default/s1"));
        assertFalse(Files.readString(tmp.resolve("volumes/snapshots.properties")).contains(ready.getSnapshotId()));
    }
}
