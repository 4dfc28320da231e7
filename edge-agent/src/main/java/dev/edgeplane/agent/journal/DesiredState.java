package dev.edgeplane.agent.journal;

import dev.edgeplane.api.v1.Assignment;
import java.util.Collection;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * The node's desired state at a revision: replicas to run and volume snapshots to hold, each by its
 * key "namespace/replica" (a snapshot's "replica" is "snapshot.&lt;name&gt;").
 *
 * @param assignments     the replicas
 * @param volumeSnapshots the entries carrying a VolumeSnapshotTask
 * @param complete        false until a whole desired state is known (from a good journal or a Snapshot);
 *                        nothing is ever removed on the strength of an incomplete one
 */
public record DesiredState(long revision, Map<String, Assignment> assignments, Map<String, Assignment> volumeSnapshots,
                           boolean complete) {
    public DesiredState {
        assignments = Collections.unmodifiableMap(new TreeMap<>(assignments));
        volumeSnapshots = Collections.unmodifiableMap(new TreeMap<>(volumeSnapshots));
    }

    /** Sorts the entries of a node's desired state (by key) into replicas and snapshot tasks. */
    public static DesiredState of(long revision, Map<String, Assignment> entries, boolean complete) {
        Map<String, Assignment> replicas = new TreeMap<>();
        Map<String, Assignment> snapshots = new TreeMap<>();
        entries.forEach((key, entry) -> (entry.hasVolumeSnapshot() ? snapshots : replicas).put(key, entry));
        return new DesiredState(revision, replicas, snapshots, complete);
    }

    public static DesiredState unknown() {
        return new DesiredState(0, Map.of(), Map.of(), false);
    }

    /** Every entry, replicas and snapshot tasks, as the journal keeps them. */
    public Collection<Assignment> entries() {
        Map<String, Assignment> all = new TreeMap<>(assignments);
        all.putAll(volumeSnapshots);
        return all.values();
    }

    public static String key(Assignment assignment) {
        return key(assignment.getNamespace(), assignment.getReplica());
    }

    public static String key(String namespace, String replica) {
        return namespace + "/" + replica;
    }
}
