package dev.edgeplane.controlplane.volumes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.PolicySnapshots;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.CreateVolumeRequest;
import dev.edgeplane.api.v1.CreateVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.DeleteVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.DeleteVolumeSnapshotRequest;
import dev.edgeplane.api.v1.GetVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PolicySnapshotOrigin;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeServiceGrpc;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotPolicy;
import dev.edgeplane.api.v1.VolumeSnapshotPolicyServiceGrpc;
import dev.edgeplane.api.v1.VolumeSnapshotPolicySpec;
import dev.edgeplane.api.v1.VolumeSnapshotReport;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A VolumeSnapshotPolicy through the control plane against real etcd: it reaches the node holding a
 * selected, created volume as a snapshotpolicy entry of that node's desired state (and leaves it when
 * the volume is no longer selected, or the policy is deleted); the node's policy snapshot reports are
 * filed as VolumeSnapshots (labelled, idempotent, only from the volume's node, only under derived
 * names), refused to DeleteVolumeSnapshot while the policy exists, and removed when reported pruned.
 */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class SnapshotPolicyFlowTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final String NS = "policy-flow";
    private static final String NODE = "edge-p";
    @Inject
    EtcdStore store;
    @Inject
    VolumeReports reports;
    private TestApi api;
    private VolumeServiceGrpc.VolumeServiceBlockingStub volumes;
    private VolumeSnapshotPolicyServiceGrpc.VolumeSnapshotPolicyServiceBlockingStub policies;

    @BeforeEach
    void connect() {
        api = new TestApi();
        volumes = api.withToken(VolumeServiceGrpc.newBlockingStub(api.channel), api.adminToken);
        policies = api.withToken(VolumeSnapshotPolicyServiceGrpc.newBlockingStub(api.channel), api.adminToken);
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    private Optional<Assignment> entry() {
        return store.get(SnapshotPolicyTasks.key(NODE, NS, "often"), Assignment.parser()).map(e -> e.value());
    }

    /** As the scheduler and the node's report leave it (bound, published on NODE), with the label tier={@code tier}. */
    private void bound(String tier) {
        String key = Keys.volume(NS, "pg");
        var current = store.get(key, Volume.parser()).orElseThrow();
        Volume next = current.value().toBuilder().setMetadata(current.value().getMetadata().toBuilder().putLabels("tier", tier))
                .setStatus(current.value().getStatus().toBuilder().setNode(NODE).setPhase(VolumeStatus.Phase.BOUND)
                        .setNodeStatus(VolumeNodeStatus.newBuilder().setState(VolumeNodeStatus.State.PUBLISHED).setVolumeId("vol-pg")))
                .build();
        assertTrue(store.update(key, next.toByteArray(), current.modRevision()).isPresent());
    }

    private static VolumeSnapshotReport report(String policyUid, Instant slot, boolean deleted) {
        return VolumeSnapshotReport.newBuilder().setNamespace(NS).setName(PolicySnapshots.name("often", "pg", slot))
                .setUid(PolicySnapshots.uid(policyUid, "pg", slot)).setReadyToUse(!deleted).setSnapshotId("snap-" + slot.getEpochSecond())
                .setSizeBytes(32L << 20).setDeleted(deleted)
                .setPolicy(PolicySnapshotOrigin.newBuilder().setPolicy("often").setPolicyUid(policyUid).setVolume("pg")
                        .setScheduledTime(Timestamp.newBuilder().setSeconds(slot.getEpochSecond())).setStorageClass("loopfs"))
                .build();
    }

    private Optional<VolumeSnapshot> snapshot(Instant slot) {
        return store.get(Keys.volumeSnapshot(NS, PolicySnapshots.name("often", "pg", slot)), VolumeSnapshot.parser()).map(e -> e.value());
    }

    @Test
    void policyReachesTheVolumesNodeAndItsReportsBecomeVolumeSnapshots() {
        volumes.createVolume(CreateVolumeRequest.newBuilder().setVolume(Volume.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(NS).setName("pg").putLabels("tier", "db"))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(32L << 20))).build());
        VolumeSnapshotPolicy created = policies.createVolumeSnapshotPolicy(CreateVolumeSnapshotPolicyRequest.newBuilder()
                .setPolicy(VolumeSnapshotPolicy.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace(NS).setName("often"))
                        .setSpec(VolumeSnapshotPolicySpec.newBuilder().setSchedule("*/5 * * * * *").setKeepCount(2)
                                .putVolumeSelector("tier", "db"))).build());
        String policyUid = created.getMetadata().getUid();
        assertTrue(entry().isEmpty(), "a volume on no node: no entry");

        // Bound and created on a node: that node gets the policy with its volume.
        bound("db");
        TestApi.await("the node's entry", WAIT, () -> entry().isPresent());
        Assignment task = entry().orElseThrow();
        assertEquals("snapshotpolicy.often", task.getReplica());
        assertEquals(policyUid, task.getVolumeSnapshotPolicy().getUid());
        assertEquals("*/5 * * * * *", task.getVolumeSnapshotPolicy().getSchedule());
        assertEquals(1, task.getVolumeSnapshotPolicy().getVolumesCount());
        assertEquals("vol-pg", task.getVolumeSnapshotPolicy().getVolumes(0).getVolumeId());

        // The node reports a firing: filed once, labelled, ready; repeated (a reconnect): nothing written.
        Instant slot = Instant.parse("2026-03-01T10:00:05Z");
        reports.apply(NODE, StatusReport.newBuilder().addSnapshots(report(policyUid, slot, false)).build());
        VolumeSnapshot filed = snapshot(slot).orElseThrow();
        assertEquals("often", filed.getSpec().getPolicy());
        assertEquals("pg", filed.getSpec().getVolume());
        assertEquals("often", filed.getMetadata().getLabelsMap().get(PolicySnapshots.POLICY_LABEL));
        assertEquals("pg", filed.getMetadata().getLabelsMap().get(PolicySnapshots.VOLUME_LABEL));
        assertTrue(filed.getStatus().getReadyToUse());
        assertEquals(NODE, filed.getStatus().getNode());
        assertEquals(slot.getEpochSecond(), filed.getStatus().getScheduledTime().getSeconds());
        long revision = store.get(Keys.volumeSnapshot(NS, filed.getMetadata().getName())).orElseThrow().modRevision();
        reports.apply(NODE, StatusReport.newBuilder().addSnapshots(report(policyUid, slot, false)).build());
        assertEquals(revision, store.get(Keys.volumeSnapshot(NS, filed.getMetadata().getName())).orElseThrow().modRevision(),
                "a repeated report writes nothing");

        // Only the volume's node files snapshots of it; a name not derived from policy, volume and slot is ignored.
        Instant other = slot.plusSeconds(5);
        reports.apply("edge-other", StatusReport.newBuilder().addSnapshots(report(policyUid, other, false)).build());
        assertTrue(snapshot(other).isEmpty());
        reports.apply(NODE, StatusReport.newBuilder().addSnapshots(report(policyUid, other, false).toBuilder().setName("made-up")).build());
        assertNull(api.etcdGet(Keys.volumeSnapshot(NS, "made-up")));

        assertEquals(1, policies.getVolumeSnapshotPolicy(GetVolumeSnapshotPolicyRequest.newBuilder().setNamespace(NS).setName("often")
                .build()).getStatus().getSnapshots());
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> volumes.deleteVolumeSnapshot(
                DeleteVolumeSnapshotRequest.newBuilder().setNamespace(NS).setName(filed.getMetadata().getName()).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
        assertTrue(refused.getStatus().getDescription().contains("policy"), refused.getStatus().getDescription());

        // Pruned on the node: the resource goes.
        reports.apply(NODE, StatusReport.newBuilder().addSnapshots(report(policyUid, slot, true)).build());
        assertTrue(snapshot(slot).isEmpty(), "pruned on the node, removed here");

        // No longer selected: the node's entry goes; selected again, back; the policy deleted: gone.
        bound("web");
        TestApi.await("the entry removed", WAIT, () -> entry().isEmpty());
        bound("db");
        TestApi.await("the entry back", WAIT, () -> entry().isPresent());
        policies.deleteVolumeSnapshotPolicy(DeleteVolumeSnapshotPolicyRequest.newBuilder().setNamespace(NS).setName("often").build());
        TestApi.await("the entry removed with the policy", WAIT, () -> entry().isEmpty());
    }
}
