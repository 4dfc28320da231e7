package dev.edgeplane.controlplane.quotas;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.Quota;
import dev.edgeplane.api.v1.QuotaAmounts;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Pure checks of one write against one quota. */
public final class QuotaCheck {
    private QuotaCheck() {}

    /**
     * The first amount the write takes over the quota's hard limit, as "replicas 120 would exceed 100";
     * empty when none. Only growth is refused: a write that leaves an amount as it was or lowers it
     * passes even while the namespace is over (a quota lowered below use must not block scaling down).
     */
    public static Optional<String> exceeded(Quota quota, Usage before, Usage after) {
        QuotaAmounts hard = quota.getSpec().getHard();
        if (hard.hasApps() && after.apps() > hard.getApps() && after.apps() > before.apps()) {
            return Optional.of("apps " + after.apps() + " would exceed " + hard.getApps());
        }
        if (hard.hasReplicas() && after.replicas() > hard.getReplicas() && after.replicas() > before.replicas()) {
            return Optional.of("replicas " + after.replicas() + " would exceed " + hard.getReplicas());
        }
        if (hard.hasCpuMillis() && after.cpuMillis() > hard.getCpuMillis() && after.cpuMillis() > before.cpuMillis()) {
            return Optional.of("cpu_millis " + after.cpuMillis() + " would exceed " + hard.getCpuMillis());
        }
        if (hard.hasMemoryBytes() && after.memoryBytes() > hard.getMemoryBytes() && after.memoryBytes() > before.memoryBytes()) {
            return Optional.of("memory_bytes " + after.memoryBytes() + " would exceed " + hard.getMemoryBytes());
        }
        return Optional.empty();
    }

    /**
     * The container limits a REPLICATED App must set while the quota limits cpu or memory (as
     * Kubernetes asks for limits.cpu under a quota on it): otherwise its use could not be counted.
     */
    public static List<String> missingLimits(Quota quota, App app) {
        if (app.getSpec().getMode() == AppSpec.Mode.EVERY_NODE) {
            return new ArrayList<>();
        }
        return missingLimits(quota, app.getSpec().getTemplate(), "app");
    }

    /** As for an App: a Job's pods count against cpu and memory quotas by their limits. */
    public static List<String> missingLimits(Quota quota, dev.edgeplane.api.v1.Job job) {
        return missingLimits(quota, job.getSpec().getTemplate(), "job");
    }

    private static List<String> missingLimits(Quota quota, dev.edgeplane.api.v1.PodTemplate template, String kind) {
        QuotaAmounts hard = quota.getSpec().getHard();
        List<String> fields = new ArrayList<>();
        for (int i = 0; i < template.getContainersCount(); i++) {
            Container c = template.getContainers(i);
            String field = kind + ".spec.template.containers[" + i + "].limits";
            if (hard.hasCpuMillis() && c.getLimits().getCpuMillis() <= 0) {
                fields.add(field + ".cpu_millis");
            }
            if (hard.hasMemoryBytes() && c.getLimits().getMemoryBytes() <= 0) {
                fields.add(field + ".memory_bytes");
            }
        }
        return fields;
    }
}
