package dev.edgeplane.storage.csi;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * At most one operation per volume or snapshot at a time. A second call for the same object
 * fails at once with ABORTED, as CSI asks ("operation pending"), and the CO retries it later.
 */
public final class OperationLocks {
    private final ConcurrentMap<String, String> running = new ConcurrentHashMap<>();

    /** A held lock; closing releases it. */
    public interface Held extends AutoCloseable {
        @Override
        void close();
    }

    public Held acquire(String id, String operation) {
        String previous = running.putIfAbsent(id, operation);
        if (previous != null) {
            throw Errors.aborted(previous + " is in progress on " + id);
        }
        return () -> running.remove(id, operation);
    }
}
