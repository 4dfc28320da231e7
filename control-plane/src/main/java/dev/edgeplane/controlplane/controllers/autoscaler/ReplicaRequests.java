package dev.edgeplane.controlplane.controllers.autoscaler;

import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.MetricTarget;
import dev.edgeplane.api.v1.PodTemplate;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * What a replica requests of the resources an Autoscaler targets, the denominator of utilisation:
 * each container's requests, else its limits (Container.requests: what the scheduler reserves too).
 * Shared by the API (refusing an Autoscaler whose App lacks them) and the controller.
 */
public final class ReplicaRequests {
    private ReplicaRequests() {}

    /** A container's request of a resource (cores or bytes), 0 when it has none. */
    public static double of(Container c, MetricTarget.Resource resource) {
        if (resource == MetricTarget.Resource.MEMORY) {
            long bytes = c.getRequests().getMemoryBytes() > 0 ? c.getRequests().getMemoryBytes() : c.getLimits().getMemoryBytes();
            return Math.max(0, bytes);
        }
        long millis = c.getRequests().getCpuMillis() > 0 ? c.getRequests().getCpuMillis() : c.getLimits().getCpuMillis();
        return Math.max(0, millis) / 1000.0;
    }

    /** Per targeted resource every container requests: the replica's total; a resource some container lacks is left out. */
    public static Map<MetricTarget.Resource, Double> perReplica(PodTemplate template, List<MetricTarget> metrics) {
        Map<MetricTarget.Resource, Double> requests = new EnumMap<>(MetricTarget.Resource.class);
        for (MetricTarget m : metrics) {
            double sum = 0;
            boolean all = template.getContainersCount() > 0;
            for (Container c : template.getContainersList()) {
                double r = of(c, m.getResource());
                all &= r > 0;
                sum += r;
            }
            if (all) {
                requests.put(m.getResource(), sum);
            }
        }
        return requests;
    }

    /** "cpu: a, b" per targeted resource that some container lacks; empty when all request everything targeted. */
    public static List<String> missing(PodTemplate template, List<MetricTarget> metrics) {
        List<String> missing = new ArrayList<>();
        for (MetricTarget m : metrics) {
            List<String> lacking = new ArrayList<>();
            for (Container c : template.getContainersList()) {
                if (of(c, m.getResource()) <= 0) {
                    lacking.add(c.getName());
                }
            }
            if (!lacking.isEmpty() || template.getContainersCount() == 0) {
                missing.add(HpaCalculation.name(m.getResource()) + ": " + String.join(", ", lacking));
            }
        }
        return missing;
    }
}
