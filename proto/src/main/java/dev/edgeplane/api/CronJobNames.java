package dev.edgeplane.api;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.HexFormat;

/**
 * The deterministic names of what a CronJob makes, shared by the control plane and the agent: the
 * same CronJob and scheduled time always give the same name, so a restarted or failed-over maker
 * finds what it already made instead of making it twice.
 */
public final class CronJobNames {
    /** Label on every Job a CronJob made: the CronJob's name (Kubernetes puts an ownerReference). */
    public static final String CRON_JOB_LABEL = "edgeplane.dev/cronjob";
    /** Annotation: the scheduled time (RFC 3339) a Job was made for (Kubernetes' batch.kubernetes.io/cronjob-scheduled-timestamp). */
    public static final String SCHEDULED_TIME_ANNOTATION = "edgeplane.dev/cronjob-scheduled-time";
    /** Annotation: "manual" on a Job made by TriggerCronJob. */
    public static final String CREATED_BY_ANNOTATION = "edgeplane.dev/created-by";
    /** Label on a run_on_edge CronJob's Jobs: the node that ran it. */
    public static final String EDGE_NODE_LABEL = "edgeplane.dev/edge-node";
    /** The node's desired-state entry of a run_on_edge CronJob: "cronjob.&lt;name&gt;" (a dot: never a replica name). */
    public static final String ENTRY_PREFIX = "cronjob.";
    /** A run's replica on the node: "cronrun.&lt;...&gt;" (a dot: never a replica the control plane assigns). */
    public static final String RUN_PREFIX = "cronrun.";
    public static final int MAX_NAME = 63;

    private CronJobNames() {}

    /**
     * Kubernetes' "&lt;cronjob&gt;-&lt;scheduled unix minutes&gt;"; unix seconds when the schedule has a
     * seconds field (two slots in one minute must not share a name).
     */
    public static String scheduledJob(String cronJob, Instant scheduled, boolean seconds) {
        long stamp = seconds ? scheduled.getEpochSecond() : Math.floorDiv(scheduled.getEpochSecond(), 60);
        return shorten(cronJob, Long.toString(stamp));
    }

    /** A run_on_edge run's Job: "&lt;cronjob&gt;-&lt;node&gt;-&lt;scheduled unix seconds&gt;". */
    public static String edgeJob(String cronJob, String node, Instant scheduled) {
        return shorten(cronJob + "-" + node, Long.toString(scheduled.getEpochSecond()));
    }

    /** A run's replica on its node (unique there per CronJob and slot). */
    public static String runReplica(String cronJob, Instant scheduled) {
        return RUN_PREFIX + shorten(cronJob, Long.toString(scheduled.getEpochSecond()));
    }

    /**
     * "&lt;head&gt;-&lt;suffix&gt;"; past 63 characters the head is cut and followed by 8 hex digits of
     * its SHA-256, so distinct heads stay distinct. DNS labels in, a DNS label out.
     */
    static String shorten(String head, String suffix) {
        String full = head + "-" + suffix;
        if (full.length() <= MAX_NAME) {
            return full;
        }
        String hash = HexFormat.of().formatHex(sha256(head)).substring(0, 8);
        String cut = head.substring(0, MAX_NAME - suffix.length() - hash.length() - 2);
        while (cut.endsWith("-")) {
            cut = cut.substring(0, cut.length() - 1);
        }
        return cut + "-" + hash + "-" + suffix;
    }

    private static byte[] sha256(String text) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
