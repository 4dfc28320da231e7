package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.PolicySnapshots;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateVolumeRequest;
import dev.edgeplane.api.v1.CreateVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.DeleteVolumeSnapshotRequest;
import dev.edgeplane.api.v1.GetVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.ListVolumeSnapshotsRequest;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PolicySnapshotLedger;
import dev.edgeplane.api.v1.UpdateVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotPolicy;
import dev.edgeplane.api.v1.VolumeSnapshotPolicySpec;
import dev.edgeplane.api.v1.VolumeSnapshotReport;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.testkit.HostStorage;
import io.grpc.Status;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A VolumeSnapshotPolicy through the whole platform, on a real loop device: the policy reaches the
 * node holding the selected volume; the control plane is stopped; the NODE keeps firing on schedule
 * and prunes under keep_count (the snapshots it took before the outage included); once the control
 * plane is back, the snapshots taken offline appear as VolumeSnapshot resources (labelled with the
 * policy, ready_to_use, with their scheduled time) and those pruned offline are gone; an agent restart
 * re-reports everything and creates nothing twice. The schedule uses the optional sixth (seconds)
 * field of the cron syntax, "*&#47;4 * * * * *": a real, documented schedule, just a fast one.
 */
class SnapshotPolicyE2ETest {
    static final Duration CONVERGE = EdgeCluster.CONVERGE;
    static final String NODE = "edge-policy";
    /**
     * Firings every 4 s: the node keeps the last KEEP x 4 s. That window must outlast the agent's
     * reconnect after the control plane returns (its start-up may ask agents to retry in ~25 s), or the
     * snapshots taken offline are pruned before they can be reported and filed (seen in CI with 5).
     */
    static final int KEEP = 12;

    @TempDir static Path dir;
    static EdgeCluster cluster;

    @BeforeAll
    static void startEverything() throws Exception {
        cluster = EdgeCluster.start(dir, NODE, List.of("--backoff-initial", "1s", "--backoff-max", "2s", "--sync-period", "2s"));
    }

    @AfterAll
    static void stopEverything() throws Exception {
        try {
            if (cluster != null) {
                cluster.close();
            }
        } finally {
            HostStorage.releaseUnder(dir);
        }
    }

    /** The agent's own record of its policy snapshots (what it took and pruned), read from its disk. */
    static PolicySnapshotLedger ledger() {
        Path file = cluster.host.stateDir().resolve("volumes/policy-snapshots.pb");
        if (!Files.exists(file)) {
            return PolicySnapshotLedger.getDefaultInstance();
        }
        try (InputStream in = Files.newInputStream(file)) {
            return PolicySnapshotLedger.parseFrom(in);
        } catch (IOException e) {
            return PolicySnapshotLedger.getDefaultInstance(); // being replaced: read again
        }
    }

    static Instant slot(VolumeSnapshotReport r) {
        return Instant.ofEpochSecond(r.getPolicy().getScheduledTime().getSeconds());
    }

    static Set<String> liveOnNode(PolicySnapshotLedger ledger) {
        return ledger.getSnapshotsList().stream().filter(r -> !r.getDeleted()).map(VolumeSnapshotReport::getName)
                .collect(Collectors.toCollection(TreeSet::new));
    }

    static List<VolumeSnapshot> policySnapshots() {
        return cluster.cloud.volumes().listVolumeSnapshots(ListVolumeSnapshotsRequest.getDefaultInstance()).getSnapshotsList().stream()
                .filter(s -> "often".equals(s.getMetadata().getLabelsMap().get(PolicySnapshots.POLICY_LABEL))).toList();
    }

    static Set<String> names(List<VolumeSnapshot> snapshots) {
        return snapshots.stream().map(s -> s.getMetadata().getName()).collect(Collectors.toCollection(TreeSet::new));
    }

