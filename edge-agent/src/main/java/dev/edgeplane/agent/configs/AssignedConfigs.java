package dev.edgeplane.agent.configs;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigRef;
import java.util.List;
import java.util.Optional;

/**
 * The ConfigMaps and Secrets an assignment carries (Assignment.config_data, filled in by the sync
 * client from the stream): what env vars, config volumes and image pulls read. Values are secret
 * material: never log a ConfigData (its toString prints them).
 */
public final class AssignedConfigs {
    private AssignedConfigs() {}

    /** The object's content, or empty when the assignment has none for it or it does not exist. */
    public static Optional<ConfigData> find(Assignment assignment, ConfigRef.Kind kind, String name) {
        return find(assignment.getConfigDataList(), kind, name);
    }

    /** The same, in the contents an assignment carries. */
    public static Optional<ConfigData> find(List<ConfigData> configData, ConfigRef.Kind kind, String name) {
        for (ConfigData data : configData) {
            if (data.getRef().getKind() == kind && data.getRef().getName().equals(name)) {
                return data.getMissing() ? Optional.empty() : Optional.of(data);
            }
        }
        return Optional.empty();
    }
}
