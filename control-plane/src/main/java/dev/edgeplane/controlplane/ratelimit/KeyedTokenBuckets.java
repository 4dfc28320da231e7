package dev.edgeplane.controlplane.ratelimit;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Token buckets by key (a caller's address, a node's name): each key may act {@code burst} times at
 * once and then {@code perSecond} times a second. At most {@code maxKeys} buckets are kept; the least
 * recently used goes first (by then it has usually refilled, so forgetting it changes nothing).
 */
public final class KeyedTokenBuckets {
    /** @param perSecond tokens added per second; @param burst the bucket's size */
    public record Rate(double perSecond, int burst) {
        public Rate {
            if (!(perSecond > 0) || burst < 1) {
                throw new IllegalArgumentException("a rate needs perSecond > 0 and burst >= 1: " + perSecond + ", " + burst);
            }
        }
    }

    private final Rate rate;
    private final LongSupplier nanoTime;
    private final Map<String, Bucket> buckets;

    public KeyedTokenBuckets(Rate rate, int maxKeys, LongSupplier nanoTime) {
        this.rate = rate;
        this.nanoTime = nanoTime;
        this.buckets = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Bucket> eldest) {
                return size() > maxKeys;
            }
        };
    }

    /** Takes a token of {@code key}'s bucket: ZERO when taken, else how long until one is there (nothing taken). */
    public synchronized Duration take(String key) {
        Bucket bucket = refilled(key);
        if (bucket.tokens >= 1) {
            bucket.tokens -= 1;
            return Duration.ZERO;
        }
        return untilOne(bucket);
    }

    /** How long until {@code key} has a token (ZERO: now), taking nothing. */
    public synchronized Duration wait(String key) {
        Bucket bucket = refilled(key);
        return bucket.tokens >= 1 ? Duration.ZERO : untilOne(bucket);
    }

    public synchronized void forget(String key) {
        buckets.remove(key);
    }

    public synchronized int size() {
        return buckets.size();
    }

    private Bucket refilled(String key) {
        long now = nanoTime.getAsLong();
        Bucket bucket = buckets.computeIfAbsent(key, k -> new Bucket(rate.burst(), now));
        long elapsed = now - bucket.refilledAt;
        if (elapsed > 0) {
            bucket.tokens = Math.min(rate.burst(), bucket.tokens + elapsed / 1e9 * rate.perSecond());
            bucket.refilledAt = now;
        }
        return bucket;
    }

    private Duration untilOne(Bucket bucket) {
        return Duration.ofNanos((long) Math.ceil((1 - bucket.tokens) / rate.perSecond() * 1e9));
    }

    private static final class Bucket {
        double tokens;
        long refilledAt;

        Bucket(double tokens, long refilledAt) {
            this.tokens = tokens;
            this.refilledAt = refilledAt;
        }
    }
}
