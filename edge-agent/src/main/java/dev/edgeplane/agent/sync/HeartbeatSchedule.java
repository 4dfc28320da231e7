package dev.edgeplane.agent.sync;

import dev.edgeplane.api.v1.NodeCondition;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * When the agent sends a Heartbeat: at once (within {@link #checkEvery}) when its replica counts or its
 * node conditions changed since the last one it sent, else once per {@code period}. The control plane learns that a node is
 * alive from its Sync stream, not from heartbeats; a heartbeat carries the live counts
 * ({@code edgectl get nodes}: REPLICAS, HEARTBEAT). So an idle node costs one small call a period (the
 * idle-traffic budget is ~50 bit/s a node, TLS included), and a change is still told within seconds.
 * Not thread-safe: one timer thread drives it.
 */
public final class HeartbeatSchedule {
    /** How often the counts are looked at (locally, costing nothing on the wire). */
    static final Duration CHECK = Duration.ofSeconds(10);

    private final Duration period;
    private Instant lastSent;
    private int running = -1;
    private int desired = -1;
    private List<NodeCondition> conditions = List.of();

    public HeartbeatSchedule(Duration period) {
        if (period.isNegative() || period.isZero()) {
            throw new IllegalArgumentException("heartbeat period must be positive, not " + period);
        }
        this.period = period;
    }

    /** The timer's period: the counts are compared this often. */
    public static Duration checkEvery(Duration period) {
        return period.compareTo(CHECK) < 0 ? period : CHECK;
    }

    /** Whether a heartbeat with these counts is due now. */
    public boolean due(Instant now, int running, int desired) {
        return due(now, running, desired, List.of());
    }

    /** Whether a heartbeat with these counts and conditions is due now. */
    public boolean due(Instant now, int running, int desired, List<NodeCondition> conditions) {
        if (lastSent == null || running != this.running || desired != this.desired || !conditions.equals(this.conditions)) {
            return true;
        }
        // Half a check early rather than a whole check late: the gap stays close to the period.
        return !now.isBefore(lastSent.plus(period).minus(checkEvery(period).dividedBy(2)));
    }

    public void sent(Instant now, int running, int desired) {
        sent(now, running, desired, List.of());
    }

    public void sent(Instant now, int running, int desired, List<NodeCondition> conditions) {
        this.lastSent = now;
        this.running = running;
        this.desired = desired;
        this.conditions = List.copyOf(conditions);
    }
}
