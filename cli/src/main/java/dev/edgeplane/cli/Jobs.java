package dev.edgeplane.cli;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.CreateJobRequest;
import dev.edgeplane.api.v1.DeleteJobRequest;
import dev.edgeplane.api.v1.GetJobRequest;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.JobCondition;
import dev.edgeplane.api.v1.JobPod;
import dev.edgeplane.api.v1.ListJobsRequest;
import dev.edgeplane.api.v1.ListJobsResponse;
import dev.edgeplane.api.v1.UpdateJobRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** edgectl's Job view: get (kubectl's columns plus STATUS), describe (conditions, pods), apply, delete, and the pod `logs job/NAME` reads. */
final class Jobs {
    static final List<String> HEADER = List.of("NAMESPACE", "NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE");

    private Jobs() {}

    static Job get(ApiClient api, String namespace, String name) {
        return api.jobs().getJob(GetJobRequest.newBuilder().setNamespace(namespace == null ? "default" : namespace).setName(name).build());
    }

    static void print(ApiClient api, PrintWriter out, Output.Format format, String namespace, String name, String selector, Instant now) {
        List<Job> items = new ArrayList<>();
        if (name != null) {
            items.add(get(api, namespace, name));
        } else {
            String page = "";
            do {
                ListJobsResponse r = api.jobs().listJobs(ListJobsRequest.newBuilder().setNamespace(namespace == null ? "" : namespace)
                        .setLabelSelector(selector).setPageToken(page).build());
                items.addAll(r.getJobsList());
                page = r.getNextPageToken();
            } while (!page.isEmpty());
        }
        Output.print(out, format, items, HEADER, m -> row((Job) m, now));
    }

    /** Complete, Failed, Suspended or Running (kubectl 1.28's STATUS column). */
    static String status(Job job) {
        for (String type : List.of("Complete", "Failed", "Suspended")) {
            for (JobCondition c : job.getStatus().getConditionsList()) {
                if (c.getType().equals(type) && c.getStatus()) {
                    return type;
                }
            }
        }
        return "Running";
    }

    static List<String> row(Job job, Instant now) {
        int completions = job.getSpec().hasCompletions() ? job.getSpec().getCompletions() : 1;
        return List.of(job.getMetadata().getNamespace(), job.getMetadata().getName(), status(job),
                job.getStatus().getSucceeded() + "/" + completions, duration(job, now), Durations.age(job.getMetadata().getCreateTime(), now));
    }

    /** From start to completion (or now while it runs), as kubectl shows it. */
    static String duration(Job job, Instant now) {
        if (!job.getStatus().hasStartTime()) {
            return "-";
        }
        Instant end = job.getStatus().hasCompletionTime() ? instant(job.getStatus().getCompletionTime()) : now;
        Duration d = Duration.between(instant(job.getStatus().getStartTime()), end);
        Timestamp asAge = Timestamp.newBuilder().setSeconds(now.minus(d.isNegative() ? Duration.ZERO : d).getEpochSecond()).build();
        return Durations.age(asAge, now);
    }

    private static Instant instant(Timestamp t) {
        return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
    }

    static void describe(PrintWriter out, Job job, Instant now) {
        var m = job.getMetadata();
        var spec = job.getSpec();
        var s = job.getStatus();
        out.println("Name:            " + m.getName());
        out.println("Namespace:       " + m.getNamespace());
        out.println("Labels:          " + m.getLabelsMap());
        out.println("Created:         " + Durations.age(m.getCreateTime(), now) + " ago (generation " + m.getGeneration() + ")");
        out.println("Parallelism:     " + (spec.hasParallelism() ? spec.getParallelism() : 1) + (spec.getSuspend() ? " (suspended)" : ""));
        out.println("Completions:     " + (spec.hasCompletions() ? spec.getCompletions() : 1));
        out.println("Backoff limit:   " + (spec.hasBackoffLimit() ? spec.getBackoffLimit() : 6));
        if (spec.hasActiveDeadlineSeconds()) {
            out.println("Deadline:        " + spec.getActiveDeadlineSeconds() + " s");
        }
        if (spec.hasTtlSecondsAfterFinished()) {
            out.println("TTL after done:  " + spec.getTtlSecondsAfterFinished() + " s");
        }
        if (!spec.getNodeSelectorMap().isEmpty()) {
            out.println("Node selector:   " + spec.getNodeSelectorMap());
        }
        out.println("Start time:      " + (s.hasStartTime() ? instant(s.getStartTime()).toString() : "-"));
        if (s.hasCompletionTime()) {
            out.println("Completed at:    " + instant(s.getCompletionTime()) + " (duration " + duration(job, now) + ")");
        }
        out.println("Pods statuses:   " + s.getActive() + " active / " + s.getSucceeded() + " succeeded / " + s.getFailed() + " failed");
        out.println("Conditions:");
        if (s.getConditionsCount() == 0) {
            out.println("  <none>");
        }
        for (JobCondition c : s.getConditionsList()) {
            out.println("  " + c.getType() + "=" + (c.getStatus() ? "True" : "False") + (c.getReason().isEmpty() ? "" : " " + c.getReason())
                    + (c.getMessage().isEmpty() ? "" : ": " + c.getMessage()));
        }
        out.println("Pods:");
        if (s.getPodsCount() == 0) {
            out.println("  <none>");
        } else {
            Output.table(out, List.of("NAME", "NODE", "PHASE", "EXIT", "AGE", "MESSAGE"), s.getPodsList().stream().map(p -> List.of(
                    p.getName(), p.getNode(), p.getPhase().name(), Integer.toString(p.getExitCode()), Durations.age(p.getStartTime(), now),
                    p.getMessage())).toList());
        }
    }

    /** The pod `logs job/NAME` reads: the most recent one started (kubectl picks one of the Job's pods). */
    static String logsPod(ApiClient api, String namespace, String name) {
        Job job = get(api, namespace, name);
        return job.getStatus().getPodsList().stream().filter(p -> p.hasStartTime() && !p.getNode().isEmpty())
                .max(Comparator.comparingLong((JobPod p) -> p.getStartTime().getSeconds()).thenComparingInt(p -> p.getStartTime().getNanos()))
                .map(JobPod::getName)
                .orElseThrow(() -> new UsageException("job " + namespace + "/" + name + " has no pods yet"));
    }

    /** Create if absent, else update labels and the mutable spec from the current resource_version. */
    static String apply(ApiClient api, Job job) {
        String ns = job.getMetadata().getNamespace().isEmpty() ? "default" : job.getMetadata().getNamespace();
        String id = "job/" + ns + "/" + job.getMetadata().getName();
        Job current;
        try {
            current = get(api, ns, job.getMetadata().getName());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
            api.jobs().createJob(CreateJobRequest.newBuilder().setJob(job).build());
            return id + " created";
        }
        if (current.getSpec().equals(job.getSpec()) && current.getMetadata().getLabelsMap().equals(job.getMetadata().getLabelsMap())) {
            return id + " unchanged";
        }
        api.jobs().updateJob(UpdateJobRequest.newBuilder().setJob(job.toBuilder().setMetadata(job.getMetadata().toBuilder()
                .setNamespace(ns).setResourceVersion(current.getMetadata().getResourceVersion()))).build());
        return id + " configured";
    }

    static void delete(ApiClient api, String namespace, String name) {
        api.jobs().deleteJob(DeleteJobRequest.newBuilder().setNamespace(namespace).setName(name).build());
    }
}
