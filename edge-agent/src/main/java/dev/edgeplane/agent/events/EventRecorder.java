package dev.edgeplane.agent.events;

import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.ObjectReference;

/**
 * Where the agent's parts say what happened (image pulled, container exited, back-off...). Never
 * blocks on the network and never fails the caller: occurrences are folded into the on-disk
 * {@link EventSpool} and uploaded when the control plane is reachable.
 */
public interface EventRecorder {
    /** Records nothing: for callers under test that do not look at events. */
    EventRecorder NONE = (level, object, reason, message) -> {};

    void record(EventLevel level, ObjectReference object, String reason, String message);

    default void info(ObjectReference object, String reason, String message) {
        record(EventLevel.INFO, object, reason, message);
    }

    default void warning(ObjectReference object, String reason, String message) {
        record(EventLevel.WARNING, object, reason, message);
    }

    /** This node (the control plane takes the name from the certificate anyway). */
    static ObjectReference node(String name) {
        return ObjectReference.newBuilder().setKind("Node").setName(name).build();
    }

    static ObjectReference replica(String namespace, String name) {
        return ObjectReference.newBuilder().setKind("Replica").setNamespace(namespace).setName(name).build();
    }
}
