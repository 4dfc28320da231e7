package dev.edgeplane.controlplane.sync;

import java.time.Duration;
import java.util.function.DoubleSupplier;
import java.util.function.LongSupplier;

/**
 * Admission of new Sync streams, before their Hello is served (certificate check, resume from the
 * index or etcd, the first Snapshot/Changes). It bounds the opens in flight (admitted, Hello not yet
 * served) by a limit that adapts to what this process sustains: +1 for every open served within the
 * target latency, -30% (at most once per target interval) when one takes longer. Its admission rate
 * then follows from Little's law: limit / mean open latency.
 *
 * <p>A refused agent is given a slot: the refusals are laid out one slot-width (1 / rate) apart
 * after the ones already waiting, so a herd of N agents is told to come back spread over N / rate
 * seconds (the backlog), each with a little jitter inside its slot, instead of all of them retrying
 * together after a flat delay.
 *
 * <p>State is per process (this replica's own capacity); nothing is shared between replicas.
 */
final class ConnectLimiter {
    /**
     * @param initialLimit  opens in flight allowed at start (before any latency is measured)
     * @param maxLimit      the limit never grows past this
     * @param targetLatency an open served slower than this shrinks the limit
     * @param maxRetry      the longest retry delay handed out (a backlog beyond it is told this, spread)
     */
    record Settings(int initialLimit, int maxLimit, Duration targetLatency, Duration maxRetry) {
        static final int MIN_LIMIT = 4;

        Settings {
            if (initialLimit < MIN_LIMIT || maxLimit < initialLimit) {
                throw new IllegalArgumentException("need " + MIN_LIMIT + " <= initialLimit <= maxLimit: " + initialLimit + ", " + maxLimit);
            }
            if (targetLatency.isNegative() || targetLatency.isZero() || maxRetry.compareTo(Duration.ofSeconds(1)) < 0) {
                throw new IllegalArgumentException("targetLatency must be > 0 and maxRetry >= 1 s");
            }
        }
    }

    /** What admit() decided. */
    sealed interface Decision permits Admitted, Refused {}

    /** Go ahead; release the permit once the Hello was served (or the stream ended before that). */
    record Admitted(Permit permit) implements Decision {}

    /** Come back after {@code retryAfter}; {@code backlog} agents were already told to come back before this one. */
    record Refused(Duration retryAfter, long backlog) implements Decision {}

    /** One admitted open; release is idempotent. */
    final class Permit {
        private final long started;
        private boolean released;

        private Permit(long started) {
            this.started = started;
        }

        void release() {
            ConnectLimiter.this.release(this, true);
        }

        /** Frees the slot without taking its time as an open's latency: a stream that never said Hello
         *  says nothing about how fast this process serves opens (and must not shrink the limit). */
        void abandon() {
            ConnectLimiter.this.release(this, false);
        }
    }

    private static final Duration MIN_RETRY = Duration.ofMillis(100);

    private final Settings settings;
    private final LongSupplier nanoClock;
    private final DoubleSupplier random;
    private double limit;
    private int inFlight;
    /** Mean open latency (exponentially weighted), in nanoseconds. */
    private double latencyNanos;
    /** The end of the last slot handed out to a refused agent. */
    private long lastSlotEnd;
    private long lastDecrease;

    /** @param random uniform in [0, 1): the jitter inside a slot */
    ConnectLimiter(Settings settings, LongSupplier nanoClock, DoubleSupplier random) {
        this.settings = settings;
        this.nanoClock = nanoClock;
        this.random = random;
        this.limit = settings.initialLimit();
        this.latencyNanos = settings.targetLatency().toNanos() / 4.0;
        long now = nanoClock.getAsLong();
        this.lastSlotEnd = now;
        this.lastDecrease = now - settings.targetLatency().toNanos();
    }

    synchronized Decision admit() {
        long now = nanoClock.getAsLong();
        if (inFlight < (int) limit) {
            inFlight++;
            return new Admitted(new Permit(now));
        }
        double slotNanos = 1e9 / ratePerSecond();
        long maxRetry = settings.maxRetry().toNanos();
        long earliest = now + MIN_RETRY.toNanos();
        long start = Math.max(lastSlotEnd, earliest);
        long backlog = (long) ((start - earliest) / slotNanos);
        long delay;
        if (start - now + slotNanos <= maxRetry) {
            lastSlotEnd = start + (long) slotNanos;
            delay = start - now + (long) (slotNanos * random.getAsDouble());
        } else {
            // More waiting than maxRetry's worth: spread the excess over the last half of it.
            delay = maxRetry / 2 + (long) (maxRetry / 2 * random.getAsDouble());
        }
        return new Refused(Duration.ofNanos(delay), backlog);
    }

    private synchronized void release(Permit permit, boolean measured) {
        if (permit.released) {
            return;
        }
        permit.released = true;
        inFlight--;
        if (!measured) {
            return;
        }
        long now = nanoClock.getAsLong();
        long latency = now - permit.started;
        latencyNanos = 0.8 * latencyNanos + 0.2 * latency;
        long target = settings.targetLatency().toNanos();
        if (latency <= target) {
            limit = Math.min(settings.maxLimit(), limit + 1);
        } else if (now - lastDecrease >= target) {
            limit = Math.max(Settings.MIN_LIMIT, limit * 0.7);
            lastDecrease = now;
        }
    }

    /** Opens per second this process is serving now: limit / mean latency (Little's law). */
    synchronized double ratePerSecond() {
        return Math.max(1, limit / (Math.max(latencyNanos, 1e5) / 1e9));
    }

    synchronized int limit() {
        return (int) limit;
    }

    synchronized int inFlight() {
        return inFlight;
    }
}
