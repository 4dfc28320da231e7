package dev.edgeplane.controlplane.events;

import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * How many distinct event records each node may have alive at once (one per object, reason, node and
 * source; a repeat only counts). Without it one hostile node could fill etcd and the store with
 * records of made-up reasons. A record counts for the event TTL after its last occurrence; a node
 * past its budget has new records refused until old ones age out. Memory: at most {@code perNode}
 * small entries per node that reports events.
 */
final class DistinctRecordBudget {
    private final int perNode;
    private final Duration ttl;
    /** node -> record name hash -> when it stops counting (millis), oldest first. */
    private final Map<String, LinkedHashMap<Integer, Long>> byNode = new ConcurrentHashMap<>();

    DistinctRecordBudget(int perNode, Duration ttl) {
        this.perNode = perNode;
        this.ttl = ttl;
    }

    /** True when {@code node} may have a record named {@code name} now (it has it already, or has room). */
    boolean admit(String node, String name, Instant now) {
        LinkedHashMap<Integer, Long> records = byNode.computeIfAbsent(node, n -> new LinkedHashMap<>());
        synchronized (records) {
            long nowMillis = now.toEpochMilli();
            for (Iterator<Long> oldest = records.values().iterator(); oldest.hasNext(); ) {
                if (oldest.next() > nowMillis) {
                    break;
                }
                oldest.remove();
            }
            int key = name.hashCode();
            if (records.remove(key) == null && records.size() >= perNode) {
                return false;
            }
            records.put(key, nowMillis + ttl.toMillis()); // re-inserted last: the map stays ordered by expiry
            return true;
        }
    }

    void forget(String node) {
        byNode.remove(node);
    }
}
