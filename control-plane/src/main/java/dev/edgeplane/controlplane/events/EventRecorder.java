package dev.edgeplane.controlplane.events;

import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.ObjectReference;
import java.time.Instant;

/**
 * Where the control plane's parts say what happened (node joined, replica scheduled...). Recording
 * never blocks on etcd and never fails the caller: repeats are coalesced and written in the
 * background (see {@link EventStore}).
 */
public interface EventRecorder {
    /** Records nothing: for unit tests of callers. */
    EventRecorder NONE = occurrence -> {};

    String SOURCE = "control-plane";

    void record(Occurrence occurrence);

    default void info(ObjectReference object, String reason, String message, String node) {
        record(Occurrence.of(EventLevel.INFO, object, reason, message, node, SOURCE, Instant.now()));
    }

    default void warning(ObjectReference object, String reason, String message, String node) {
        record(Occurrence.of(EventLevel.WARNING, object, reason, message, node, SOURCE, Instant.now()));
    }

    static ObjectReference node(String name) {
        return ObjectReference.newBuilder().setKind("Node").setName(name).build();
    }

    static ObjectReference app(String namespace, String name) {
        return ObjectReference.newBuilder().setKind("App").setNamespace(namespace).setName(name).build();
    }

    static ObjectReference replica(String namespace, String name) {
        return ObjectReference.newBuilder().setKind("Replica").setNamespace(namespace).setName(name).build();
    }

    static ObjectReference volume(String namespace, String name) {
        return ObjectReference.newBuilder().setKind("Volume").setNamespace(namespace).setName(name).build();
    }
}
