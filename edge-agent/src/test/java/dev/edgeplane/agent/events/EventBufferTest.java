package dev.edgeplane.agent.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.EventBatch;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class EventBufferTest {
    private final EventBuffer buffer = new EventBuffer(3, Clock.fixed(Instant.parse("2026-01-01T00:00:00Z"), ZoneOffset.UTC));

    @Test
    void keepsTheNewestAndCountsWhatItDropped() {
        for (int i = 0; i < 5; i++) {
            buffer.warning("R" + i, "m" + i);
        }
        EventBatch batch = buffer.drain().orElseThrow();
        assertEquals(2, batch.getDropped());
        assertEquals("R2", batch.getEvents(0).getReason());
        assertEquals("R4", batch.getEvents(2).getReason());
        assertTrue(buffer.drain().isEmpty(), "drained");
    }

    @Test
    void aRequeuedBatchGoesBackInFront() {
        buffer.normal("A", "a");
        EventBatch unsent = buffer.drain().orElseThrow();
        buffer.normal("B", "b");
        buffer.requeue(unsent);
        EventBatch batch = buffer.drain().orElseThrow();
        assertEquals("A", batch.getEvents(0).getReason());
        assertEquals("B", batch.getEvents(1).getReason());
        assertEquals(0, batch.getDropped());
    }
}
