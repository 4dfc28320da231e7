package dev.edgeplane.fleet;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.stream.IntStream;

/**
 * "When did each agent ack a revision that covers this change?": a watch names an App and an image;
 * each agent records the wall-clock time (epoch microseconds) of the first ack after which one of
 * that App's replicas on it runs the image. Agents that already ran it when the watch was set are
 * left out (-1).
 */
final class Watches {
    private record Watch(String namespace, String app, String image, AtomicLongArray atMicros) {}

    private final Map<String, Watch> byId = new ConcurrentHashMap<>();
    private final List<SimAgent> agents;

    Watches(List<SimAgent> agents) {
        this.agents = agents;
    }

    void add(String id, String namespace, String app, String image) {
        Watch w = new Watch(namespace, app, image, new AtomicLongArray(agents.size()));
        for (SimAgent a : agents) {
            if (a.runs(namespace, app, image)) {
                w.atMicros().set(a.index, -1);
            }
        }
        byId.put(id, w);
    }

    void remove(String id) {
        byId.remove(id);
    }

    /** Called by an agent (holding its own lock) right after each ack. */
    void acked(SimAgent agent, long nowMicros) {
        for (Watch w : byId.values()) {
            if (w.atMicros().get(agent.index) == 0 && agent.runs(w.namespace(), w.app(), w.image())) {
                w.atMicros().set(agent.index, nowMicros);
            }
        }
    }

    /** The recorded times (agents that have not acked it yet, or ran it already, are absent). */
    long[] times(String id) {
        Watch w = watch(id);
        return IntStream.range(0, w.atMicros().length()).mapToLong(w.atMicros()::get).filter(t -> t > 0).toArray();
    }

    /** How many times {@link #times} would return now. */
    int count(String id) {
        Watch w = watch(id);
        return (int) IntStream.range(0, w.atMicros().length()).filter(i -> w.atMicros().get(i) > 0).count();
    }

    private Watch watch(String id) {
        Watch w = byId.get(id);
        if (w == null) {
            throw new IllegalArgumentException("no watch " + id);
        }
        return w;
    }
}
