package dev.edgeplane.controlplane.ratelimit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class KeyedTokenBucketsTest {
    private final AtomicLong now = new AtomicLong(1_000_000_000L);

    @Test
    void aKeyActsItsBurstAtOnceThenAtItsRateAndOthersAreUnaffected() {
        KeyedTokenBuckets buckets = new KeyedTokenBuckets(new KeyedTokenBuckets.Rate(2, 3), 100, now::get);
        for (int i = 0; i < 3; i++) {
            assertEquals(Duration.ZERO, buckets.take("a"));
        }
        assertEquals(Duration.ofMillis(500), buckets.take("a"), "empty: one token comes in 1/rate");
        assertEquals(Duration.ZERO, buckets.take("b"), "another key has its own bucket");
        now.addAndGet(Duration.ofMillis(500).toNanos());
        assertEquals(Duration.ZERO, buckets.take("a"));
        assertEquals(Duration.ofMillis(500), buckets.wait("a"));
        now.addAndGet(Duration.ofSeconds(60).toNanos());
        for (int i = 0; i < 3; i++) {
            assertEquals(Duration.ZERO, buckets.take("a"), "refilled to the burst, never past it");
        }
        assertEquals(Duration.ofMillis(500), buckets.take("a"));
    }

    @Test
    void waitingTakesNothingAndTheLeastRecentlyUsedKeysAreForgottenPastTheBound() {
        KeyedTokenBuckets buckets = new KeyedTokenBuckets(new KeyedTokenBuckets.Rate(1, 1), 2, now::get);
        assertEquals(Duration.ZERO, buckets.wait("a"));
        assertEquals(Duration.ZERO, buckets.wait("a"), "wait takes no token");
        buckets.take("a");
        buckets.take("b");
        buckets.take("c");
        assertEquals(2, buckets.size(), "bounded");
        assertEquals(Duration.ZERO, buckets.take("a"), "a was forgotten: a new, full bucket");
        buckets.forget("c");
        assertEquals(Duration.ZERO, buckets.take("c"));
    }
}
