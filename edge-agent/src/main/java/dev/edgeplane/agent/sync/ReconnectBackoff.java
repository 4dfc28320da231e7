package dev.edgeplane.agent.sync;

import java.time.Duration;
import java.util.random.RandomGenerator;

/**
 * Full-jitter exponential back-off (AWS architecture blog): the n-th retry waits a uniformly random
 * time in [0, min(cap, base * 2^n)], so a thousand agents that lost the same control plane do not
 * come back in lock step. The first retry is under the base.
 */
public final class ReconnectBackoff {
    private final Duration base;
    private final Duration cap;
    private final RandomGenerator random;
    private int attempt;

    public ReconnectBackoff(Duration base, Duration cap, RandomGenerator random) {
        this.base = base;
        this.cap = cap;
        this.random = random;
    }

    public Duration next() {
        long ceiling = Math.min(cap.toMillis(), base.toMillis() << Math.min(attempt, 20));
        attempt++;
        return Duration.ofMillis(random.nextLong(Math.max(1, ceiling) + 1));
    }

    public void reset() {
        attempt = 0;
    }
}
