package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.VolumeMount;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/** The volumes of an App's pod template and the containers' mounts of them; field paths start at "app.spec". */
final class PodVolumeValidator {
    private PodVolumeValidator() {}

    static void validate(Validation v, AppSpec spec) {
        PodTemplate template = spec.getTemplate();
        Map<String, PodVolume> byName = new HashMap<>();
        int named = 0;
        for (int i = 0; i < template.getVolumesCount(); i++) {
            PodVolume volume = template.getVolumes(i);
            String field = "app.spec.template.volumes[" + i + "]";
            v.dnsLabel(field + ".name", volume.getName());
            if (!volume.getName().isEmpty() && byName.putIfAbsent(volume.getName(), volume) != null) {
                v.add(field + ".name", "duplicate volume name \"" + volume.getName() + "\"");
            }
            switch (volume.getSourceCase()) {
                case VOLUME -> {
                    v.dnsLabel(field + ".volume", volume.getVolume());
                    named++;
                }
                case HOST_PATH -> {
                    String reason = absolutePathProblem(volume.getHostPath().getPath());
                    if (reason != null) {
                        v.add(field + ".host_path.path", reason);
                    }
                }
                case EMPTY_DIR -> { }
                case CONFIG_MAP -> ConfigUseValidator.configMapVolume(v, field + ".config_map", volume.getConfigMap());
                case SECRET -> ConfigUseValidator.secretVolume(v, field + ".secret", volume.getSecret());
                default -> v.add(field, "one of volume, empty_dir, host_path, config_map or secret is required");
            }
        }
        if (named > 0) {
            // A volume is read-write-once and lives on one node: one replica, placed like a Replicated App.
            if (spec.getMode() == AppSpec.Mode.EVERY_NODE) {
                v.add("app.spec.mode", "EVERY_NODE cannot use named volumes (a volume lives on one node)");
            } else if (dev.edgeplane.api.AppPools.desiredReplicas(spec) > 1) {
                v.add(spec.getPoolsCount() > 0 ? "app.spec.pools" : "app.spec.replicas",
                        "must be 0 or 1 replica in all when the template uses named volumes (read-write-once)");
            }
        }
        for (int c = 0; c < template.getInitContainersCount(); c++) {
            mounts(v, "app.spec.template.init_containers[" + c + "]", template.getInitContainers(c), byName);
        }
        for (int c = 0; c < template.getContainersCount(); c++) {
            mounts(v, "app.spec.template.containers[" + c + "]", template.getContainers(c), byName);
        }
    }

    private static void mounts(Validation v, String containerField, Container container, Map<String, PodVolume> byName) {
        Set<String> paths = new HashSet<>();
        for (int m = 0; m < container.getVolumeMountsCount(); m++) {
            VolumeMount mount = container.getVolumeMounts(m);
            String field = containerField + ".volume_mounts[" + m + "]";
            if (!byName.containsKey(mount.getName())) {
                v.add(field + ".name", "names no volume of the template (\"" + mount.getName() + "\")");
            }
            String reason = absolutePathProblem(mount.getMountPath());
            if (reason != null) {
                v.add(field + ".mount_path", reason);
            } else if (!paths.add(mount.getMountPath())) {
                v.add(field + ".mount_path", "mounted twice in this container");
            }
        }
    }

    /** Null when the path is absolute and plain; otherwise what is wrong with it. */
    static String absolutePathProblem(String path) {
        if (path.isEmpty()) {
            return "must not be empty";
        }
        if (!path.startsWith("/")) {
            return "must be an absolute path";
        }
        if (path.chars().anyMatch(ch -> ch < 0x20 || ch == 0x7f)) {
            return "must not contain control characters";
        }
        for (String part : path.split("/")) {
            if (part.equals("..")) {
                return "must not contain \"..\"";
            }
        }
        return null;
    }
}
