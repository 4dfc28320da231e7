package dev.edgeplane.cli;

import dev.edgeplane.api.schedule.CronSchedule;
import dev.edgeplane.api.v1.CreateCronJobRequest;
import dev.edgeplane.api.v1.CronJob;
import dev.edgeplane.api.v1.DeleteCronJobRequest;
import dev.edgeplane.api.v1.GetCronJobRequest;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.ListCronJobsRequest;
import dev.edgeplane.api.v1.ListCronJobsResponse;
import dev.edgeplane.api.v1.TriggerCronJobRequest;
import dev.edgeplane.api.v1.UpdateCronJobRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** edgectl's CronJob view: get (kubectl's columns plus EDGE), describe (next times, active Jobs, edge nodes), apply, delete, trigger. */
final class CronJobs {
    static final List<String> HEADER =
            List.of("NAMESPACE", "NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE", "EDGE");

    private CronJobs() {}

    static CronJob get(ApiClient api, String namespace, String name) {
        return api.cronJobs().getCronJob(GetCronJobRequest.newBuilder().setNamespace(namespace == null ? "default" : namespace)
                .setName(name).build());
    }

    static void print(ApiClient api, PrintWriter out, Output.Format format, String namespace, String name, String selector, Instant now) {
        List<CronJob> items = new ArrayList<>();
        if (name != null) {
            items.add(get(api, namespace, name));
        } else {
            String page = "";
            do {
                ListCronJobsResponse r = api.cronJobs().listCronJobs(ListCronJobsRequest.newBuilder()
                        .setNamespace(namespace == null ? "" : namespace).setLabelSelector(selector).setPageToken(page).build());
                items.addAll(r.getCronJobsList());
                page = r.getNextPageToken();
            } while (!page.isEmpty());
        }
        Output.print(out, format, items, HEADER, m -> row((CronJob) m, now));
    }

    static List<String> row(CronJob c, Instant now) {
        var spec = c.getSpec();
        var s = c.getStatus();
        return List.of(c.getMetadata().getNamespace(), c.getMetadata().getName(), spec.getSchedule(),
                spec.getTimeZone().isEmpty() ? "UTC" : spec.getTimeZone(), Boolean.toString(spec.getSuspend()),
                Integer.toString(s.getActiveCount()), s.hasLastScheduleTime() ? Durations.age(s.getLastScheduleTime(), now) + " ago" : "<none>",
                Durations.age(c.getMetadata().getCreateTime(), now), spec.getRunOnEdge() ? s.getEdgeNodesCount() + " nodes" : "-");
    }

    /** The next {@code count} times of the schedule after {@code now}, in its zone. */
    static List<String> nextTimes(CronJob c, Instant now, int count) {
        List<String> next = new ArrayList<>();
        try {
            CronSchedule schedule = CronSchedule.parse(c.getSpec().getSchedule(), c.getSpec().getTimeZone());
            Instant t = now;
            for (int i = 0; i < count; i++) {
                var slot = schedule.next(t);
                if (slot.isEmpty()) {
                    break;
                }
                t = slot.get();
                next.add(t.atZone(schedule.zone()).toOffsetDateTime().toString());
            }
        } catch (CronSchedule.InvalidCronException e) {
            next.add("- (" + e.getMessage() + ")");
        }
        return next;
    }

    static void describe(PrintWriter out, CronJob c, Instant now) {
        var m = c.getMetadata();
        var spec = c.getSpec();
        var s = c.getStatus();
        out.println("Name:               " + m.getName());
        out.println("Namespace:          " + m.getNamespace());
        out.println("Labels:             " + m.getLabelsMap());
        out.println("Created:            " + Durations.age(m.getCreateTime(), now) + " ago (generation " + m.getGeneration() + ")");
        out.println("Schedule:           " + spec.getSchedule() + " (" + (spec.getTimeZone().isEmpty() ? "UTC" : spec.getTimeZone()) + ")"
                + (spec.getSuspend() ? ", SUSPENDED" : ""));
        out.println("Next times:         " + String.join(", ", nextTimes(c, now, 3))
                + (spec.getRunOnEdge() ? " (fired by each node on its own clock)" : ""));
        out.println("Concurrency Policy: " + (spec.getConcurrencyPolicyValue() == 0 ? "ALLOW" : spec.getConcurrencyPolicy().name()));
        out.println("Starting Deadline:  " + (spec.hasStartingDeadlineSeconds() ? spec.getStartingDeadlineSeconds() + "s" : "<unset>"));
        out.println("History Limits:     " + (spec.hasSuccessfulJobsHistoryLimit() ? spec.getSuccessfulJobsHistoryLimit() : 3) + " successful, "
                + (spec.hasFailedJobsHistoryLimit() ? spec.getFailedJobsHistoryLimit() : 1) + " failed"
                + (spec.getRunOnEdge() ? " (per node)" : ""));
        out.println("Last Schedule:      " + (s.hasLastScheduleTime() ? Durations.age(s.getLastScheduleTime(), now) + " ago" : "<none>"));
        out.println("Last Successful:    " + (s.hasLastSuccessfulTime() ? Durations.age(s.getLastSuccessfulTime(), now) + " ago" : "<none>"));
        out.println("Active Jobs:        " + (s.getActiveCount() == 0 ? "<none>" : String.join(", ", s.getActiveList())));
        if (spec.getRunOnEdge()) {
            out.println("Run On Edge:        yes, node selector " + spec.getJobTemplate().getSpec().getNodeSelectorMap());
            out.println("Edge Nodes:         " + (s.getEdgeNodesCount() == 0 ? "<none>" : String.join(", ", s.getEdgeNodesList())));
        }
    }

    /** Create if absent, else update labels and spec from the current resource_version. */
    static String apply(ApiClient api, CronJob cronJob) {
        String ns = cronJob.getMetadata().getNamespace().isEmpty() ? "default" : cronJob.getMetadata().getNamespace();
        String id = "cronjob/" + ns + "/" + cronJob.getMetadata().getName();
        CronJob current;
        try {
            current = get(api, ns, cronJob.getMetadata().getName());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
            api.cronJobs().createCronJob(CreateCronJobRequest.newBuilder().setCronJob(cronJob).build());
            return id + " created";
        }
        if (current.getSpec().equals(cronJob.getSpec()) && current.getMetadata().getLabelsMap().equals(cronJob.getMetadata().getLabelsMap())) {
            return id + " unchanged";
        }
        api.cronJobs().updateCronJob(UpdateCronJobRequest.newBuilder().setCronJob(cronJob.toBuilder()
                .setMetadata(cronJob.getMetadata().toBuilder().setNamespace(ns)
                        .setResourceVersion(current.getMetadata().getResourceVersion()))).build());
        return id + " configured";
    }

    static void delete(ApiClient api, String namespace, String name) {
        api.cronJobs().deleteCronJob(DeleteCronJobRequest.newBuilder().setNamespace(namespace).setName(name).build());
    }

    /** `edgectl create job NAME --from=cronjob/CJ`. */
    static Job trigger(ApiClient api, String namespace, String cronJob, String jobName) {
        return api.cronJobs().triggerCronJob(TriggerCronJobRequest.newBuilder().setNamespace(namespace).setName(cronJob)
                .setJobName(jobName).build());
    }
}
