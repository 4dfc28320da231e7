package dev.edgeplane.controlplane.controllers.app;

import java.time.Duration;

/**
 * How long node changes and replica status changes gather before they wake an App: a multiple of
 * what the App's last plan took, within [{@code min}, {@code max}]. A plan costs O(the App's
 * replicas), and while a large App's replicas report in (thousands a second after a fleet-wide
 * change) or its nodes reconnect, a fixed window would have a worker re-plan it back to back; this
 * bounds the share of a worker such changes can take to about 1/(1 + multiple), and a small App
 * still reacts within {@code min}.
 *
 * @param min      the shortest window (edgeplane.scheduler.node-change-batch)
 * @param max      the longest (edgeplane.scheduler.max-wake-batch)
 * @param multiple times the last plan's duration (edgeplane.scheduler.wake-batch-cost-multiple)
 */
record WakeBatch(Duration min, Duration max, int multiple) {
    WakeBatch {
        if (multiple < 0) {
            throw new IllegalArgumentException("wake-batch-cost-multiple must be 0 or more, got " + multiple);
        }
        if (max.compareTo(min) < 0) {
            max = min;
        }
    }

    /** The window for an App whose last plan took {@code lastPlanNanos} (0: not planned yet). */
    Duration window(long lastPlanNanos) {
        long nanos = Math.max(0, lastPlanNanos);
        long wanted = nanos > Long.MAX_VALUE / Math.max(1, multiple) ? Long.MAX_VALUE : nanos * multiple;
        return Duration.ofNanos(Math.min(max.toNanos(), Math.max(min.toNanos(), wanted)));
    }
}
