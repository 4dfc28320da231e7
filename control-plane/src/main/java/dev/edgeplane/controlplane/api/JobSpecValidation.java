package dev.edgeplane.controlplane.api;

import com.google.rpc.BadRequest;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.JobSpec;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;

/**
 * A JobSpec's bounds as jobs.proto states them, for a Job and for a CronJob's job_template.spec.
 * Kept in a neutral place so that JobService and CronJobService share one validator. The pod
 * template, node selector and tolerations are checked exactly as an App's are ({@link AppValidator},
 * its field names rewritten under {@code field}).
 */
public final class JobSpecValidation {
    public static final int DEFAULT_BACKOFF_LIMIT = 6;
    public static final int MAX_BACKOFF_LIMIT = 10_000;
    public static final long MAX_SECONDS = 10L * 366 * 24 * 3600;

    private JobSpecValidation() {}

    /** Adds {@code spec}'s problems to {@code v}, fields named under {@code field} (e.g. "cron_job.spec.job_template.spec"). */
    public static void validate(Validation v, String field, JobSpec spec, ApiLimits limits) {
        if (spec.hasParallelism() && (spec.getParallelism() < 0 || spec.getParallelism() > limits.maxReplicas())) {
            v.add(field + ".parallelism", "must be 0 to " + limits.maxReplicas() + " (edgeplane.limits.max-replicas), got " + spec.getParallelism());
        }
        if (spec.hasCompletions() && (spec.getCompletions() < 1 || spec.getCompletions() > limits.maxReplicas())) {
            v.add(field + ".completions", "must be 1 to " + limits.maxReplicas() + " (edgeplane.limits.max-replicas), got " + spec.getCompletions());
        }
        if (spec.hasBackoffLimit() && (spec.getBackoffLimit() < 0 || spec.getBackoffLimit() > MAX_BACKOFF_LIMIT)) {
            v.add(field + ".backoff_limit", "must be 0 to " + MAX_BACKOFF_LIMIT + ", got " + spec.getBackoffLimit());
        }
        if (spec.hasActiveDeadlineSeconds() && (spec.getActiveDeadlineSeconds() < 1 || spec.getActiveDeadlineSeconds() > MAX_SECONDS)) {
            v.add(field + ".active_deadline_seconds", "must be 1 to " + MAX_SECONDS + " (10 years), got " + spec.getActiveDeadlineSeconds());
        }
        if (spec.hasTtlSecondsAfterFinished() && (spec.getTtlSecondsAfterFinished() < 0 || spec.getTtlSecondsAfterFinished() > MAX_SECONDS)) {
            v.add(field + ".ttl_seconds_after_finished", "must be 0 to " + MAX_SECONDS + " (10 years), got " + spec.getTtlSecondsAfterFinished());
        }
        PodTemplate.RestartPolicy policy = spec.getTemplate().getRestartPolicy();
        if (policy != PodTemplate.RestartPolicy.NEVER && policy != PodTemplate.RestartPolicy.ON_FAILURE) {
            v.add(field + ".template.restart_policy", "must be NEVER or ON_FAILURE for a Job, got " + policy);
        }
        int templateBytes = spec.getTemplate().getSerializedSize();
        if (templateBytes > limits.maxTemplateBytes()) {
            throw Validation.exhausted("edgeplane.limits.max-template-bytes", field + ".template is " + templateBytes
                    + " bytes serialized, over the limit of " + limits.maxTemplateBytes());
        }
        // The template, selector and tolerations are an App's: validate them as one and rename the fields.
        App asApp = App.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("job").setNamespace("default"))
                .setSpec(AppSpec.newBuilder().setReplicas(1).setTemplate(spec.getTemplate())
                        .putAllNodeSelector(spec.getNodeSelectorMap()).addAllTolerations(spec.getTolerationsList())
                        .setRescheduleAfterUnreachable(spec.getRescheduleAfterUnreachable()))
                .build();
        for (BadRequest.FieldViolation violation : AppValidator.validate(asApp, limits).violations()) {
            String f = violation.getField();
            v.add(f.startsWith("app.spec") ? field + f.substring("app.spec".length()) : field, violation.getDescription());
        }
    }

    /** backoff_limit with its default. */
    public static int backoffLimit(JobSpec spec) {
        return spec.hasBackoffLimit() ? spec.getBackoffLimit() : DEFAULT_BACKOFF_LIMIT;
    }
}
