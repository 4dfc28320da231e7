package dev.edgeplane.agent.journal;

import dev.edgeplane.api.v1.Assignment;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * The node's desired state at a revision: assignments by "namespace/replica".
 *
 * @param complete false until a whole desired state is known (from a good journal or a Snapshot);
 *                 nothing is ever removed on the strength of an incomplete one
 */
public record DesiredState(long revision, Map<String, Assignment> assignments, boolean complete) {
    public DesiredState {
        assignments = Collections.unmodifiableMap(new TreeMap<>(assignments));
    }

    public static DesiredState unknown() {
        return new DesiredState(0, Map.of(), false);
    }

    public static String key(Assignment assignment) {
        return key(assignment.getNamespace(), assignment.getReplica());
    }

    public static String key(String namespace, String replica) {
        return namespace + "/" + replica;
    }
}
