package dev.edgeplane.controlplane.sync;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongSupplier;

/**
 * Admission of new Sync streams: a token bucket of {@code perSecond} opens per second (burst of one
 * second's worth). When a thundering herd of agents reconnects at once (a control plane restart), the
 * ones over the rate are told to come back later (RESOURCE_EXHAUSTED with a retry delay, spread so
 * they do not return together), instead of all getting Snapshots at the same moment.
 */
final class ConnectLimiter {
    private final double perSecond;
    private final LongSupplier nanoClock;
    private double tokens;
    private long last;

    ConnectLimiter(int perSecond, LongSupplier nanoClock) {
        this.perSecond = perSecond;
        this.nanoClock = nanoClock;
        this.tokens = perSecond;
        this.last = nanoClock.getAsLong();
    }

    /** Empty when the open may proceed; otherwise how long the agent should wait. */
    synchronized Optional<Duration> admit() {
        if (perSecond <= 0) {
            return Optional.empty(); // unlimited
        }
        long now = nanoClock.getAsLong();
        tokens = Math.min(perSecond, tokens + (now - last) / 1e9 * perSecond);
        last = now;
        if (tokens >= 1) {
            tokens -= 1;
            return Optional.empty();
        }
        // How far behind we are, in seconds of admissions, spread randomly over that window.
        double backlogSeconds = Math.max(1, (1 - tokens) / perSecond);
        long millis = (long) (1000 * backlogSeconds * (1 + ThreadLocalRandom.current().nextDouble()));
        return Optional.of(Duration.ofMillis(Math.min(millis, 30_000)));
    }
}
