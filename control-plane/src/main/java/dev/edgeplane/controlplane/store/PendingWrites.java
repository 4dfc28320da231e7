package dev.edgeplane.controlplane.store;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BinaryOperator;

/**
 * Changes waiting to be written by a {@link BatchingWriter}, one per key: a change to a key already waiting merges into it
 * ({@code then}: the later one wins), so the queue never holds more than one entry per key and a
 * burst costs one write per key. Bounded: past {@code capacity} keys, {@link #offer} waits (at most
 * {@code offerWait}, pushing back on the caller) and then refuses new keys, counting them.
 *
 * <p>A key being written is "in flight" and is not taken again until its write landed or failed
 * (so writes of one key stay in order and each is planned against what the previous one left). A
 * write that lost a guard comes back ahead of newer changes and is marked stale (re-read before the
 * next try), at most {@code maxAttempts} times.
 */
final class PendingWrites<C> {
    private final int capacity;
    private final int maxAttempts;
    private final long offerWaitNanos;
    private final BinaryOperator<C> then;
    private final LinkedHashMap<String, C> waiting = new LinkedHashMap<>();
    private final Set<String> inFlight = new HashSet<>();
    private final Map<String, Integer> conflicts = new HashMap<>();
    private final Set<String> stale = new HashSet<>();
    private long refused;

    PendingWrites(int capacity, int maxAttempts, Duration offerWait, BinaryOperator<C> then) {
        this.capacity = capacity;
        this.maxAttempts = maxAttempts;
        this.offerWaitNanos = offerWait.toNanos();
        this.then = then;
    }

    /**
     * Queues {@code changes} (key -> change). Changes to keys already waiting always merge; new keys
     * wait for room up to the offer wait, then what still does not fit is refused: the keys refused.
     */
    synchronized List<String> offer(Map<String, C> changes) {
        long deadline = System.nanoTime() + offerWaitNanos;
        while (waiting.size() + newKeys(changes) > capacity) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                break;
            }
            try {
                wait(Math.max(1, left / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        List<String> refusedKeys = new ArrayList<>();
        for (Map.Entry<String, C> change : changes.entrySet()) {
            if (waiting.containsKey(change.getKey()) || waiting.size() < capacity) {
                waiting.merge(change.getKey(), change.getValue(), then);
            } else {
                refusedKeys.add(change.getKey());
            }
        }
        refused += refusedKeys.size();
        return refusedKeys;
    }

    private int newKeys(Map<String, C> changes) {
        int n = 0;
        for (String key : changes.keySet()) {
            if (!waiting.containsKey(key)) {
                n++;
            }
        }
        return n;
    }

    /** Up to {@code max} waiting changes whose keys are not in flight, oldest first; they are in flight now. */
    synchronized List<Map.Entry<String, C>> take(int max) {
        List<Map.Entry<String, C>> taken = new ArrayList<>(Math.min(max, waiting.size()));
        Iterator<Map.Entry<String, C>> it = waiting.entrySet().iterator();
        while (taken.size() < max && it.hasNext()) {
            Map.Entry<String, C> next = it.next();
            if (inFlight.add(next.getKey())) {
                taken.add(Map.entry(next.getKey(), next.getValue()));
                it.remove();
            }
        }
        if (!taken.isEmpty()) {
            notifyAll();
        }
        return taken;
    }

    /** Whether {@code key}'s stored value must be re-read before planning (a guard failed on it). */
    synchronized boolean isStale(String key) {
        return stale.contains(key);
    }

    synchronized C waiting(String key) {
        return waiting.get(key);
    }

    /** The write of {@code key} landed (or was found unnecessary). */
    synchronized void done(String key) {
        inFlight.remove(key);
        conflicts.remove(key);
        stale.remove(key);
    }

    /** The write of {@code key} lost its guard: back ahead of newer changes, stale; false once out of attempts (dropped). */
    synchronized boolean conflicted(String key, C change) {
        inFlight.remove(key);
        int attempts = conflicts.merge(key, 1, Integer::sum);
        if (attempts >= maxAttempts) {
            conflicts.remove(key);
            stale.remove(key);
            return false;
        }
        stale.add(key);
        requeue(key, change);
        return true;
    }

    /** The write of {@code key} failed for another reason (etcd unavailable): back ahead of newer changes. */
    synchronized void failed(String key, C change) {
        inFlight.remove(key);
        requeue(key, change);
    }

    private void requeue(String key, C older) {
        C newer = waiting.remove(key);
        waiting.put(key, newer == null ? older : then.apply(older, newer));
    }

    synchronized int size() {
        return waiting.size();
    }

    synchronized int inFlight() {
        return inFlight.size();
    }

    synchronized boolean idle() {
        return waiting.isEmpty() && inFlight.isEmpty();
    }

    synchronized long refused() {
        return refused;
    }
}
