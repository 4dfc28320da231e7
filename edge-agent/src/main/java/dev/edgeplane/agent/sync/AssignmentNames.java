package dev.edgeplane.agent.sync;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.KeyToPath;
import dev.edgeplane.api.v1.PodVolume;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The names in an assignment that the agent turns into host paths (log and pod directories, volume
 * and config file names) or CRI names, checked again on the host: the control plane validates them,
 * but a host does not let the cloud's word decide what path it writes (a replica named "../../etc"
 * would otherwise be one). A message with a bad name is refused, not applied.
 */
final class AssignmentNames {
    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    /** A snapshot's, volume task's, image pull's or snapshot policy's entry: "snapshot.<name>" / "volume.<name>" / "prefetch.<name>" / "snapshotpolicy.<name>". */
    private static final Pattern TASK = Pattern.compile("(snapshot|volume|prefetch|snapshotpolicy|cronjob)\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    /** A Job's pods' app: "job.<job name>" (dev.edgeplane.api.JobPods); only a label value on the host, never a path. */
    private static final Pattern JOB_APP = Pattern.compile("job\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern CONFIG_KEY = Pattern.compile("[-._a-zA-Z0-9]{1,253}");

    private AssignmentNames() {}

    /** What is wrong with {@code a}'s names, if anything. */
    static Optional<String> problem(Assignment a) {
        List<String> bad = new ArrayList<>();
        check(bad, "namespace", a.getNamespace(), DNS_LABEL);
        check(bad, "replica", a.getReplica(), a.hasVolumeSnapshot() || a.hasVolumeTask() || a.hasImagePull()
                || a.hasVolumeSnapshotPolicy() || a.hasCronJob() ? TASK : DNS_LABEL);
        if (a.hasCronJob()) {
            check(bad, "cron job", a.getCronJob().getName(), DNS_LABEL);
            List<Container> cronContainers = new ArrayList<>(a.getCronJob().getTemplate().getInitContainersList());
            cronContainers.addAll(a.getCronJob().getTemplate().getContainersList());
            for (Container c : cronContainers) {
                check(bad, "cron job container", c.getName(), DNS_LABEL);
            }
        }
        for (dev.edgeplane.api.v1.PolicyVolume v : a.getVolumeSnapshotPolicy().getVolumesList()) {
            check(bad, "policy volume", v.getName(), DNS_LABEL);
        }
        if (a.hasVolumeSnapshotPolicy()) {
            check(bad, "policy", a.getVolumeSnapshotPolicy().getName(), DNS_LABEL);
        }
        if (!a.getApp().isEmpty()) {
            check(bad, "app", a.getApp(), dev.edgeplane.api.JobPods.isJobApp(a.getApp()) ? JOB_APP : DNS_LABEL);
        }
        List<Container> containers = new ArrayList<>(a.getTemplate().getInitContainersList());
        containers.addAll(a.getTemplate().getContainersList());
        for (Container c : containers) {
            check(bad, "container", c.getName(), DNS_LABEL);
        }
        for (PodVolume v : a.getTemplate().getVolumesList()) {
            check(bad, "volume", v.getName(), DNS_LABEL);
            List<KeyToPath> items = v.hasConfigMap() ? v.getConfigMap().getItemsList() : v.getSecret().getItemsList();
            for (KeyToPath item : items) {
                if (!relative(item.getPath())) {
                    bad.add("volume " + v.getName() + " item path \"" + clip(item.getPath()) + "\"");
                }
            }
        }
        for (ConfigData data : a.getConfigDataList()) {
            for (String key : data.getDataMap().keySet()) {
                if (!CONFIG_KEY.matcher(key).matches() || key.equals(".") || key.startsWith("..")) {
                    bad.add("key \"" + clip(key) + "\" of " + data.getRef().getName());
                }
            }
        }
        return bad.isEmpty() ? Optional.empty()
                : Optional.of("assignment " + clip(a.getNamespace()) + "/" + clip(a.getReplica()) + " has names this host will not use: " + bad);
    }

    private static void check(List<String> bad, String what, String name, Pattern rule) {
        if (!rule.matcher(name).matches()) {
            bad.add(what + " \"" + clip(name) + "\"");
        }
    }

    /** A relative path of plain segments: no "", ".", ".." or leading "..". */
    static boolean relative(String path) {
        if (path.isEmpty() || path.length() > 4096 || path.startsWith("/") || path.startsWith("..")) {
            return false;
        }
        for (String segment : path.split("/", -1)) {
            if (segment.isEmpty() || segment.equals(".") || segment.equals("..") || segment.chars().anyMatch(ch -> ch < 0x20)) {
                return false;
            }
        }
        return true;
    }

    private static String clip(String s) {
        return s.length() > 64 ? s.substring(0, 61) + "..." : s;
    }
}
