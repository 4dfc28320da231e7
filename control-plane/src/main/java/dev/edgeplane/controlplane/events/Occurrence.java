package dev.edgeplane.controlplane.events;

import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.ObjectReference;
import java.time.Instant;

/**
 * One or more occurrences of the same thing (already aggregated by an agent when {@code count} > 1):
 * what {@link EventStore} folds into the record named by {@link #name()}.
 */
public record Occurrence(EventLevel level, ObjectReference object, String reason, String message, String node,
                         String source, Instant first, Instant last, long count) {
    /** Longer messages are cut here: an event is a line for an operator, not a log. */
    public static final int MAX_MESSAGE = 1024;

    public Occurrence {
        message = message.length() > MAX_MESSAGE ? message.substring(0, MAX_MESSAGE - 3) + "..." : message;
        if (count < 1) {
            throw new IllegalArgumentException("count must be at least 1");
        }
    }

    public static Occurrence of(EventLevel level, ObjectReference object, String reason, String message, String node,
                                String source, Instant at) {
        return new Occurrence(level, object, reason, message, node, source, at, at, 1);
    }

    /** The record's name: stable for (object, reason, node, source), so repeats land on one record. */
    public String name() {
        return EventNames.name(object, reason, node, source);
    }

    /** The record's namespace: the involved object's ("" for cluster-scoped kinds such as Node). */
    public String namespace() {
        return object.getNamespace();
    }

    /** Folds a later occurrence of the same record into this one. */
    Occurrence plus(Occurrence later) {
        boolean newer = !later.last.isBefore(last);
        return new Occurrence(newer ? later.level : level, object, reason, newer ? later.message : message, node, source,
                first.isBefore(later.first) ? first : later.first, newer ? later.last : last, count + later.count);
    }
}
