package dev.edgeplane.agent.pods;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The kubelet's crash-loop back-off: the first restart is immediate, then each one waits for the
 * current delay after the container finished, doubling from the initial delay up to the cap. A
 * container that ran long enough (the reset period) starts over.
 */
public final class RestartBackoff {
    private record Entry(Duration delay, Instant last) {}

    private final Duration initial;
    private final Duration max;
    private final Map<String, Entry> entries = new ConcurrentHashMap<>();

    public RestartBackoff(Duration initial, Duration max) {
        this.initial = initial;
        this.max = max;
    }

    /** How much longer to wait before restarting something that finished at {@code finishedAt}. */
    public Duration remaining(String key, Instant finishedAt, Instant now) {
        Entry entry = entries.get(key);
        if (entry == null) {
            return Duration.ZERO;
        }
        Duration left = Duration.between(now, finishedAt.plus(entry.delay));
        return left.isNegative() ? Duration.ZERO : left;
    }

    /** How much longer to wait after the last recorded attempt (for retries that have no finish time). */
    public Duration remaining(String key, Instant now) {
        Entry entry = entries.get(key);
        return entry == null ? Duration.ZERO : remaining(key, entry.last, now);
    }

    /** The delay the next restart will wait for. */
    public Duration currentDelay(String key) {
        Entry entry = entries.get(key);
        return entry == null ? Duration.ZERO : entry.delay;
    }

    /** Records a restart (or failed attempt) now and doubles the delay for the next one. */
    public void next(String key, Instant now) {
        entries.compute(key, (k, entry) -> new Entry(entry == null ? initial : min(entry.delay.multipliedBy(2), max), now));
    }

    public void reset(String key) {
        entries.remove(key);
    }

    /** Forgets every entry whose key starts with the prefix (all containers of a replica). */
    public void resetPrefix(String prefix) {
        entries.keySet().removeIf(key -> key.startsWith(prefix));
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }
}
