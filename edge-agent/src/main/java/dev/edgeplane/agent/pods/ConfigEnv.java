package dev.edgeplane.agent.pods;

import dev.edgeplane.agent.configs.AssignedConfigs;
import dev.edgeplane.api.ConfigRefs;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.EnvFromSource;
import dev.edgeplane.api.v1.EnvVar;
import dev.edgeplane.api.v1.EnvVarSource;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * A container's environment as the kubelet builds it when the container starts: every env_from source
 * in order (prefix + key, keys that are not valid names skipped), then env, whose entries win; values
 * from the downward API, ConfigMaps and Secrets. A required object or key that is missing holds the
 * container back (CreateContainerConfigError) instead of starting it with a hole in its config.
 *
 * @param env     name -> value, in the order the container sees them
 * @param problem why the container cannot start, if it cannot
 * @param skipped env_from keys that are not valid env var names (reported, as the kubelet does)
 */
record ConfigEnv(Map<String, String> env, Optional<String> problem, List<String> skipped) {
    private static final Pattern ENV_NAME = Pattern.compile("[-._a-zA-Z][-._a-zA-Z0-9]*");

    static ConfigEnv of(Assignment assignment, Container spec) {
        Map<String, String> env = new LinkedHashMap<>();
        List<String> skipped = new ArrayList<>();
        for (EnvFromSource from : spec.getEnvFromList()) {
            ConfigRef.Kind kind = from.hasSecretRef() ? ConfigRef.Kind.SECRET : ConfigRef.Kind.CONFIG_MAP;
            String name = from.hasSecretRef() ? from.getSecretRef().getName() : from.getConfigMapRef().getName();
            boolean optional = from.hasSecretRef() ? from.getSecretRef().getOptional() : from.getConfigMapRef().getOptional();
            Optional<ConfigData> data = AssignedConfigs.find(assignment, kind, name);
            if (data.isEmpty()) {
                if (optional) {
                    continue;
                }
                return failed(new ConfigRefs.Name(kind, name).describe() + " not found");
            }
            // Key order, as the kubelet reads a map: the result does not depend on how the object was written.
            for (var entry : new TreeMap<>(data.get().getDataMap()).entrySet()) {
                String variable = from.getPrefix() + entry.getKey();
                if (ENV_NAME.matcher(variable).matches()) {
                    env.put(variable, entry.getValue().toString(StandardCharsets.UTF_8));
                } else {
                    skipped.add(variable);
                }
            }
        }
        for (EnvVar var : spec.getEnvList()) {
            Optional<String> value;
            try {
                value = value(assignment, var);
            } catch (MissingConfig e) {
                return failed(e.getMessage());
            }
            if (value.isPresent()) {
                env.remove(var.getName()); // a later definition takes the later place
                env.put(var.getName(), value.get());
            }
        }
        return new ConfigEnv(env, Optional.empty(), skipped);
    }

    private static ConfigEnv failed(String problem) {
        return new ConfigEnv(Map.of(), Optional.of(problem), List.of());
    }

    /** Empty: an optional reference to something missing (the variable is not set). */
    private static Optional<String> value(Assignment assignment, EnvVar var) throws MissingConfig {
        if (!var.hasValueFrom()) {
            return Optional.of(var.getValue());
        }
        EnvVarSource from = var.getValueFrom();
        switch (from.getSourceCase()) {
            case FIELD_REF -> {
                return Optional.of(switch (from.getFieldRef().getFieldPath()) {
                    case "metadata.name" -> assignment.getReplica();
                    case "metadata.namespace" -> assignment.getNamespace();
                    case "spec.nodeName" -> assignment.getNode();
                    default -> ""; // refused by the control plane's validation
                });
            }
            case CONFIG_MAP_KEY_REF -> {
                var ref = from.getConfigMapKeyRef();
                return key(assignment, ConfigRef.Kind.CONFIG_MAP, ref.getName(), ref.getKey(), ref.getOptional());
            }
            case SECRET_KEY_REF -> {
                var ref = from.getSecretKeyRef();
                return key(assignment, ConfigRef.Kind.SECRET, ref.getName(), ref.getKey(), ref.getOptional());
            }
            default -> {
                return Optional.of(var.getValue());
            }
        }
    }

    private static Optional<String> key(Assignment assignment, ConfigRef.Kind kind, String name, String key, boolean optional)
            throws MissingConfig {
        String what = new ConfigRefs.Name(kind, name).describe();
        Optional<ConfigData> data = AssignedConfigs.find(assignment, kind, name);
        if (data.isEmpty()) {
            if (optional) {
                return Optional.empty();
            }
            throw new MissingConfig(what + " not found");
        }
        var value = data.get().getDataMap().get(key);
        if (value == null) {
            if (optional) {
                return Optional.empty();
            }
            throw new MissingConfig("couldn't find key " + key + " in " + what);
        }
        return Optional.of(value.toString(StandardCharsets.UTF_8));
    }

    private static final class MissingConfig extends Exception {
        MissingConfig(String message) {
            super(message, null, false, false);
        }
    }
}
