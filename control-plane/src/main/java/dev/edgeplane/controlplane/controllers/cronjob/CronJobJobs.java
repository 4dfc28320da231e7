package dev.edgeplane.controlplane.controllers.cronjob;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.CronJobNames;
import dev.edgeplane.api.v1.CronJob;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.JobCondition;
import dev.edgeplane.api.v1.JobSpec;
import dev.edgeplane.api.v1.ObjectMeta;
import java.time.Instant;
import java.util.UUID;

/** The Jobs a CronJob makes, and how the CronJob reads their state (Kubernetes: Complete or Failed condition true = finished). */
public final class CronJobJobs {
    /** Annotation on a CronJob's Jobs: its uid, so a Job of an older CronJob of the same name is told apart (Kubernetes: ownerReferences). */
    public static final String CRON_JOB_UID_ANNOTATION = "edgeplane.dev/cronjob-uid";
    public static final String COMPLETE = "Complete";
    public static final String FAILED = "Failed";

    private CronJobJobs() {}

    /**
     * A Job from the CronJob's job_template: labels edgeplane.dev/cronjob=&lt;name&gt; plus the template's,
     * annotations the template's plus the scheduled time (when {@code scheduled} is given) and the
     * CronJob's uid. The uid derives from CronJob uid and name, so a retried create writes the same Job.
     */
    public static Job fromTemplate(CronJob cronJob, String name, Instant scheduled, Instant now) {
        ObjectMeta.Builder meta = ObjectMeta.newBuilder().setName(name).setNamespace(cronJob.getMetadata().getNamespace())
                .setUid(UUID.nameUUIDFromBytes((cronJob.getMetadata().getUid() + "/" + name).getBytes(java.nio.charset.StandardCharsets.UTF_8))
                        .toString())
                .setCreateTime(timestamp(now)).setGeneration(1)
                .putAllLabels(cronJob.getSpec().getJobTemplate().getLabelsMap())
                .putLabels(CronJobNames.CRON_JOB_LABEL, cronJob.getMetadata().getName())
                .putAllAnnotations(cronJob.getSpec().getJobTemplate().getAnnotationsMap())
                .putAnnotations(CRON_JOB_UID_ANNOTATION, cronJob.getMetadata().getUid());
        if (scheduled != null) {
            meta.putAnnotations(CronJobNames.SCHEDULED_TIME_ANNOTATION, scheduled.toString());
        }
        JobSpec spec = cronJob.getSpec().getJobTemplate().getSpec().toBuilder().clearEdgeNode().build();
        return Job.newBuilder().setMetadata(meta).setSpec(spec).build();
    }

    /** True when the Job was made by this CronJob (label and uid). */
    public static boolean ownedBy(Job job, CronJob cronJob) {
        return cronJob.getMetadata().getName().equals(job.getMetadata().getLabelsOrDefault(CronJobNames.CRON_JOB_LABEL, ""))
                && cronJob.getMetadata().getUid().equals(job.getMetadata().getAnnotationsOrDefault(CRON_JOB_UID_ANNOTATION, ""));
    }

    public static boolean condition(Job job, String type) {
        for (JobCondition c : job.getStatus().getConditionsList()) {
            if (c.getType().equals(type) && c.getStatus()) {
                return true;
            }
        }
        return false;
    }

    /** Finished: Complete or Failed. */
    public static boolean finished(Job job) {
        return condition(job, COMPLETE) || condition(job, FAILED);
    }

    /** When it finished (completion_time, else the finishing condition's transition), else its creation. */
    public static Instant finishTime(Job job) {
        if (job.getStatus().hasCompletionTime()) {
            return instant(job.getStatus().getCompletionTime());
        }
        for (JobCondition c : job.getStatus().getConditionsList()) {
            if ((c.getType().equals(COMPLETE) || c.getType().equals(FAILED)) && c.getStatus() && c.hasLastTransitionTime()) {
                return instant(c.getLastTransitionTime());
            }
        }
        return instant(job.getMetadata().getCreateTime());
    }

    /** The scheduled time it was made for, or its creation time. */
    public static Instant scheduledTime(Job job) {
        String at = job.getMetadata().getAnnotationsOrDefault(CronJobNames.SCHEDULED_TIME_ANNOTATION, "");
        if (!at.isEmpty()) {
            try {
                return Instant.parse(at);
            } catch (java.time.format.DateTimeParseException e) {
                // fall through
            }
        }
        return instant(job.getMetadata().getCreateTime());
    }

    static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder().setSeconds(instant.getEpochSecond()).setNanos(instant.getNano()).build();
    }

    static Instant instant(Timestamp t) {
        return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
    }
}
