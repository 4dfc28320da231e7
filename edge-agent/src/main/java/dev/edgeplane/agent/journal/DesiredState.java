package dev.edgeplane.agent.journal;

import dev.edgeplane.api.v1.Assignment;
import java.util.Collection;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * The node's desired state at a revision: replicas to run, volume snapshots to hold, orders about
 * volumes and images to pull ahead of need, each by its key "namespace/replica" (a snapshot's
 * "replica" is "snapshot.&lt;name&gt;", a volume task's "volume.&lt;name&gt;", an image pull's
 * "prefetch.&lt;name&gt;", a snapshot policy's "snapshotpolicy.&lt;name&gt;").
 *
 * @param assignments     the replicas
 * @param volumeSnapshots the entries carrying a VolumeSnapshotTask
 * @param volumeTasks     the entries carrying a VolumeTask (e.g. delete a volume)
 * @param imagePulls      the entries carrying an ImagePullTask (an ImagePrefetch's images)
 * @param snapshotPolicies the entries carrying a VolumeSnapshotPolicyTask (fired by the node on schedule)
 * @param cronJobs        the entries carrying an EdgeCronJobTask (run_on_edge CronJobs, fired by the node)
 * @param complete        false until a whole desired state is known (from a good journal or a Snapshot);
 *                        nothing is ever removed on the strength of an incomplete one
 */
public record DesiredState(long revision, Map<String, Assignment> assignments, Map<String, Assignment> volumeSnapshots,
                           Map<String, Assignment> volumeTasks, Map<String, Assignment> imagePulls, Map<String, Assignment> snapshotPolicies,
                           Map<String, Assignment> cronJobs, boolean complete) {
    public DesiredState {
        assignments = Collections.unmodifiableMap(new TreeMap<>(assignments));
        volumeSnapshots = Collections.unmodifiableMap(new TreeMap<>(volumeSnapshots));
        volumeTasks = Collections.unmodifiableMap(new TreeMap<>(volumeTasks));
        imagePulls = Collections.unmodifiableMap(new TreeMap<>(imagePulls));
        snapshotPolicies = Collections.unmodifiableMap(new TreeMap<>(snapshotPolicies));
        cronJobs = Collections.unmodifiableMap(new TreeMap<>(cronJobs));
    }

    /** Sorts the entries of a node's desired state (by key) into replicas, snapshot tasks, volume tasks and image pulls. */
    public static DesiredState of(long revision, Map<String, Assignment> entries, boolean complete) {
        Map<String, Assignment> replicas = new TreeMap<>();
        Map<String, Assignment> snapshots = new TreeMap<>();
        Map<String, Assignment> volumeTasks = new TreeMap<>();
        Map<String, Assignment> imagePulls = new TreeMap<>();
        Map<String, Assignment> policies = new TreeMap<>();
        Map<String, Assignment> cronJobs = new TreeMap<>();
        entries.forEach((key, entry) -> (entry.hasVolumeSnapshot() ? snapshots : entry.hasVolumeTask() ? volumeTasks
                : entry.hasImagePull() ? imagePulls : entry.hasVolumeSnapshotPolicy() ? policies
                : entry.hasCronJob() ? cronJobs : replicas).put(key, entry));
        return new DesiredState(revision, replicas, snapshots, volumeTasks, imagePulls, policies, cronJobs, complete);
    }

    public static DesiredState unknown() {
        return new DesiredState(0, Map.of(), Map.of(), Map.of(), Map.of(), Map.of(), Map.of(), false);
    }

    /** Every entry, replicas, snapshot and volume tasks, image pulls, as the journal keeps them. */
    public Collection<Assignment> entries() {
        Map<String, Assignment> all = new TreeMap<>(assignments);
        all.putAll(volumeSnapshots);
        all.putAll(volumeTasks);
        all.putAll(imagePulls);
        all.putAll(snapshotPolicies);
        all.putAll(cronJobs);
        return all.values();
    }

    public static String key(Assignment assignment) {
        return key(assignment.getNamespace(), assignment.getReplica());
    }

    public static String key(String namespace, String replica) {
        return namespace + "/" + replica;
    }
}
