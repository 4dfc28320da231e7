package dev.edgeplane.agent.metrics;

import dev.edgeplane.agent.pods.PodLabels;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.cri.v1.Container;
import dev.edgeplane.cri.v1.ContainerStats;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * The agent's containers through CRI: ListContainers for state and restarts (the attempt number the
 * agent gives each restart, as the kubelet does), ListContainerStats for CPU and memory. CPU cores are
 * the rate of usage_core_nano_seconds between two passes, timed by the runtime's own timestamps.
 * Only the newest attempt of each container is reported, with the labels the agent put on it.
 */
public final class ContainerCollector implements Collector {
    private final CriRuntime cri;
    /** Container id -> its previous cpu reading. */
    private Map<String, CpuReading> previous = new HashMap<>();

    private record CpuReading(long timestampNanos, long usageCoreNanos) {}

    public ContainerCollector(CriRuntime cri) {
        this.cri = cri;
    }

    @Override
    public String name() {
        return "containers";
    }

    @Override
    public void collect(Samples out) {
        Map<String, Container> newest = new HashMap<>();
        for (Container c : cri.listContainersQuickly(PodLabels.managed())) {
            Map<String, String> labels = c.getLabelsMap();
            if (!labels.containsKey(PodLabels.CONTAINER) || PodLabels.replicaKey(labels).isEmpty()) {
                continue;
            }
            String key = PodLabels.replicaKey(labels).get() + "/" + labels.get(PodLabels.CONTAINER);
            Container seen = newest.get(key);
            if (seen == null || c.getMetadata().getAttempt() > seen.getMetadata().getAttempt()
                    || (c.getMetadata().getAttempt() == seen.getMetadata().getAttempt() && c.getCreatedAt() > seen.getCreatedAt())) {
                newest.put(key, c);
            }
        }
        Map<String, String[]> labelsById = new HashMap<>();
        for (Container c : newest.values()) {
            Map<String, String> l = c.getLabelsMap();
            String[] labels = {"namespace", l.get(PodLabels.NAMESPACE), "app", l.getOrDefault(PodLabels.APP, ""),
                    "replica", l.get(PodLabels.REPLICA), "container", l.get(PodLabels.CONTAINER)};
            labelsById.put(c.getId(), labels);
            out.counter("container_restarts_total", c.getMetadata().getAttempt(), labels);
            out.gauge("container_state", state(c), labels);
        }

        Map<String, CpuReading> current = new HashMap<>();
        Set<String> reported = new HashSet<>();
        for (ContainerStats stats : cri.listContainerStats(PodLabels.managed())) {
            String id = stats.getAttributes().getId();
            String[] labels = labelsById.get(id);
            if (labels == null || !reported.add(id)) {
                continue; // an older attempt, or not ours
            }
            if (stats.hasMemory() && stats.getMemory().hasWorkingSetBytes()) {
                out.gauge("container_memory_working_set_bytes", stats.getMemory().getWorkingSetBytes().getValue(), labels);
            }
            if (stats.hasCpu() && stats.getCpu().hasUsageCoreNanoSeconds()) {
                CpuReading now = new CpuReading(stats.getCpu().getTimestamp(), stats.getCpu().getUsageCoreNanoSeconds().getValue());
                current.put(id, now);
                CpuReading before = previous.get(id);
                if (before != null && now.timestampNanos() > before.timestampNanos() && now.usageCoreNanos() >= before.usageCoreNanos()) {
                    out.gauge("container_cpu_usage_cores",
                            (double) (now.usageCoreNanos() - before.usageCoreNanos()) / (now.timestampNanos() - before.timestampNanos()),
                            labels);
                }
            }
        }
        previous = current; // forgets containers that are gone
    }

    /** docs/metrics.md: 0 unknown, 1 created, 2 running, 3 exited. */
    static int state(Container c) {
        return switch (c.getState()) {
            case CONTAINER_CREATED -> 1;
            case CONTAINER_RUNNING -> 2;
            case CONTAINER_EXITED -> 3;
            default -> 0;
        };
    }
}
