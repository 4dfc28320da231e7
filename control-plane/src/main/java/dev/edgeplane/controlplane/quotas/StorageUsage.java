package dev.edgeplane.controlplane.quotas;

import dev.edgeplane.api.v1.Quota;
import dev.edgeplane.api.v1.QuotaAmounts;
import java.util.Optional;

/** The storage amounts of a namespace a quota limits ({@link NamespaceStorage#usage}). Sums saturate. */
public record StorageUsage(long storageBytes, long volumes, long volumeSnapshots) {
    public static final StorageUsage NONE = new StorageUsage(0, 0, 0);

    /** {@code amounts} with these set. */
    public QuotaAmounts.Builder into(QuotaAmounts.Builder amounts) {
        return amounts.setStorageBytes(storageBytes).setVolumes(volumes).setVolumeSnapshots(volumeSnapshots);
    }

    /** True when the quota limits any storage amount. */
    public static boolean limits(Quota quota) {
        QuotaAmounts hard = quota.getSpec().getHard();
        return hard.hasStorageBytes() || hard.hasVolumes() || hard.hasVolumeSnapshots();
    }

    /**
     * The first amount the write takes over the quota, as "storage_bytes 2000 would exceed the limit 1000";
     * empty when none. Only growth is refused (as {@link QuotaCheck#exceeded}).
     */
    public static Optional<String> exceeded(Quota quota, StorageUsage before, StorageUsage after) {
        QuotaAmounts hard = quota.getSpec().getHard();
        if (hard.hasStorageBytes() && after.storageBytes > hard.getStorageBytes() && after.storageBytes > before.storageBytes) {
            return Optional.of("storage_bytes " + after.storageBytes + " would exceed the limit " + hard.getStorageBytes());
        }
        if (hard.hasVolumes() && after.volumes > hard.getVolumes() && after.volumes > before.volumes) {
            return Optional.of("volumes " + after.volumes + " would exceed the limit " + hard.getVolumes());
        }
        if (hard.hasVolumeSnapshots() && after.volumeSnapshots > hard.getVolumeSnapshots()
                && after.volumeSnapshots > before.volumeSnapshots) {
            return Optional.of("volume_snapshots " + after.volumeSnapshots + " would exceed the limit " + hard.getVolumeSnapshots()
                    + " (a snapshot policy counts keep_count per volume it selects)");
        }
        return Optional.empty();
    }

    static long add(long a, long b) {
        long sum = a + b;
        return ((a ^ sum) & (b ^ sum)) < 0 ? Long.MAX_VALUE : sum;
    }
}
