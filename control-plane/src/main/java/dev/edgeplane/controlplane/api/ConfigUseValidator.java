package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.ConfigRefs;
import dev.edgeplane.api.v1.ConfigMapVolumeSource;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.EnvFromSource;
import dev.edgeplane.api.v1.EnvVar;
import dev.edgeplane.api.v1.KeyToPath;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.SecretVolumeSource;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * How a pod template uses ConfigMaps and Secrets (env value_from, env_from, config_map and secret
 * volumes, image_pull_secrets). The objects need not exist yet: a missing one is a replica status on
 * the node (CreateContainerConfigError), as in Kubernetes, not a refused App.
 */
final class ConfigUseValidator {
    /** ConfigMaps and Secrets one template may use: each is resolved, watched and sent per replica. */
    static final int MAX_CONFIG_REFS = 64;

    private ConfigUseValidator() {}

    static void template(Validation v, String field, PodTemplate template) {
        for (int i = 0; i < template.getImagePullSecretsCount(); i++) {
            v.dnsLabel(field + ".image_pull_secrets[" + i + "].name", template.getImagePullSecrets(i).getName());
        }
        int refs = ConfigRefs.of(template).size();
        if (refs > MAX_CONFIG_REFS) {
            v.add(field, "uses " + refs + " ConfigMaps and Secrets; at most " + MAX_CONFIG_REFS + " are allowed");
        }
    }

    /** A container's env value_from references and env_from sources. */
    static void container(Validation v, String field, Container c) {
        for (int e = 0; e < c.getEnvCount(); e++) {
            EnvVar env = c.getEnv(e);
            if (!env.hasValueFrom()) {
                continue;
            }
            String ef = field + ".env[" + e + "]";
            if (!env.getValue().isEmpty()) {
                v.add(ef + ".value_from", "value and value_from are exclusive");
            }
            switch (env.getValueFrom().getSourceCase()) {
                case FIELD_REF -> {
                    String path = env.getValueFrom().getFieldRef().getFieldPath();
                    if (!DOWNWARD_FIELDS.contains(path)) {
                        v.add(ef + ".value_from.field_ref.field_path", "must be one of " + DOWNWARD_FIELDS + " (got \""
                                + (path.length() > 70 ? path.substring(0, 67) + "..." : path) + "\")");
                    }
                }
                case CONFIG_MAP_KEY_REF -> {
                    v.dnsLabel(ef + ".value_from.config_map_key_ref.name", env.getValueFrom().getConfigMapKeyRef().getName());
                    v.configKey(ef + ".value_from.config_map_key_ref.key", env.getValueFrom().getConfigMapKeyRef().getKey());
                }
                case SECRET_KEY_REF -> {
                    v.dnsLabel(ef + ".value_from.secret_key_ref.name", env.getValueFrom().getSecretKeyRef().getName());
                    v.configKey(ef + ".value_from.secret_key_ref.key", env.getValueFrom().getSecretKeyRef().getKey());
                }
                default -> v.add(ef + ".value_from", "one of field_ref, config_map_key_ref or secret_key_ref is required");
            }
        }
        for (int i = 0; i < c.getEnvFromCount(); i++) {
            EnvFromSource from = c.getEnvFrom(i);
            String ff = field + ".env_from[" + i + "]";
            if (!from.getPrefix().isEmpty()) {
                v.envName(ff + ".prefix", from.getPrefix());
            }
            switch (from.getSourceCase()) {
                case CONFIG_MAP_REF -> v.dnsLabel(ff + ".config_map_ref.name", from.getConfigMapRef().getName());
                case SECRET_REF -> v.dnsLabel(ff + ".secret_ref.name", from.getSecretRef().getName());
                default -> v.add(ff, "one of config_map_ref or secret_ref is required");
            }
        }
    }

    static void configMapVolume(Validation v, String field, ConfigMapVolumeSource source) {
        v.dnsLabel(field + ".name", source.getName());
        files(v, field, source.getItemsList(), source.hasDefaultMode() ? source.getDefaultMode() : null);
    }

    static void secretVolume(Validation v, String field, SecretVolumeSource source) {
        v.dnsLabel(field + ".secret_name", source.getSecretName());
        files(v, field, source.getItemsList(), source.hasDefaultMode() ? source.getDefaultMode() : null);
    }

    /** The downward API's fields an env var may take (Kubernetes' names). */
    static final List<String> DOWNWARD_FIELDS = List.of("metadata.name", "metadata.namespace", "spec.nodeName");

    private static void files(Validation v, String field, List<KeyToPath> items, Integer defaultMode) {
        if (defaultMode != null) {
            mode(v, field + ".default_mode", defaultMode);
        }
        Set<String> paths = new HashSet<>();
        for (int i = 0; i < items.size(); i++) {
            KeyToPath item = items.get(i);
            String itemField = field + ".items[" + i + "]";
            v.configKey(itemField + ".key", item.getKey());
            String problem = relativePathProblem(item.getPath());
            if (problem != null) {
                v.add(itemField + ".path", problem);
            } else if (!paths.add(item.getPath())) {
                v.add(itemField + ".path", "\"" + item.getPath() + "\" is used twice in this volume");
            }
            if (item.hasMode()) {
                mode(v, itemField + ".mode", item.getMode());
            }
        }
    }

    private static void mode(Validation v, String field, int mode) {
        if (mode < 0 || mode > 0777) {
            v.add(field, "must be 0 to 0777 (511) (got " + mode + ")");
        }
    }

    /** Null when {@code path} is a plain relative path inside a volume; otherwise what is wrong. */
    static String relativePathProblem(String path) {
        if (path.isEmpty()) {
            return "must not be empty";
        }
        if (path.length() > 4096) {
            return "must be at most 4096 bytes";
        }
        if (path.startsWith("/")) {
            return "must be a relative path";
        }
        if (path.chars().anyMatch(ch -> ch < 0x20 || ch == 0x7f)) {
            return "must not contain control characters";
        }
        for (String part : path.split("/", -1)) {
            if (part.isEmpty() || part.equals(".") || part.equals("..")) {
                return "must not contain empty, \".\" or \"..\" elements";
            }
        }
        if (path.startsWith("..")) {
            return "must not start with \"..\"";
        }
        return null;
    }
}
