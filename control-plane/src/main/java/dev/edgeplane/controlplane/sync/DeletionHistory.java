package dev.edgeplane.controlplane.sync;

import dev.edgeplane.controlplane.store.EtcdStore;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * When keys were deleted, read from etcd's history: a watch replayed from a past revision, deletions
 * only. Used for a resume that memory cannot answer (the keys were deleted before this process
 * started), so the agent gets each deletion's real revision.
 */
final class DeletionHistory {
    private static final Logger LOG = Logger.getLogger(DeletionHistory.class);
    /**
     * After every key was found, how long to wait for more: etcd replays history in batches (about
     * every 100 ms), and a key deleted, re-created and deleted again has its last deletion later.
     */
    private static final Duration SETTLE = Duration.ofMillis(250);

    private final EtcdStore store;
    private final Duration timeout;

    DeletionHistory(EtcdStore store, Duration timeout) {
        this.store = store;
        this.timeout = timeout;
    }

    /**
     * The last deletion revision, at or before {@code notAfter}, of each of {@code keys} (full etcd
     * keys under {@code prefix}) after revision {@code after}. Keys not found in time (or when etcd
     * compacted that history meanwhile) are absent: the caller falls back.
     */
    Map<String, Long> lastDeletions(String prefix, long after, long notAfter, Set<String> keys) {
        Map<String, Long> found = new HashMap<>();
        if (keys.isEmpty()) {
            return found;
        }
        BlockingQueue<Object> received = new LinkedBlockingQueue<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        Watch.Watcher watcher = store.client().getWatchClient().watch(EtcdStore.bytes(prefix),
                WatchOption.builder().isPrefix(true).withRevision(after + 1).withNoPut(true).build(),
                Watch.listener(received::add, received::add));
        try {
            boolean beyond = false;
            while (true) {
                boolean complete = found.keySet().containsAll(keys);
                if (complete && beyond) {
                    break;
                }
                long wait = complete ? SETTLE.toNanos() : deadline - System.nanoTime();
                Object next = wait <= 0 ? null : received.poll(wait, TimeUnit.NANOSECONDS);
                if (next == null) {
                    break;
                }
                if (next instanceof Throwable error) {
                    LOG.debugf("history of %s after %d unavailable: %s", prefix, after, error.getMessage());
                    break;
                }
                for (WatchEvent event : ((WatchResponse) next).getEvents()) {
                    long rev = event.getKeyValue().getModRevision();
                    String key = event.getKeyValue().getKey().toString(StandardCharsets.UTF_8);
                    if (rev > notAfter) {
                        beyond = true;
                    } else if (event.getEventType() == WatchEvent.EventType.DELETE && keys.contains(key)) {
                        found.merge(key, rev, Math::max);
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            watcher.close();
        }
        if (found.size() < keys.size()) {
            LOG.infof("deletion revisions of %d of %d keys under %s not found in etcd's history",
                    keys.size() - found.size(), keys.size(), prefix);
        }
        return found;
    }
}
