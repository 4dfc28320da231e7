package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.rpc.BadRequest;
import com.google.rpc.QuotaFailure;
import dev.edgeplane.api.v1.CreateQuotaRequest;
import dev.edgeplane.api.v1.CreateVolumeRequest;
import dev.edgeplane.api.v1.CreateVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.CreateVolumeSnapshotRequest;
import dev.edgeplane.api.v1.GetQuotaRequest;
import dev.edgeplane.api.v1.GetVolumeRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Quota;
import dev.edgeplane.api.v1.QuotaAmounts;
import dev.edgeplane.api.v1.QuotaServiceGrpc;
import dev.edgeplane.api.v1.QuotaSpec;
import dev.edgeplane.api.v1.UpdateVolumeRequest;
import dev.edgeplane.api.v1.UpdateVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeServiceGrpc;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotPolicy;
import dev.edgeplane.api.v1.VolumeSnapshotPolicyServiceGrpc;
import dev.edgeplane.api.v1.VolumeSnapshotPolicySpec;
import dev.edgeplane.api.v1.VolumeSnapshotSpec;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Storage quotas (storage_bytes, volumes, volume_snapshots) against real etcd: a Volume, a
 * VolumeSnapshot or a VolumeSnapshotPolicy over a limit is refused with RESOURCE_EXHAUSTED naming the
 * quota and the limit, and writes nothing; status.used shows the amounts. Also the policy API's
 * validation (the cron field at fault is named).
 */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class StorageQuotaApiTest {
    private static final long MIB = 1024 * 1024;
    @Inject
    EtcdStore store;
    private TestApi api;
    private VolumeServiceGrpc.VolumeServiceBlockingStub volumes;
    private VolumeSnapshotPolicyServiceGrpc.VolumeSnapshotPolicyServiceBlockingStub policies;
    private QuotaServiceGrpc.QuotaServiceBlockingStub quotas;

    @BeforeEach
    void connect() {
        api = new TestApi();
        volumes = api.withToken(VolumeServiceGrpc.newBlockingStub(api.channel), api.adminToken);
        policies = api.withToken(VolumeSnapshotPolicyServiceGrpc.newBlockingStub(api.channel), api.adminToken);
        quotas = api.withToken(QuotaServiceGrpc.newBlockingStub(api.channel), api.adminToken);
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    private Volume volume(String ns, String name, long size, String label) {
        return volumes.createVolume(CreateVolumeRequest.newBuilder().setVolume(Volume.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName(name).putLabels("tier", label))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(size))).build());
    }

    private static VolumeSnapshotPolicy policy(String ns, String name, String schedule, int keep) {
        return VolumeSnapshotPolicy.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName(name))
                .setSpec(VolumeSnapshotPolicySpec.newBuilder().setSchedule(schedule).setKeepCount(keep).putVolumeSelector("tier", "db"))
                .build();
    }

    private static void exhausted(Runnable call, String quota, String words) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().contains(quota + ": " + words), e.getStatus().getDescription());
        assertEquals(quota, AdmissionLimitsTest.detail(e, QuotaFailure.class).getViolations(0).getSubject());
    }

    /** As the scheduler and the node's report would leave it: bound to a node and created there. */
    private void bind(String ns, String name, String node) {
        String key = Keys.volume(ns, name);
        var entry = store.get(key, Volume.parser()).orElseThrow();
        Volume bound = entry.value().toBuilder().setStatus(entry.value().getStatus().toBuilder().setNode(node)
                .setPhase(VolumeStatus.Phase.BOUND).setNodeStatus(VolumeNodeStatus.newBuilder()
                        .setState(VolumeNodeStatus.State.CREATED).setVolumeId("vol-" + name))).build();
        assertTrue(store.update(key, bound.toByteArray(), entry.modRevision()).isPresent());
    }

    @Test
    void volumesAndSnapshotsOverTheQuotaAreRefusedNamingQuotaAndLimit() {
        String ns = "storage-quota";
        quotas.createQuota(CreateQuotaRequest.newBuilder().setQuota(Quota.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName("disk"))
                .setSpec(QuotaSpec.newBuilder().setHard(QuotaAmounts.newBuilder()
                        .setStorageBytes(120 * MIB).setVolumes(2).setVolumeSnapshots(5)))).build());

        volume(ns, "a", 64 * MIB, "db");
        exhausted(() -> volume(ns, "b", 64 * MIB, "db"), "quota storage-quota/disk",
                "storage_bytes " + 128 * MIB + " would exceed the limit " + 120 * MIB);
        assertNull(api.etcdGet(Keys.volume(ns, "b")), "a refused create writes nothing");
        volume(ns, "b", 32 * MIB, "db");
        exhausted(() -> volume(ns, "c", 16 * MIB, "web"), "quota storage-quota/disk", "volumes 3 would exceed the limit 2");
        assertNull(api.etcdGet(Keys.volume(ns, "c")));

        // A policy reserves keep_count per volume it selects: 3 x 2 = 6 > 5.
        exhausted(() -> policies.createVolumeSnapshotPolicy(CreateVolumeSnapshotPolicyRequest.newBuilder()
                        .setPolicy(policy(ns, "nightly", "0 2 * * *", 3)).build()),
                "quota storage-quota/disk", "volume_snapshots 6 would exceed the limit 5");
        assertNull(api.etcdGet(Keys.volumeSnapshotPolicy(ns, "nightly")));
        VolumeSnapshotPolicy created = policies.createVolumeSnapshotPolicy(CreateVolumeSnapshotPolicyRequest.newBuilder()
                .setPolicy(policy(ns, "nightly", "0 2 * * *", 2)).build());
        exhausted(() -> policies.updateVolumeSnapshotPolicy(UpdateVolumeSnapshotPolicyRequest.newBuilder().setPolicy(created.toBuilder()
                        .setSpec(created.getSpec().toBuilder().setKeepCount(3))).build()),
                "quota storage-quota/disk", "volume_snapshots 6 would exceed the limit 5");

        // 4 reserved by the policy: one snapshot by hand fits, the second does not.
        bind(ns, "a", "edge-1");
        volumes.createVolumeSnapshot(CreateVolumeSnapshotRequest.newBuilder().setSnapshot(VolumeSnapshot.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName("by-hand-1"))
                .setSpec(VolumeSnapshotSpec.newBuilder().setVolume("a"))).build());
        exhausted(() -> volumes.createVolumeSnapshot(CreateVolumeSnapshotRequest.newBuilder().setSnapshot(VolumeSnapshot.newBuilder()
                        .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName("by-hand-2"))
                        .setSpec(VolumeSnapshotSpec.newBuilder().setVolume("a"))).build()),
                "quota storage-quota/disk", "volume_snapshots 6 would exceed the limit 5");
        assertNull(api.etcdGet(Keys.volumeSnapshot(ns, "by-hand-2")));
        assertNull(api.etcdGet("/edgeplane/assignments/edge-1/" + ns + "/snapshot.by-hand-2"), "nor the node's order");

        QuotaAmounts used = quotas.getQuota(GetQuotaRequest.newBuilder().setNamespace(ns).setName("disk").build()).getStatus().getUsed();
        assertEquals(96 * MIB, used.getStorageBytes());
        assertEquals(2, used.getVolumes());
        assertEquals(5, used.getVolumeSnapshots());
    }

    @Test
    void growingAVolumeOverTheQuotaIsRefusedAndChangesNothing() {
        String ns = "storage-quota-growth";
        quotas.createQuota(CreateQuotaRequest.newBuilder().setQuota(Quota.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName("disk"))
                .setSpec(QuotaSpec.newBuilder().setHard(QuotaAmounts.newBuilder().setStorageBytes(120 * MIB)))).build());
        volume(ns, "a", 64 * MIB, "db");
        Volume b = volume(ns, "b", 32 * MIB, "db");

        exhausted(() -> volumes.updateVolume(UpdateVolumeRequest.newBuilder().setVolume(b.toBuilder()
                        .setSpec(b.getSpec().toBuilder().setSizeBytes(64 * MIB))).build()),
                "quota storage-quota-growth/disk", "storage_bytes " + 128 * MIB + " would exceed the limit " + 120 * MIB);
        Volume kept = volumes.getVolume(GetVolumeRequest.newBuilder().setNamespace(ns).setName("b").build());
        assertEquals(32 * MIB, kept.getSpec().getSizeBytes(), "a refused growth changes nothing");
        assertEquals(b.getMetadata().getResourceVersion(), kept.getMetadata().getResourceVersion());

        Volume grown = volumes.updateVolume(UpdateVolumeRequest.newBuilder().setVolume(kept.toBuilder()
                .setSpec(kept.getSpec().toBuilder().setSizeBytes(56 * MIB))).build());
        assertEquals(56 * MIB, grown.getSpec().getSizeBytes(), "up to the limit exactly");
        assertEquals(120 * MIB, quotas.getQuota(GetQuotaRequest.newBuilder().setNamespace(ns).setName("disk").build())
                .getStatus().getUsed().getStorageBytes());
    }

    @Test
    void aBadScheduleNamesTheCronFieldAndPart() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> policies.createVolumeSnapshotPolicy(
                CreateVolumeSnapshotPolicyRequest.newBuilder().setPolicy(policy("policy-bad", "p", "61 * * * *", 1)).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        BadRequest.FieldViolation v = AdmissionLimitsTest.detail(e, BadRequest.class).getFieldViolations(0);
        assertEquals("policy.spec.schedule", v.getField());
        assertTrue(v.getDescription().contains("minute field part \"61\""), v.getDescription());

        VolumeSnapshotPolicy zoned = policy("policy-bad", "p", "0 2 * * *", 1);
        e = assertThrows(StatusRuntimeException.class, () -> policies.createVolumeSnapshotPolicy(CreateVolumeSnapshotPolicyRequest
                .newBuilder().setPolicy(zoned.toBuilder().setSpec(zoned.getSpec().toBuilder().setTimeZone("Mars/Olympus"))).build()));
        assertEquals("policy.spec.time_zone", AdmissionLimitsTest.detail(e, BadRequest.class).getFieldViolations(0).getField());

        e = assertThrows(StatusRuntimeException.class, () -> policies.createVolumeSnapshotPolicy(
                CreateVolumeSnapshotPolicyRequest.newBuilder().setPolicy(policy("policy-bad", "p", "@daily", 0)).build()));
        assertEquals("policy.spec.keep_count", AdmissionLimitsTest.detail(e, BadRequest.class).getFieldViolations(0).getField());
        assertNull(api.etcdGet(Keys.volumeSnapshotPolicy("policy-bad", "p")));
    }
}
