package dev.edgeplane.controlplane.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The coalescing, bounded queue behind the status writers. */
class PendingWritesTest {
    private static PendingWrites<String> queue(int capacity) {
        return new PendingWrites<>(capacity, 3, Duration.ZERO, (older, newer) -> older + "+" + newer);
    }

    private static Map<String, String> changes(String... keyValues) {
        Map<String, String> out = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            out.put(keyValues[i], keyValues[i + 1]);
        }
        return out;
    }

    @Test
    void changesToOneKeyCoalesceIntoOneEntry() {
        PendingWrites<String> q = queue(10);
        q.offer(changes("a", "1", "b", "1"));
        q.offer(changes("a", "2"));
        assertEquals(2, q.size());
        assertEquals(List.of(Map.entry("a", "1+2"), Map.entry("b", "1")), q.take(10));
    }

    @Test
    void aFullQueueRefusesNewKeysCountedButStillCoalescesWaitingOnes() {
        PendingWrites<String> q = queue(2);
        q.offer(changes("a", "1", "b", "1"));
        List<String> refused = q.offer(changes("a", "2", "c", "1"));
        assertEquals(List.of("c"), refused);
        assertEquals(1, q.refused());
        assertEquals("1+2", q.waiting("a"));
    }

    @Test
    void aKeyInFlightIsNotTakenAgainUntilItsWriteEnds() {
        PendingWrites<String> q = queue(10);
        q.offer(changes("a", "1"));
        assertEquals(1, q.take(10).size());
        q.offer(changes("a", "2"));
        assertTrue(q.take(10).isEmpty(), "a's first write is still in flight");
        q.done("a");
        assertEquals(List.of(Map.entry("a", "2")), q.take(10));
        q.done("a");
        assertTrue(q.idle());
    }

    @Test
    void aLostGuardComesBackAheadOfNewerChangesStaleAndBounded() {
        PendingWrites<String> q = queue(10);
        q.offer(changes("a", "1"));
        q.take(10);
        q.offer(changes("a", "2"));
        assertTrue(q.conflicted("a", "1"));
        assertTrue(q.isStale("a"));
        assertEquals("1+2", q.waiting("a"), "the failed change first, the newer one after");
        q.take(10);
        assertTrue(q.conflicted("a", "1+2"));
        q.take(10);
        assertFalse(q.conflicted("a", "1+2"), "third conflict: given up");
        assertTrue(q.idle());
    }
}
