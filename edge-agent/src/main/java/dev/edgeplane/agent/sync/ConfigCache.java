package dev.edgeplane.agent.sync;

import dev.edgeplane.agent.journal.DesiredState;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.Changes;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.Snapshot;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The ConfigMaps and Secrets this agent holds, newest version of each. Like {@link TemplateCache}: the
 * control plane sends assignments that name the objects they use at a version (Assignment.configs) and
 * each object once per stream and version (Snapshot/Changes configs); this fills each assignment's
 * config_data in BEFORE it is journalled, so the journal (mode 0600) and the pod workers see complete
 * assignments and keep running them while the cloud is unreachable.
 */
final class ConfigCache {
    /** At most this many objects in a Hello (the control plane refuses more). */
    static final int MAX_HELLO_CONFIGS = 1024;
    /** Beyond this many objects the cache starts over (those needed are sent again on the next stream). */
    static final int MAX_CONFIGS = 4096;

    /** "namespace/kind/name" -> the newest content this stream or the journal gave. */
    private final Map<String, ConfigData> byKey = new HashMap<>();

    /**
     * A new stream starts: the cache holds what the journal's entries hold (replicas' config objects,
     * image pull entries' pull Secrets; nothing else); returns
     * those objects without their data, for the Hello (at most {@link #MAX_HELLO_CONFIGS}).
     */
    synchronized List<ConfigData> startStream(DesiredState state) {
        byKey.clear();
        for (Assignment assignment : state.entries()) {
            for (ConfigData data : assignment.getConfigDataList()) {
                keep(data);
            }
        }
        List<ConfigData> held = new ArrayList<>();
        for (ConfigData data : byKey.values()) {
            if (held.size() == MAX_HELLO_CONFIGS) {
                break;
            }
            held.add(data.toBuilder().clearData().build());
        }
        return held;
    }

    /** The Snapshot with every assignment's config_data filled in (and no configs list), or refused. */
    synchronized Snapshot resolve(Snapshot snapshot) throws RefusedMessage {
        learn(snapshot.getConfigsList());
        Snapshot.Builder resolved = snapshot.toBuilder().clearConfigs().clearAssignments();
        for (Assignment assignment : snapshot.getAssignmentsList()) {
            resolved.addAssignments(resolve(assignment));
        }
        return resolved.build();
    }

    /** The Changes with every PUT's config_data filled in (and no configs list), or refused. */
    synchronized Changes resolve(Changes changes) throws RefusedMessage {
        learn(changes.getConfigsList());
        Changes.Builder resolved = changes.toBuilder().clearConfigs().clearChanges();
        for (Change change : changes.getChangesList()) {
            resolved.addChanges(change.getType() == Change.Type.PUT && change.hasAssignment()
                    ? change.toBuilder().setAssignment(resolve(change.getAssignment())).build() : change);
        }
        return resolved.build();
    }

    synchronized int size() {
        return byKey.size();
    }

    private void learn(List<ConfigData> configs) throws RefusedMessage {
        for (ConfigData data : configs) {
            ConfigRef.Kind kind = data.getRef().getKind();
            if (data.getNamespace().isEmpty() || data.getRef().getName().isEmpty()
                    || (kind != ConfigRef.Kind.CONFIG_MAP && kind != ConfigRef.Kind.SECRET)) {
                throw new RefusedMessage("a config object without namespace, name or a known kind (" + kind + ")");
            }
        }
        if (byKey.size() + configs.size() > MAX_CONFIGS) {
            byKey.clear(); // an assignment needing one now is refused; the next stream resends it
        }
        configs.forEach(this::keep);
    }

    private void keep(ConfigData data) {
        byKey.merge(key(data.getNamespace(), data.getRef()), data,
                (old, fresh) -> fresh.getRef().getVersion() >= old.getRef().getVersion() ? fresh : old);
    }

    private Assignment resolve(Assignment assignment) throws RefusedMessage {
        if (assignment.getConfigsCount() == 0) {
            return assignment.getConfigDataCount() == 0 ? assignment : assignment.toBuilder().clearConfigData().build();
        }
        Assignment.Builder resolved = assignment.toBuilder().clearConfigData();
        for (ConfigRef ref : assignment.getConfigsList()) {
            ConfigData data = byKey.get(key(assignment.getNamespace(), ref));
            if (data == null || data.getRef().getVersion() < ref.getVersion()) {
                throw new RefusedMessage("assignment " + DesiredState.key(assignment) + " uses " + ref.getKind() + " "
                        + ref.getName() + " at version " + ref.getVersion() + ", which this agent does not have and the message did not carry");
            }
            resolved.addConfigData(data);
        }
        return resolved.build();
    }

    private static String key(String namespace, ConfigRef ref) {
        return namespace + "/" + ref.getKind().getNumber() + "/" + ref.getName();
    }
}