    @Test
    void policyFiresOnTheNodeWhileTheControlPlaneIsDownAndItsSnapshotsAppearAfter() throws Exception {
        Path out = Files.createDirectories(dir.resolve("out"));
        cluster.cloud.volumes().createVolume(CreateVolumeRequest.newBuilder().setVolume(Volume.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("db").putLabels("tier", "db"))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(32L << 20).setReclaimPolicy(VolumeSpec.ReclaimPolicy.DELETE))).build());
        String writer = "echo $VERSION > /data/value && sync && cp /data/value /out/writer; sleep 3600";
        cluster.cloud.apps().createApp(CreateAppRequest.newBuilder()
                .setApp(VolumeSnapshotE2ETest.app("db", "db", out, writer, "v1", cluster.image)).build());
        Await.until("the volume is published on the node", CONVERGE, cluster::diagnostics,
                () -> cluster.cloud.volumes().getVolume(dev.edgeplane.api.v1.GetVolumeRequest.newBuilder().setName("db").build())
                        .getStatus().getNodeStatus().getState() == VolumeNodeStatus.State.PUBLISHED);

        cluster.cloud.snapshotPolicies().createVolumeSnapshotPolicy(CreateVolumeSnapshotPolicyRequest.newBuilder()
                .setPolicy(VolumeSnapshotPolicy.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("often"))
                        .setSpec(VolumeSnapshotPolicySpec.newBuilder().setSchedule("*/4 * * * * *").setKeepCount(KEEP)
                                .putVolumeSelector("tier", "db"))).build());

        // Online: the first firing becomes a ready VolumeSnapshot labelled with the policy and the volume.
        Await.until("a policy snapshot is ready", CONVERGE, cluster::diagnostics,
                () -> policySnapshots().stream().anyMatch(s -> s.getStatus().getReadyToUse()));
        VolumeSnapshot online = policySnapshots().stream().filter(s -> s.getStatus().getReadyToUse()).findFirst().orElseThrow();
        assertEquals("often", online.getSpec().getPolicy());
        assertEquals("db", online.getSpec().getVolume());
        assertEquals("db", online.getMetadata().getLabelsMap().get(PolicySnapshots.VOLUME_LABEL));
        assertEquals(NODE, online.getStatus().getNode());
        assertTrue(online.getStatus().hasScheduledTime());
        assertEquals(0, online.getStatus().getScheduledTime().getSeconds() % 4, "on a slot of the schedule");
        assertEquals(Status.Code.FAILED_PRECONDITION, VolumeSnapshotE2ETest.code(() -> cluster.cloud.volumes().deleteVolumeSnapshot(
                DeleteVolumeSnapshotRequest.newBuilder().setName(online.getMetadata().getName()).build())),
                "a policy's snapshot is pruned by its policy, not by hand");

        // Offline: the node keeps firing and pruning; the snapshot taken online is pruned while the cloud is down.
        cluster.killCloud();
        Instant down = Instant.now();
        // (Each firing is recorded before the oldest is pruned: for a moment the node holds keep_count + 1.)
        Await.until("the node took more than keep_count snapshots offline and pruned the online one", CONVERGE, cluster.host::logTail,
                () -> {
                    PolicySnapshotLedger l = ledger();
                    return l.getSnapshotsList().stream().filter(r -> slot(r).isAfter(down)).count() > KEEP
                            && liveOnNode(l).size() == KEEP
                            && l.getSnapshotsList().stream().anyMatch(r -> r.getDeleted() && r.getName().equals(online.getMetadata().getName()));
                });
        Instant up = Instant.now();
        cluster.startCloud();
        cluster.awaitPhase(NodeStatus.Phase.READY);

        // Stop the firing so the two sides can be compared at rest.
        VolumeSnapshotPolicy policy = cluster.cloud.snapshotPolicies().getVolumeSnapshotPolicy(
                GetVolumeSnapshotPolicyRequest.newBuilder().setName("often").build());
        cluster.cloud.snapshotPolicies().updateVolumeSnapshotPolicy(UpdateVolumeSnapshotPolicyRequest.newBuilder()
                .setPolicy(policy.toBuilder().setSpec(policy.getSpec().toBuilder().setSuspend(true))).build());
        Await.until("the VolumeSnapshots are exactly the snapshots on the node", CONVERGE, cluster::diagnostics, () -> {
            PolicySnapshotLedger now = ledger();
            sleep(Duration.ofMillis(4_500)); // a whole period: a firing in between shows as a change
            return now.getSnapshotsList().equals(ledger().getSnapshotsList()) && names(policySnapshots()).equals(liveOnNode(now));
        });
        PolicySnapshotLedger atRest = ledger();
        List<VolumeSnapshot> filed = policySnapshots();
        assertFalse(names(filed).contains(online.getMetadata().getName()), "pruned offline: its resource is gone");
        assertTrue(filed.stream().anyMatch(s -> {
            Instant slot = Instant.ofEpochSecond(s.getStatus().getScheduledTime().getSeconds());
            return slot.isAfter(down) && slot.isBefore(up);
        }), "a snapshot taken while the control plane was down is a VolumeSnapshot now: " + names(filed));
        for (VolumeSnapshot s : filed) {
            assertTrue(s.getStatus().getReadyToUse(), s.toString());
            assertEquals("often", s.getSpec().getPolicy());
            assertFalse(s.getStatus().getSnapshotId().isEmpty());
        }

        // An agent restart re-reports its whole ledger: nothing is created twice, nothing comes back.
        cluster.host.stopAgent();
        cluster.host.start();
        cluster.awaitPhase(NodeStatus.Phase.READY);
        sleep(Duration.ofSeconds(5)); // the re-reports land (nothing to wait for: the point is that nothing changes)
        assertEquals(names(filed), names(policySnapshots()));
        assertEquals(liveOnNode(atRest), liveOnNode(ledger()), "suspended: nothing fired after the restart");
    }

    static void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
