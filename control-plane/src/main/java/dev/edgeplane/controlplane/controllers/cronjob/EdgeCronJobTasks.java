package dev.edgeplane.controlplane.controllers.cronjob;

import dev.edgeplane.api.CronJobNames;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.CronJob;
import dev.edgeplane.api.v1.CronJobSpec;
import dev.edgeplane.api.v1.EdgeCronJobTask;
import dev.edgeplane.api.v1.JobSpec;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.controlplane.api.JobSpecValidation;
import dev.edgeplane.controlplane.store.Keys;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A run_on_edge CronJob reaches each node its job_template.spec.node_selector selects (READY or not:
 * an offline node fires on its own) as one entry of that node's desired state, an Assignment carrying
 * an {@link EdgeCronJobTask} at /edgeplane/assignments/&lt;node&gt;/&lt;ns&gt;/cronjob.&lt;name&gt;, as a
 * VolumeSnapshotPolicy's does. Pure.
 */
public final class EdgeCronJobTasks {
    public static final int DEFAULT_SUCCESSFUL_HISTORY = 3;
    public static final int DEFAULT_FAILED_HISTORY = 1;

    private EdgeCronJobTasks() {}

    public static String key(String node, String namespace, String cronJob) {
        return Keys.assignment(node, namespace, CronJobNames.ENTRY_PREFIX + cronJob);
    }

    /** "namespace/cronjob" of a CronJob entry, or null for any other entry. */
    public static String cronJobOf(Assignment entry) {
        return entry.hasCronJob() ? entry.getNamespace() + "/" + entry.getCronJob().getName() : null;
    }

    public static int successfulLimit(CronJobSpec spec) {
        return spec.hasSuccessfulJobsHistoryLimit() ? spec.getSuccessfulJobsHistoryLimit() : DEFAULT_SUCCESSFUL_HISTORY;
    }

    public static int failedLimit(CronJobSpec spec) {
        return spec.hasFailedJobsHistoryLimit() ? spec.getFailedJobsHistoryLimit() : DEFAULT_FAILED_HISTORY;
    }

    /** The nodes the node_selector selects (all of them for an empty one), sorted. */
    public static List<String> selectedNodes(CronJob cronJob, Collection<Node> nodes) {
        Map<String, String> selector = cronJob.getSpec().getJobTemplate().getSpec().getNodeSelectorMap();
        return nodes.stream().filter(n -> selector.entrySet().stream()
                        .allMatch(e -> e.getValue().equals(n.getMetadata().getLabelsMap().get(e.getKey()))))
                .map(n -> n.getMetadata().getName()).sorted().toList();
    }

    public static EdgeCronJobTask task(CronJob cronJob) {
        CronJobSpec spec = cronJob.getSpec();
        JobSpec job = spec.getJobTemplate().getSpec();
        return EdgeCronJobTask.newBuilder().setName(cronJob.getMetadata().getName()).setUid(cronJob.getMetadata().getUid())
                .setGeneration(cronJob.getMetadata().getGeneration()).setSchedule(spec.getSchedule()).setTimeZone(spec.getTimeZone())
                .setConcurrencyPolicyValue(spec.getConcurrencyPolicyValue())
                .setStartingDeadlineSeconds(spec.hasStartingDeadlineSeconds() ? spec.getStartingDeadlineSeconds() : 0)
                .setSuspend(spec.getSuspend()).setSuccessfulJobsHistoryLimit(successfulLimit(spec))
                .setFailedJobsHistoryLimit(failedLimit(spec)).setTemplate(job.getTemplate())
                .setBackoffLimit(JobSpecValidation.backoffLimit(job))
                .setActiveDeadlineSeconds(job.hasActiveDeadlineSeconds() ? job.getActiveDeadlineSeconds() : 0).build();
    }

    /** Node -> its entry, for a run_on_edge CronJob (none for any other). */
    public static Map<String, Assignment> tasks(CronJob cronJob, Collection<Node> nodes) {
        Map<String, Assignment> tasks = new TreeMap<>();
        if (!cronJob.getSpec().getRunOnEdge()) {
            return tasks;
        }
        EdgeCronJobTask task = task(cronJob);
        for (String node : selectedNodes(cronJob, nodes)) {
            tasks.put(node, Assignment.newBuilder().setNode(node).setNamespace(cronJob.getMetadata().getNamespace())
                    .setReplica(CronJobNames.ENTRY_PREFIX + cronJob.getMetadata().getName()).setCronJob(task).build());
        }
        return tasks;
    }
}
