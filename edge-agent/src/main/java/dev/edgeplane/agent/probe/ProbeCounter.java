package dev.edgeplane.agent.probe;

import java.util.Optional;

/**
 * Turns single probe outcomes into verdicts the way the kubelet's probe worker does: a verdict
 * changes only after {@code successThreshold} successes or {@code failureThreshold} failures in a
 * row. Not thread-safe: one probe worker owns it.
 */
final class ProbeCounter {
    private final int successThreshold;
    private final int failureThreshold;
    private Boolean last;
    private int run;

    ProbeCounter(int successThreshold, int failureThreshold) {
        this.successThreshold = successThreshold;
        this.failureThreshold = failureThreshold;
    }

    /** The verdict this outcome completes (success or failure), or empty while a run is too short. */
    Optional<Boolean> observe(boolean success) {
        if (last != null && last == success) {
            run++;
        } else {
            last = success;
            run = 1;
        }
        if (run < (success ? successThreshold : failureThreshold)) {
            return Optional.empty();
        }
        return Optional.of(success);
    }

    /** Starts counting afresh (after a failure verdict that restarts the container). */
    void reset() {
        last = null;
        run = 0;
    }
}
