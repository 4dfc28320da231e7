package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Pure: a fake clock and a fixed jitter. */
class ConnectLimiterTest {
    private final AtomicLong now = new AtomicLong(1_000_000_000L);

    private ConnectLimiter limiter(int initial, int max) {
        return new ConnectLimiter(new ConnectLimiter.Settings(initial, max, Duration.ofMillis(500), Duration.ofSeconds(30)),
                now::get, () -> 0.5);
    }

    private void advance(Duration d) {
        now.addAndGet(d.toNanos());
    }

    private static ConnectLimiter.Permit admitted(ConnectLimiter.Decision d) {
        return assertInstanceOf(ConnectLimiter.Admitted.class, d).permit();
    }

    private static ConnectLimiter.Refused refused(ConnectLimiter.Decision d) {
        return assertInstanceOf(ConnectLimiter.Refused.class, d);
    }

    @Test
    void admitsUpToTheLimitInFlightThenRefuses() {
        ConnectLimiter limiter = limiter(4, 100);
        List<ConnectLimiter.Permit> permits = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            permits.add(admitted(limiter.admit()));
        }
        refused(limiter.admit());
        permits.get(0).release();
        admitted(limiter.admit());
        assertEquals(4, limiter.inFlight());
    }

    @Test
    void refusedAgentsGetSuccessiveSlotsAtTheAdmissionRate() {
        ConnectLimiter limiter = limiter(4, 100);
        for (int i = 0; i < 4; i++) {
            admitted(limiter.admit());
        }
        double slotMillis = 1000 / limiter.ratePerSecond();
        Duration previous = Duration.ZERO;
        for (int i = 0; i < 50; i++) {
            ConnectLimiter.Refused r = refused(limiter.admit());
            assertEquals(i, r.backlog(), "each refusal is queued behind the ones told before it");
            assertTrue(r.retryAfter().compareTo(previous) > 0, "later slots: " + previous + " then " + r.retryAfter());
            previous = r.retryAfter();
        }
        // The 50th was told ~49.5 slots (after the shortest delay, 100 ms), not a flat second or two.
        assertEquals(100 + 49.5 * slotMillis, previous.toMillis(), slotMillis);
    }

    @Test
    void aHerdIsSpreadOverItsBacklogAndCappedAtTheLongestDelay() {
        ConnectLimiter limiter = limiter(4, 100);
        for (int i = 0; i < 4; i++) {
            admitted(limiter.admit());
        }
        double rate = limiter.ratePerSecond();
        int herd = (int) (rate * 10); // ten seconds' worth of admissions
        Duration last = Duration.ZERO;
        for (int i = 0; i < herd; i++) {
            last = refused(limiter.admit()).retryAfter();
        }
        assertEquals(10_100, last.toMillis(), 1000 / rate + 1, "the last of the herd comes back after backlog / rate");
        for (int i = 0; i < (int) (rate * 40); i++) {
            Duration wait = refused(limiter.admit()).retryAfter();
            assertTrue(wait.compareTo(Duration.ofSeconds(30)) <= 0, "never past the longest delay: " + wait);
        }
    }

    @Test
    void theBacklogDrainsAsTimePasses() {
        ConnectLimiter limiter = limiter(4, 100);
        for (int i = 0; i < 4; i++) {
            admitted(limiter.admit());
        }
        for (int i = 0; i < 100; i++) {
            refused(limiter.admit());
        }
        advance(Duration.ofSeconds(60));
        assertEquals(0, refused(limiter.admit()).backlog(), "everyone told before has had their slot");
    }

    @Test
    void fastOpensGrowTheLimitAndASlowOneShrinksIt() {
        ConnectLimiter limiter = limiter(4, 6);
        for (int round = 0; round < 5; round++) {
            ConnectLimiter.Permit p = admitted(limiter.admit());
            advance(Duration.ofMillis(10));
            p.release();
        }
        assertEquals(6, limiter.limit(), "grew by one per fast open, up to the maximum");
        ConnectLimiter.Permit slow = admitted(limiter.admit());
        ConnectLimiter.Permit alsoSlow = admitted(limiter.admit());
        advance(Duration.ofSeconds(2));
        slow.release();
        assertEquals(4, limiter.limit(), "cut by 30% (6 -> 4.2), never under the minimum");
        alsoSlow.release();
        assertEquals(4, limiter.limit(), "at most one cut per target interval");
        double fastRate = 4 / 0.5;
        assertTrue(limiter.ratePerSecond() < fastRate * 4, "slow opens lower the admission rate: " + limiter.ratePerSecond());
    }

    @Test
    void releasingTwiceFreesOneSlot() {
        ConnectLimiter limiter = limiter(4, 4);
        ConnectLimiter.Permit p = admitted(limiter.admit());
        p.release();
        p.release();
        assertEquals(0, limiter.inFlight());
    }

    @Test
    void anAbandonedOpenFreesItsSlotWithoutShrinkingTheLimit() {
        ConnectLimiter limiter = limiter(8, 100);
        ConnectLimiter.Permit mute = admitted(limiter.admit());
        advance(Duration.ofSeconds(10)); // a stream that never said Hello, far past the target latency
        mute.abandon();
        mute.release(); // idempotent: the slot is freed once
        assertEquals(0, limiter.inFlight());
        assertEquals(8, limiter.limit(), "a silent stream says nothing about how fast opens are served");

        ConnectLimiter.Permit slow = admitted(limiter.admit());
        advance(Duration.ofSeconds(10));
        slow.release();
        assertTrue(limiter.limit() < 8, "whereas a slow served open does shrink it");
    }
}
