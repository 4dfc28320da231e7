package dev.edgeplane.api;

import dev.edgeplane.api.v1.Assignment;

/**
 * How a Job's pods appear among the replicas: each is an assignment whose {@code app} is
 * {@code "job.<job name>"} (an App name is a DNS label and never holds a dot, so no App and no Job
 * share a template prefix, an index entry or a status path) and whose replica is
 * {@code "<job name>-<5 characters>"} with at least one letter (an App's REPLICATED replica ends in an
 * ordinal, all digits).
 */
public final class JobPods {
    public static final String APP_PREFIX = "job.";

    private JobPods() {}

    /** Assignment.app of the Job's pods. */
    public static String appOf(String job) {
        return APP_PREFIX + job;
    }

    public static boolean isJobApp(String app) {
        return app.startsWith(APP_PREFIX);
    }

    /** The Job's name from Assignment.app, or null when it is an App's. */
    public static String jobOf(String app) {
        return isJobApp(app) ? app.substring(APP_PREFIX.length()) : null;
    }

    /** "namespace/app" keys as the App controller uses them: true for a Job's pods. */
    public static boolean isJobAppKey(String appKey) {
        int slash = appKey.indexOf('/');
        return slash >= 0 && isJobApp(appKey.substring(slash + 1));
    }

    /** A pod (an App's replica or a Job's pod), not a volume, snapshot, prefetch or policy entry. */
    public static boolean isPod(Assignment a) {
        return !a.hasVolumeSnapshot() && !a.hasVolumeTask() && !a.hasImagePull() && !a.hasVolumeSnapshotPolicy() && !a.hasCronJob();
    }

    /** A pod that reserves its requests and host ports on its node: every pod but a Job's counted (finished) one. */
    public static boolean occupiesNode(Assignment a) {
        return isPod(a) && !a.getJobPodCounted();
    }
}
