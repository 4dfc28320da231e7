package dev.edgeplane.controlplane.api;

import com.google.rpc.BadRequest;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.JobSpec;
import dev.edgeplane.api.v1.ObjectMeta;

/**
 * A CronJob's job_template.spec checked exactly as JobService checks a Job's spec ({@link JobApi#validate}:
 * bounds, restart policy, the template as an App's), its field names rewritten under the CronJob's.
 */
public final class JobSpecValidation {
    public static final int DEFAULT_BACKOFF_LIMIT = 6;

    private JobSpecValidation() {}

    /**
     * Adds {@code spec}'s problems to {@code v}, fields named under {@code field} (e.g.
     * "cron_job.spec.job_template.spec"): exactly JobService's rules ({@link JobApi#validate}), renamed.
     */
    public static void validate(Validation v, String field, JobSpec spec, ApiLimits limits) {
        int templateBytes = spec.getTemplate().getSerializedSize();
        if (templateBytes > limits.maxTemplateBytes()) {
            throw Validation.exhausted("edgeplane.limits.max-template-bytes", field + ".template is " + templateBytes
                    + " bytes serialized, over the limit of " + limits.maxTemplateBytes());
        }
        Job asJob = Job.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("job").setNamespace("default")).setSpec(spec).build();
        for (BadRequest.FieldViolation violation : JobApi.validate(asJob, limits).violations()) {
            String f = violation.getField();
            v.add(f.startsWith("job.spec") ? field + f.substring("job.spec".length()) : field, violation.getDescription());
        }
    }

    /** backoff_limit with its default. */
    public static int backoffLimit(JobSpec spec) {
        return spec.hasBackoffLimit() ? spec.getBackoffLimit() : DEFAULT_BACKOFF_LIMIT;
    }
}
