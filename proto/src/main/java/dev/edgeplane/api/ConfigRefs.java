package dev.edgeplane.api;

import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.EnvFromSource;
import dev.edgeplane.api.v1.EnvVar;
import dev.edgeplane.api.v1.LocalObjectReference;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The ConfigMaps and Secrets a pod template uses, by kind and name (env value_from, env_from,
 * volumes, image_pull_secrets): what the control plane resolves into Assignment.configs, what a
 * delete checks, and what the agent looks up in Assignment.config_data.
 */
public final class ConfigRefs {
    private ConfigRefs() {}

    /** A kind and a name, ordered kind first; "configmap/name" or "secret/name" as text. */
    public record Name(ConfigRef.Kind kind, String name) implements Comparable<Name> {
        @Override
        public int compareTo(Name other) {
            int byKind = Integer.compare(kind.getNumber(), other.kind.getNumber());
            return byKind != 0 ? byKind : name.compareTo(other.name);
        }

        /** As an operator writes it in messages: {@code configmap "app-config"}. */
        public String describe() {
            return (kind == ConfigRef.Kind.SECRET ? "secret" : "configmap") + " \"" + name + "\"";
        }
    }

    /** Every ConfigMap and Secret {@code template} names, each once, in a stable order. */
    public static Set<Name> of(PodTemplate template) {
        TreeSet<Name> names = new TreeSet<>();
        List<Container> containers = new ArrayList<>(template.getInitContainersList());
        containers.addAll(template.getContainersList());
        for (Container container : containers) {
            for (EnvVar env : container.getEnvList()) {
                if (env.getValueFrom().hasConfigMapKeyRef()) {
                    names.add(new Name(ConfigRef.Kind.CONFIG_MAP, env.getValueFrom().getConfigMapKeyRef().getName()));
                } else if (env.getValueFrom().hasSecretKeyRef()) {
                    names.add(new Name(ConfigRef.Kind.SECRET, env.getValueFrom().getSecretKeyRef().getName()));
                }
            }
            for (EnvFromSource from : container.getEnvFromList()) {
                if (from.hasConfigMapRef()) {
                    names.add(new Name(ConfigRef.Kind.CONFIG_MAP, from.getConfigMapRef().getName()));
                } else if (from.hasSecretRef()) {
                    names.add(new Name(ConfigRef.Kind.SECRET, from.getSecretRef().getName()));
                }
            }
        }
        for (PodVolume volume : template.getVolumesList()) {
            if (volume.hasConfigMap()) {
                names.add(new Name(ConfigRef.Kind.CONFIG_MAP, volume.getConfigMap().getName()));
            } else if (volume.hasSecret()) {
                names.add(new Name(ConfigRef.Kind.SECRET, volume.getSecret().getSecretName()));
            }
        }
        for (LocalObjectReference pullSecret : template.getImagePullSecretsList()) {
            names.add(new Name(ConfigRef.Kind.SECRET, pullSecret.getName()));
        }
        return names;
    }
}
