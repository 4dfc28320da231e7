package dev.edgeplane.agent.pods;

import java.nio.file.Path;
import java.time.Duration;

/**
 * How the reconciler behaves. Durations are configurable so tests can shrink them.
 *
 * @param nodeName      reported in replica statuses
 * @param logDir        root of the CRI container logs (one dir per pod)
 * @param syncPeriod    the level-triggered loop runs at least this often
 * @param initialBackoff first crash-loop delay (10 s like the kubelet)
 * @param maxBackoff    crash-loop cap (5 min)
 * @param backoffReset  a container that ran this long resets its back-off (10 min)
 * @param workers       pod workers running at once
 * @param probeThreads  probe checks running at once (each takes at most its timeout)
 * @param policy        what this host lets pods do to it (privileged, host paths): its own flags
 * @param logMaxBytes   a container's log file is rotated past this size (the kubelet's containerLogMaxSize, 10 MiB)
 * @param logMaxFiles   log files kept per container, the live one included (containerLogMaxFiles, 5)
 */
public record ReconcilerSettings(String nodeName, Path logDir, Duration syncPeriod, Duration initialBackoff,
                                 Duration maxBackoff, Duration backoffReset, int workers, int probeThreads,
                                 HostPolicy policy, long logMaxBytes, int logMaxFiles) {
    public static final long DEFAULT_LOG_MAX_BYTES = 10L << 20;
    public static final int DEFAULT_LOG_MAX_FILES = 5;
    public static final int DEFAULT_PROBE_THREADS = 8;
    public static final Duration DEFAULT_SYNC_PERIOD = Duration.ofSeconds(3);
    public static final Duration DEFAULT_INITIAL_BACKOFF = Duration.ofSeconds(10);
    public static final Duration DEFAULT_MAX_BACKOFF = Duration.ofMinutes(5);
    public static final Duration DEFAULT_BACKOFF_RESET = Duration.ofMinutes(10);

    public static ReconcilerSettings defaults(String nodeName, Path logDir) {
        return new ReconcilerSettings(nodeName, logDir, DEFAULT_SYNC_PERIOD, DEFAULT_INITIAL_BACKOFF,
                DEFAULT_MAX_BACKOFF, DEFAULT_BACKOFF_RESET, 4, DEFAULT_PROBE_THREADS, HostPolicy.strict(),
                DEFAULT_LOG_MAX_BYTES, DEFAULT_LOG_MAX_FILES);
    }

    public ReconcilerSettings withBackoff(Duration initial, Duration max, Duration reset) {
        return new ReconcilerSettings(nodeName, logDir, syncPeriod, initial, max, reset, workers, probeThreads, policy,
                logMaxBytes, logMaxFiles);
    }

    public ReconcilerSettings withSyncPeriod(Duration period) {
        return new ReconcilerSettings(nodeName, logDir, period, initialBackoff, maxBackoff, backoffReset, workers, probeThreads, policy,
                logMaxBytes, logMaxFiles);
    }

    public ReconcilerSettings withPolicy(HostPolicy allow) {
        return new ReconcilerSettings(nodeName, logDir, syncPeriod, initialBackoff, maxBackoff, backoffReset, workers, probeThreads, allow,
                logMaxBytes, logMaxFiles);
    }

    public ReconcilerSettings withLogRotation(long maxBytes, int maxFiles) {
        return new ReconcilerSettings(nodeName, logDir, syncPeriod, initialBackoff, maxBackoff, backoffReset, workers, probeThreads,
                policy, maxBytes, maxFiles);
    }

    /** The same for the named node (the name is known once the agent has joined). */
    public ReconcilerSettings withNodeName(String name) {
        return new ReconcilerSettings(name, logDir, syncPeriod, initialBackoff, maxBackoff, backoffReset, workers, probeThreads,
                policy, logMaxBytes, logMaxFiles);
    }
}
