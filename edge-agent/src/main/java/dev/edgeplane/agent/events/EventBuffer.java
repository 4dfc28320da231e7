package dev.edgeplane.agent.events;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.AgentEvent;
import dev.edgeplane.api.v1.EventBatch;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Optional;

/**
 * Events of this node kept until the control plane can take them (offline they pile up): bounded,
 * the oldest dropped first and counted, so a long outage costs a fixed amount of memory.
 */
public final class EventBuffer {
    public static final int DEFAULT_CAPACITY = 256;

    private final int capacity;
    private final Clock clock;
    private final ArrayDeque<AgentEvent> events = new ArrayDeque<>();
    private long dropped;

    public EventBuffer(int capacity, Clock clock) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be at least 1");
        }
        this.capacity = capacity;
        this.clock = clock;
    }

    public void warning(String reason, String message) {
        record("WARNING", reason, message);
    }

    public void normal(String reason, String message) {
        record("NORMAL", reason, message);
    }

    public synchronized void record(String type, String reason, String message) {
        Instant now = clock.instant();
        if (events.size() == capacity) {
            events.removeFirst();
            dropped++;
        }
        events.addLast(AgentEvent.newBuilder()
                .setTime(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()))
                .setType(type).setReason(reason).setMessage(message).build());
    }

    /** Everything buffered (and the drop count) as one batch, emptying the buffer; empty when there is nothing. */
    public synchronized Optional<EventBatch> drain() {
        if (events.isEmpty() && dropped == 0) {
            return Optional.empty();
        }
        EventBatch batch = EventBatch.newBuilder().addAllEvents(events).setDropped(dropped).build();
        events.clear();
        dropped = 0;
        return Optional.of(batch);
    }

    /** Puts a batch that could not be sent back in front (newer events win if that overflows). */
    public synchronized void requeue(EventBatch batch) {
        var list = batch.getEventsList();
        for (int i = list.size() - 1; i >= 0; i--) {
            if (events.size() == capacity) {
                dropped++;
                continue;
            }
            events.addFirst(list.get(i));
        }
        dropped += batch.getDropped();
    }

    public synchronized int size() {
        return events.size();
    }
}
