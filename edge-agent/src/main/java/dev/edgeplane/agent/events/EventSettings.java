package dev.edgeplane.agent.events;

import java.nio.file.Path;
import java.time.Duration;

/**
 * @param spoolDir       where the event spool file lives (STATE_DIR/events)
 * @param capacity       records kept while they cannot be uploaded; beyond it the oldest are dropped and counted
 * @param uploadInterval how often buffered events are offered to the control plane
 */
public record EventSettings(Path spoolDir, int capacity, Duration uploadInterval) {
    public EventSettings {
        if (capacity < 2) {
            throw new IllegalArgumentException("the event buffer needs room for at least 2 records, not " + capacity);
        }
    }

    public static EventSettings defaults(Path stateDir) {
        return new EventSettings(stateDir.resolve("events"), EventSpool.DEFAULT_CAPACITY, Duration.ofSeconds(1));
    }
}
