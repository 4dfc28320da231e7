package dev.edgeplane.agent.volumes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.Await;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.journal.JournalStore;
import dev.edgeplane.api.PolicySnapshots;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.PolicyVolume;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.api.v1.VolumeClaim;
import dev.edgeplane.api.v1.VolumeReport;
import dev.edgeplane.api.v1.VolumeSnapshotPolicyTask;
import dev.edgeplane.api.v1.VolumeSnapshotReport;
import dev.edgeplane.storage.StorageDriverConfig;
import dev.edgeplane.testkit.HostStorage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Snapshot policies on the node, against the CSI driver hosted in process on a real loop device
 * (ext4): a policy fires at its slots, takes and reports snapshots, prunes beyond keep_count, skips
 * missed slots older than one period, never fires a slot twice across a restart, skips while
 * suspended, and deletes its snapshots once a complete desired state no longer lists the volume. The
 * clock is set by the test (passes are run directly) except in the one test of the scheduler thread.
 */
class VolumeSnapshotPoliciesTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final String NODE = "node-1";

    @TempDir Path tmp;
    private PodVolumes volumes;
    private final List<VolumeSnapshotPolicies> running = new ArrayList<>();
    private final List<VolumeSnapshotReport> reports = new CopyOnWriteArrayList<>();
    private final List<VolumeReport> volumeReports = new CopyOnWriteArrayList<>();
    private final List<VolumeSnapshotPolicies.Firing> firings = new CopyOnWriteArrayList<>();

    /** A clock the test moves. */
    private static final class SetClock extends Clock {
        private volatile Instant now;

        SetClock(Instant now) {
            this.now = now;
        }

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    @BeforeEach
    void openDriver() {
        volumes = StorageDrivers.inProcess(tmp.resolve("volumes"), StorageDriverConfig.of(tmp.resolve("csi"), NODE));
        volumes.onVolumeReport(volumeReports::add);
    }

    @AfterEach
    void cleanUp() throws Exception {
        try {
            running.forEach(VolumeSnapshotPolicies::close);
            volumes.podRemoved("pod-a", true);
            volumes.close();
        } finally {
            HostStorage.releaseUnder(tmp);
        }
        assertTrue(HostStorage.loopDevicesUnder(tmp).isEmpty(), "no loop device left");
    }

    private static Assignment pod(VolumeClaim claim) {
        return Assignment.newBuilder().setNamespace("default").setReplica("db-0").setApp("db")
                .setTemplate(PodTemplate.newBuilder().addVolumes(PodVolume.newBuilder().setName("data").setVolume(claim.getName())))
                .putVolumes(claim.getName(), claim).build();
    }

    private static VolumeClaim claim() {
        return VolumeClaim.newBuilder().setName("db").setUid("u-db").setSizeBytes(32L << 20)
                .putParameters("backend", "loopfs").putParameters("fsType", "ext4").setDeleteOnRelease(true).build();
    }

    private static Assignment policy(String schedule, int keep, boolean suspend, String volumeId) {
        return Assignment.newBuilder().setNode(NODE).setNamespace("default").setReplica("snapshotpolicy.often")
                .setVolumeSnapshotPolicy(VolumeSnapshotPolicyTask.newBuilder().setName("often").setUid("p-uid")
                        .setSchedule(schedule).setKeepCount(keep).setSuspend(suspend)
                        .addVolumes(PolicyVolume.newBuilder().setName("db").setUid("u-db").setVolumeId(volumeId).setStorageClass("loopfs")))
                .build();
    }

    private VolumeSnapshotPolicies open(DesiredStateStore desired, Clock clock) {
        VolumeSnapshotPolicies policies = new VolumeSnapshotPolicies(volumes, desired, reports::add, tmp.resolve("volumes"), clock);
        policies.onFiring(firings::add);
        running.add(policies);
        return policies;
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

    private String publishedVolume() throws Exception {
        volumes.prepare(pod(claim()), "pod-a");
        return volumeReports.get(volumeReports.size() - 1).getStatus().getVolumeId();
    }

    private List<Instant> firedSlots() {
        return firings.stream().map(VolumeSnapshotPolicies.Firing::scheduled).toList();
    }

    @Test
    void firesAtItsSlotsPrunesSkipsStaleSlotsAndNeverFiresASlotTwiceAcrossARestart() throws Exception {
        String volumeId = publishedVolume();
        DesiredStateStore desired = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
        desired.applySnapshot(Snapshot.newBuilder().setRevision(3).addAssignments(pod(claim()))
                .addAssignments(policy("*/10 * * * * *", 2, false, volumeId)).build());
        assertEquals(1, desired.current().assignments().size(), "the policy is not a replica");
        assertEquals(1, desired.current().snapshotPolicies().size());

        SetClock clock = new SetClock(Instant.parse("2026-03-01T10:00:30Z"));
        VolumeSnapshotPolicies policies = open(desired, clock);
        // First seen at 10:00:30: nothing is due; it wakes for 10:00:40.
        Duration wait = policies.passOnce();
        assertEquals(Duration.ofSeconds(10), wait);
        assertTrue(firings.isEmpty());

        clock.now = Instant.parse("2026-03-01T10:00:40.200Z");
        policies.passOnce();
        assertEquals(List.of(Instant.parse("2026-03-01T10:00:40Z")), firedSlots());
        VolumeSnapshotReport first = reports.get(reports.size() - 1);
        assertEquals(PolicySnapshots.name("often", "db", Instant.parse("2026-03-01T10:00:40Z")), first.getName());
        assertEquals("often-db-20260301100040", first.getName());
        assertEquals(PolicySnapshots.uid("p-uid", "db", Instant.parse("2026-03-01T10:00:40Z")), first.getUid());
        assertTrue(first.getReadyToUse());
        assertEquals("db", first.getPolicy().getVolume());
        assertEquals(1, snapshotsOnDriver());

        // Down from 10:00:45 to 10:01:15: 10:00:50 and 10:01:00 are older than one period (skipped),
        // 10:01:10 is the latest missed slot and its next (10:01:20) has not come: fired late, once.
        clock.now = Instant.parse("2026-03-01T10:01:15Z");
        policies.close();
        VolumeSnapshotPolicies restarted = open(DesiredStateStore.open(new JournalStore(tmp.resolve("journal"))), clock);
        restarted.passOnce();
        assertEquals(List.of(Instant.parse("2026-03-01T10:00:40Z"), Instant.parse("2026-03-01T10:01:10Z")), firedSlots());

        // Another restart at the same moment: 10:01:10 was taken, nothing fires again.
        restarted.close();
        VolumeSnapshotPolicies again = open(DesiredStateStore.open(new JournalStore(tmp.resolve("journal"))), clock);
        again.passOnce();
        assertEquals(2, firings.size(), "a slot already taken is not fired after a restart");

        // A third firing: keep_count 2 prunes the oldest on the node, reported deleted.
        clock.now = Instant.parse("2026-03-01T10:01:20.100Z");
        again.passOnce();
        assertEquals(3, firings.size());
        assertEquals(2, again.held().size());
        assertEquals(2, snapshotsOnDriver());
        assertTrue(reports.stream().anyMatch(r -> r.getDeleted() && r.getName().equals("often-db-20260301100040")),
                "the pruned snapshot is reported deleted");
        assertEquals(new HashSet<>(firedSlots()).size(), firings.size(), "no slot fired twice");

        // Suspended: its slots pass untaken (and are not made up when resumed).
        desired = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
        desired.applySnapshot(Snapshot.newBuilder().setRevision(4).addAssignments(pod(claim()))
                .addAssignments(policy("*/10 * * * * *", 2, true, volumeId)).build());
        VolumeSnapshotPolicies suspended = open(desired, clock);
        clock.now = Instant.parse("2026-03-01T10:01:30.100Z");
        suspended.passOnce();
        assertEquals(3, firings.size(), "suspended: nothing taken");

        // Everything in the ledger is reported again when a new instance starts (the agent restarted offline).
        reports.clear();
        suspended.close();
        VolumeSnapshotPolicies reported = open(desired, clock);
        reported.start();
        reported.close();
        assertEquals(2, reports.stream().filter(r -> !r.getDeleted()).count());
        assertTrue(reports.stream().anyMatch(VolumeSnapshotReport::getDeleted));

        // The policy gone from a complete desired state: its snapshots are deleted on the node and reported.
        desired.applySnapshot(Snapshot.newBuilder().setRevision(5).addAssignments(pod(claim())).build());
        VolumeSnapshotPolicies released = open(desired, clock);
        released.passOnce();
        assertEquals(0, snapshotsOnDriver());
        assertTrue(released.held().isEmpty());
        assertEquals(3, reports.stream().filter(VolumeSnapshotReport::getDeleted).map(VolumeSnapshotReport::getName).distinct().count());
    }

    @Test
    void theSchedulerThreadFiresOnTime() throws Exception {
        String volumeId = publishedVolume();
        DesiredStateStore desired = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
        desired.applySnapshot(Snapshot.newBuilder().setRevision(3).addAssignments(pod(claim()))
                .addAssignments(policy("*/2 * * * * *", 2, false, volumeId)).build());
        VolumeSnapshotPolicies policies = open(desired, Clock.systemUTC());
        policies.start();
        Await.until(WAIT, "three firings", () -> firings.size() >= 3);
        for (VolumeSnapshotPolicies.Firing f : firings) {
            assertFalse(f.taken().isBefore(f.scheduled()), "never early: " + f);
            assertEquals(0, f.scheduled().getEpochSecond() % 2, "on the schedule's slots: " + f);
        }
        Await.until(WAIT, "pruned to keep_count", () -> policies.held().size() <= 2 && firings.size() >= 4);
    }
}
