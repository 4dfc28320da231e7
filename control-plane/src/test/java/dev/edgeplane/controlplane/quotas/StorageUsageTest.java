package dev.edgeplane.controlplane.quotas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Quota;
import dev.edgeplane.api.v1.QuotaAmounts;
import dev.edgeplane.api.v1.QuotaSpec;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotPolicy;
import dev.edgeplane.api.v1.VolumeSnapshotPolicySpec;
import dev.edgeplane.api.v1.VolumeSnapshotSpec;
import dev.edgeplane.api.v1.VolumeSpec;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What a storage quota counts: bytes and volumes; hand snapshots plus each policy's reservation (keep_count x selected volumes). */
class StorageUsageTest {
    private static Volume volume(String name, long size, String tier) {
        return Volume.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).putLabels("tier", tier))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(size)).build();
    }

    private static VolumeSnapshot snapshot(String name, String policy) {
        return VolumeSnapshot.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(VolumeSnapshotSpec.newBuilder().setVolume("a").setPolicy(policy)).build();
    }

    private static VolumeSnapshotPolicy policy(String name, int keep, Map<String, String> selector) {
        return VolumeSnapshotPolicy.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(VolumeSnapshotPolicySpec.newBuilder().setKeepCount(keep).putAllVolumeSelector(selector)).build();
    }

    @Test
    void policiesReserveKeepCountPerSelectedVolumeAndOrphansCountThemselves() {
        NamespaceStorage s = NamespaceStorage.EMPTY.withVolume(volume("a", 100, "db")).withVolume(volume("b", 50, "db"))
                .withVolume(volume("c", 10, "web"))
                .withSnapshot(snapshot("by-hand", ""))
                .withSnapshot(snapshot("nightly-a-1", "nightly")) // counted by its policy's reservation
                .withSnapshot(snapshot("old-a-1", "old"))          // its policy is gone: counts itself
                .withPolicy(policy("nightly", 3, Map.of("tier", "db")))
                .withPolicy(policy("all", 1, Map.of()));
        assertEquals(new StorageUsage(160, 3, 1 + 1 + 3 * 2 + 1 * 3), s.usage());
    }

    @Test
    void onlyGrowthOverALimitIsRefused() {
        Quota quota = Quota.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace("ns").setName("q"))
                .setSpec(QuotaSpec.newBuilder().setHard(QuotaAmounts.newBuilder().setStorageBytes(100).setVolumeSnapshots(2))).build();
        assertEquals("storage_bytes 150 would exceed the limit 100",
                StorageUsage.exceeded(quota, new StorageUsage(90, 1, 0), new StorageUsage(150, 2, 0)).orElseThrow());
        assertTrue(StorageUsage.exceeded(quota, new StorageUsage(150, 2, 5), new StorageUsage(150, 2, 5)).isEmpty(),
                "over a lowered limit, a write that grows nothing passes");
        assertTrue(StorageUsage.exceeded(quota, new StorageUsage(0, 0, 1), new StorageUsage(0, 0, 3)).orElseThrow()
                .startsWith("volume_snapshots 3 would exceed the limit 2"));
        assertTrue(StorageUsage.limits(quota));
    }
}
