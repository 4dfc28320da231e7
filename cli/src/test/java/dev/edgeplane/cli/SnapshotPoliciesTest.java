package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Quota;
import dev.edgeplane.api.v1.QuotaAmounts;
import dev.edgeplane.api.v1.QuotaSpec;
import dev.edgeplane.api.v1.QuotaStatus;
import dev.edgeplane.api.v1.VolumeSnapshotPolicy;
import dev.edgeplane.api.v1.VolumeSnapshotPolicyStatus;
import java.io.PrintWriter;
import java.io.StringReader;
import java.io.StringWriter;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** VolumeSnapshotPolicy manifests, table and describe view; the storage columns of `edgectl get quotas`. */
class SnapshotPoliciesTest {
    @Test
    void manifestTableAndDescribe() {
        List<Manifests.Manifest> read = Manifests.read(new StringReader("""
                kind: VolumeSnapshotPolicy
                metadata: {name: nightly, namespace: shop}
                spec: {schedule: "30 2 * * *", timeZone: Europe/Berlin, keepCount: 7, volumeSelector: {tier: db}}
                """), "test");
        VolumeSnapshotPolicy policy = assertInstanceOf(Manifests.VolumeSnapshotPolicyManifest.class, read.get(0)).policy();
        assertEquals("30 2 * * *", policy.getSpec().getSchedule());
        assertEquals(7, policy.getSpec().getKeepCount());
        assertEquals("db", policy.getSpec().getVolumeSelectorMap().get("tier"));

        VolumeSnapshotPolicy shown = policy.toBuilder().setStatus(VolumeSnapshotPolicyStatus.newBuilder().addVolumes("db@edge-1")
                .setSnapshots(3).setLastScheduledTime("2026-03-01T01:30:00Z")).build();
        Instant now = Instant.parse("2026-03-01T12:00:00Z");
        assertEquals(List.of("shop", "nightly", "30 2 * * *", "Europe/Berlin", "7", "-", "false", "1", "3", "2026-03-01T01:30:00Z"),
                SnapshotPolicies.row(shown, now).subList(0, 10));
        StringWriter text = new StringWriter();
        SnapshotPolicies.describe(new PrintWriter(text, true), shown, now);
        assertTrue(text.toString().contains("Next slots:  2026-03-02T02:30+01:00"), text.toString());
        assertTrue(text.toString().contains("Volumes:     db@edge-1"), text.toString());
        assertEquals(ResourceKind.VOLUMESNAPSHOTPOLICY, ResourceKind.parse("vsp"));
        assertEquals(ResourceKind.VOLUMESNAPSHOTPOLICY, ResourceKind.parse("volumesnapshotpolicies"));
    }

    @Test
    void quotaRowsShowStorageUsedOverHard() {
        Quota q = Quota.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace("shop").setName("disk"))
                .setSpec(QuotaSpec.newBuilder().setHard(QuotaAmounts.newBuilder().setStorageBytes(1L << 30).setVolumes(4)))
                .setStatus(QuotaStatus.newBuilder().setUsed(QuotaAmounts.newBuilder().setStorageBytes(512L << 20).setVolumes(2)
                        .setVolumeSnapshots(6)))
                .build();
        assertEquals(List.of("512Mi/1Gi", "2/4", "6/-"), Quotas.row(q).subList(6, 9));
    }
}
