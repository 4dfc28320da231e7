package dev.edgeplane.controlplane.quotas;

import dev.edgeplane.api.AppPools;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.QuotaAmounts;

/**
 * What Apps use of a namespace: apps (every mode), replicas of REPLICATED Apps, and their containers'
 * limits x replicas. An EVERY_NODE App counts as one app and nothing else: its replica count follows the
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
