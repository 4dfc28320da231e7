package dev.edgeplane.controlplane.volumes;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.PolicyVolume;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeSnapshotPolicy;
import dev.edgeplane.api.v1.VolumeSnapshotPolicyTask;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.controlplane.quotas.NamespaceStorage;
import dev.edgeplane.controlplane.store.Keys;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * A VolumeSnapshotPolicy reaches each node holding a volume it selects as one entry of that node's
 * desired state: an Assignment carrying a {@link VolumeSnapshotPolicyTask} (the spec and the node's
 * selected volumes) at /edgeplane/assignments/&lt;node&gt;/&lt;ns&gt;/snapshotpolicy.&lt;name&gt;, so the
 * Sync stream, the agent's journal and its acks carry it like any replica, and the node keeps firing it
 * offline. Pure: what the entries should be, given the policy and the namespace's volumes.
 */
public final class SnapshotPolicyTasks {
    /** Replica names are DNS labels (no dots): this prefix can never collide with one. */
    public static final String REPLICA_PREFIX = "snapshotpolicy.";

    private SnapshotPolicyTasks() {}

    public static String key(String node, String namespace, String policy) {
        return Keys.assignment(node, namespace, REPLICA_PREFIX + policy);
    }

    /** "namespace/policy" of a policy entry, or null for any other entry. */
    public static String policyOf(Assignment entry) {
        return entry.hasVolumeSnapshotPolicy() ? entry.getNamespace() + "/" + entry.getVolumeSnapshotPolicy().getName() : null;
    }

    /** True when the policy selects the volume and the volume exists on a node (bound, created there, not being deleted). */
    public static boolean target(VolumeSnapshotPolicy policy, Volume volume) {
        VolumeStatus status = volume.getStatus();
        return NamespaceStorage.selects(policy, volume) && !status.getNode().isEmpty()
                && !status.getNodeStatus().getVolumeId().isEmpty()
                && status.getNodeStatus().getState() != VolumeNodeStatus.State.DELETED
                && status.getPhase() != VolumeStatus.Phase.DELETING;
    }

    /** Node -> its entry for the policy, over the namespace's volumes. */
    public static Map<String, Assignment> tasks(VolumeSnapshotPolicy policy, Collection<Volume> volumes) {
        Map<String, List<Volume>> byNode = volumes.stream().filter(v -> target(policy, v))
                .collect(Collectors.groupingBy(v -> v.getStatus().getNode(), TreeMap::new, Collectors.toList()));
        Map<String, Assignment> tasks = new TreeMap<>();
        byNode.forEach((node, list) -> {
            VolumeSnapshotPolicyTask.Builder task = VolumeSnapshotPolicyTask.newBuilder()
                    .setName(policy.getMetadata().getName()).setUid(policy.getMetadata().getUid())
                    .setSchedule(policy.getSpec().getSchedule()).setTimeZone(policy.getSpec().getTimeZone())
                    .setKeepCount(policy.getSpec().getKeepCount()).setKeepAgeSeconds(policy.getSpec().getKeepAgeSeconds())
                    .setSuspend(policy.getSpec().getSuspend());
            list.stream().sorted(Comparator.comparing(v -> v.getMetadata().getName())).forEach(v -> task.addVolumes(
                    PolicyVolume.newBuilder().setName(v.getMetadata().getName()).setUid(v.getMetadata().getUid())
                            .setVolumeId(v.getStatus().getNodeStatus().getVolumeId()).setStorageClass(v.getSpec().getStorageClass())));
            tasks.put(node, Assignment.newBuilder().setNode(node).setNamespace(policy.getMetadata().getNamespace())
                    .setReplica(REPLICA_PREFIX + policy.getMetadata().getName()).setVolumeSnapshotPolicy(task).build());
        });
        return tasks;
    }
}
