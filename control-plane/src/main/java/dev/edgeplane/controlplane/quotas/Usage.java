package dev.edgeplane.controlplane.quotas;

import dev.edgeplane.api.AppPools;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.JobSpec;
import dev.edgeplane.api.v1.QuotaAmounts;

/**
 * What Apps and Jobs use of a namespace: apps (every mode), replicas of REPLICATED Apps and the pods a
 * running Job may have at once, and their containers' limits x replicas. An EVERY_NODE App counts as one app and nothing else: its replica count follows the
 * fleet, not the request, so a quota could not promise anything about it. Sums saturate at Long.MAX_VALUE.
 */
public record Usage(long apps, long replicas, long cpuMillis, long memoryBytes) {
    public static final Usage NONE = new Usage(0, 0, 0, 0);

    public static Usage of(App app) {
        AppSpec spec = app.getSpec();
        if (spec.getMode() == AppSpec.Mode.EVERY_NODE) {
            return new Usage(1, 0, 0, 0);
        }
        long replicas = AppPools.desiredReplicas(spec); // with pools, the sum over them
        long cpu = 0;
        long memory = 0;
        for (Container c : spec.getTemplate().getContainersList()) {
            cpu = add(cpu, Math.max(c.getLimits().getCpuMillis(), 0));
            memory = add(memory, Math.max(c.getLimits().getMemoryBytes(), 0));
        }
        return new Usage(1, replicas, times(cpu, replicas), times(memory, replicas));
    }

    /**
     * What a Job reserves while it may run pods: min(parallelism, completions) pods (Kubernetes'
     * defaults: 1 and 1) with their containers' limits, and no app. A finished (Complete or Failed)
     * or suspended Job reserves nothing: those are the controller's status writes, and they only free.
     */
    public static Usage of(Job job) {
        JobSpec spec = job.getSpec();
        boolean finished = job.getStatus().getConditionsList().stream()
                .anyMatch(c -> c.getStatus() && (c.getType().equals("Complete") || c.getType().equals("Failed")));
        long pods = Math.min(spec.hasParallelism() ? spec.getParallelism() : 1, spec.hasCompletions() ? spec.getCompletions() : 1);
        if (finished || spec.getSuspend() || pods <= 0) {
            return NONE;
        }
        long cpu = 0;
        long memory = 0;
        for (Container c : spec.getTemplate().getContainersList()) {
            cpu = add(cpu, Math.max(c.getLimits().getCpuMillis(), 0));
            memory = add(memory, Math.max(c.getLimits().getMemoryBytes(), 0));
        }
        return new Usage(0, pods, times(cpu, pods), times(memory, pods));
    }

    public Usage plus(Usage o) {
        return new Usage(add(apps, o.apps), add(replicas, o.replicas), add(cpuMillis, o.cpuMillis), add(memoryBytes, o.memoryBytes));
    }

    public Usage minus(Usage o) {
        return new Usage(apps - o.apps, replicas - o.replicas, cpuMillis - o.cpuMillis, memoryBytes - o.memoryBytes);
    }

    public QuotaAmounts toAmounts() {
        return QuotaAmounts.newBuilder().setApps(apps).setReplicas(replicas).setCpuMillis(cpuMillis).setMemoryBytes(memoryBytes).build();
    }

    private static long add(long a, long b) {
        long sum = a + b;
        return ((a ^ sum) & (b ^ sum)) < 0 ? Long.MAX_VALUE : sum;
    }

    private static long times(long a, long b) {
        long high = Math.multiplyHigh(a, b);
        long product = a * b;
        return high != 0 || product < 0 ? Long.MAX_VALUE : product;
    }
}
