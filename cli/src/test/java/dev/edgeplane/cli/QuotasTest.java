package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Quota;
import dev.edgeplane.api.v1.QuotaAmounts;
import dev.edgeplane.api.v1.QuotaSpec;
import dev.edgeplane.api.v1.QuotaStatus;
import java.io.StringReader;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Quota manifests and the table of `edgectl get quotas`. */
class QuotasTest {
    @Test
    void manifestReadsAQuotaInTheApiMappingAndLeavesUnsetLimitsUnset() {
        List<Manifests.Manifest> read = Manifests.read(new StringReader("""
                kind: Quota
                metadata: {name: team-a, namespace: shop}
                spec:
                  hard: {apps: "10", replicas: "100", memoryBytes: "8589934592"}
                """), "test");
        Quota quota = assertInstanceOf(Manifests.QuotaManifest.class, read.get(0)).quota();
        assertEquals("shop", quota.getMetadata().getNamespace());
        assertEquals(10, quota.getSpec().getHard().getApps());
        assertEquals(100, quota.getSpec().getHard().getReplicas());
        assertEquals(8L << 30, quota.getSpec().getHard().getMemoryBytes());
        assertFalse(quota.getSpec().getHard().hasCpuMillis(), "cpu is not limited");
        assertEquals(ResourceKind.QUOTA, ResourceKind.parse("quotas"));
    }

    @Test
    void rowsShowUsedOverHard() {
        Quota q = Quota.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace("shop").setName("team-a"))
                .setSpec(QuotaSpec.newBuilder().setHard(QuotaAmounts.newBuilder().setApps(10).setReplicas(100).setCpuMillis(4000)))
                .setStatus(QuotaStatus.newBuilder().setUsed(QuotaAmounts.newBuilder().setApps(2).setReplicas(7).setCpuMillis(1500)
                        .setMemoryBytes(512L << 20)))
                .build();
        assertEquals(List.of("shop", "team-a", "2/10", "7/100", "1500m/4000m", "512Mi/-"), Quotas.row(q).subList(0, 6));
    }
}
