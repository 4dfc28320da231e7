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
 * Other traffic the control plane acknowledged (a metrics batch: the control plane counts it as hearing
 * from the node) stands in for the periodic heartbeat, for up to {@link #MAX_STAND_IN} periods in a row:
 * a node sending metrics pays for one exchange a period, not two, and still hears a heartbeat's answer
 * (a certificate renewal asked for during a CA rollover) every few minutes. Not thread-safe: one timer
 * thread drives {@link #due} and {@link #sent}; {@link #heard} may come from any thread.
 */
public final class HeartbeatSchedule {
    /** How often the counts are looked at (locally, costing nothing on the wire). */
    static final Duration CHECK = Duration.ofSeconds(10);
    /** Periods in a row that acknowledged other traffic may replace the heartbeat. */
    static final int MAX_STAND_IN = 5;

    private final Duration period;
    private Instant lastSent;
    private volatile Instant lastHeard;
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
        if (news(running, desired, conditions)) {
            return true;
        }
        Duration slack = checkEvery(period).dividedBy(2);
        Instant heard = lastHeard;
        if (heard != null && heard.isAfter(lastSent)) {
            // Stand-in traffic keeps its own cadence, typically the period itself (a metrics batch a
            // minute): wait half a check past it, so the check just before its next ack does not race
            // it with a heartbeat. The limit stays half a check early, like a plain period.
            Instant standIn = heard.plus(period).plus(slack);
            Instant limit = lastSent.plus(period.multipliedBy(MAX_STAND_IN)).minus(slack);
            return !now.isBefore(standIn.isBefore(limit) ? standIn : limit);
        }
        // Half a check early rather than a whole check late: the gap stays close to the period.
        return !now.isBefore(lastSent.plus(period).minus(slack));
    }

    /**
     * Whether these counts and conditions are news to the control plane: none was sent on this stream
     * yet, or they changed since the last one sent. A heartbeat due for news follows the status reports
     * that made it (so it may ride on their stream); one due for the period alone is the node's
     * keep-alive.
     */
    public boolean news(int running, int desired, List<NodeCondition> conditions) {
        return lastSent == null || running != this.running || desired != this.desired || !conditions.equals(this.conditions);
    }

    /** The control plane acknowledged other traffic of this node at {@code at}. */
    public void heard(Instant at) {
        lastHeard = at;
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
