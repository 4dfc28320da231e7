package dev.edgeplane.agent.volumes;

import dev.edgeplane.agent.Await;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.journal.JournalStore;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.PolicyVolume;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.api.v1.VolumeClaim;
import dev.edgeplane.api.v1.VolumeReport;
import dev.edgeplane.api.v1.VolumeSnapshotPolicyTask;
import dev.edgeplane.storage.StorageDriverConfig;
import dev.edgeplane.testkit.HostStorage;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Firing jitter of a snapshot policy on the node: a policy firing every second ("* * * * * *") over a
 * published ext4 volume on a real loop device, through the in-process CSI driver; jitter is the time the
 * node started taking the snapshot minus its scheduled slot, and the time it held it (the CSI CreateSnapshot
 * of a mounted volume included), p50 and p99 over N firings (-Dpolicy.firings, default 60). Run by deploy/bench.sh snapshot-policy.
 */
class SnapshotPolicyBench {
    @TempDir Path tmp;

    private static long percentile(long[] sorted, double p) {
        return sorted[(int) Math.ceil(p * sorted.length) - 1];
    }

    @Test
    void firingJitter() throws Exception {
        int n = Integer.getInteger("policy.firings", 60);
        PodVolumes volumes = StorageDrivers.inProcess(tmp.resolve("volumes"), StorageDriverConfig.of(tmp.resolve("csi"), "node-1"));
        List<VolumeReport> volumeReports = new CopyOnWriteArrayList<>();
        volumes.onVolumeReport(volumeReports::add);
        List<VolumeSnapshotPolicies.Firing> firings = new CopyOnWriteArrayList<>();
        VolumeSnapshotPolicies policies = null;
        try {
            VolumeClaim claim = VolumeClaim.newBuilder().setName("db").setUid("u-db").setSizeBytes(32L << 20)
                    .putParameters("backend", "loopfs").putParameters("fsType", "ext4").setDeleteOnRelease(true).build();
            Assignment pod = Assignment.newBuilder().setNamespace("default").setReplica("db-0").setApp("db")
                    .setTemplate(PodTemplate.newBuilder().addVolumes(PodVolume.newBuilder().setName("data").setVolume("db")))
                    .putVolumes("db", claim).build();
            volumes.prepare(pod, "pod-a");
            String volumeId = volumeReports.get(volumeReports.size() - 1).getStatus().getVolumeId();
            DesiredStateStore desired = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
            desired.applySnapshot(Snapshot.newBuilder().setRevision(1).addAssignments(pod)
                    .addAssignments(Assignment.newBuilder().setNode("node-1").setNamespace("default").setReplica("snapshotpolicy.bench")
                            .setVolumeSnapshotPolicy(VolumeSnapshotPolicyTask.newBuilder().setName("bench").setUid("p-bench")
                                    .setSchedule("* * * * * *").setKeepCount(5)
                                    .addVolumes(PolicyVolume.newBuilder().setName("db").setUid("u-db").setVolumeId(volumeId))))
                    .build());
            policies = new VolumeSnapshotPolicies(volumes, desired, r -> { }, tmp.resolve("volumes"), Clock.systemUTC());
            policies.onFiring(firings::add);
            policies.start();
            Await.until(Duration.ofSeconds(n * 3L + 60), n + " firings", () -> firings.size() >= n);
        } finally {
            if (policies != null) {
                policies.close();
            }
            volumes.podRemoved("pod-a", true);
            volumes.close();
            HostStorage.releaseUnder(tmp);
        }
        long[] started = firings.stream().limit(n).mapToLong(f -> Duration.between(f.scheduled(), f.started()).toMillis()).sorted().toArray();
        long[] taken = firings.stream().limit(n).mapToLong(f -> Duration.between(f.scheduled(), f.taken()).toMillis()).sorted().toArray();
        System.out.println("BENCH storage policy_jitter_ms=p50:" + percentile(started, 0.50) + ",p99:" + percentile(started, 0.99)
                + ",max:" + started[started.length - 1] + " firings=" + started.length
                + " (CSI CreateSnapshot called minus scheduled slot; every 1 s, ext4 loop volume)");
        System.out.println("BENCH storage policy_taken_ms=p50:" + percentile(taken, 0.50) + ",p99:" + percentile(taken, 0.99)
                + ",max:" + taken[taken.length - 1] + " (snapshot held minus scheduled slot: the CSI snapshot of a mounted 32 MiB volume included)");
    }
}
