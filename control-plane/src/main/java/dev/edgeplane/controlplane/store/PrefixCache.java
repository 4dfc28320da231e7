package dev.edgeplane.controlplane.store;

import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.common.exception.CompactedException;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.jboss.logging.Logger;

/**
 * An in-memory copy of every key under one etcd prefix, kept current by ONE etcd watch, with
 * listeners fanned out in memory. When the watch breaks (etcd compacted past it, or it ends), the
 * cache re-lists the prefix and tells listeners to {@link Listener#onReset reset}.
 *
 * <p>Listeners are called on the watch thread while the cache's lock is held, in revision order:
 * they must be quick and never block.
 */
public final class PrefixCache<T> implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(PrefixCache.class);

    /** A change to one key. {@code previous} is what the cache held before (null if none). */
    public sealed interface Event<T> {
        String key();

        long revision();

        Entry<T> previous();
    }

    public record Put<T>(Entry<T> entry, Entry<T> previous) implements Event<T> {
        @Override
        public String key() {
            return entry.key();
        }

        @Override
        public long revision() {
            return entry.modRevision();
        }
    }

    public record Delete<T>(String key, long revision, Entry<T> previous) implements Event<T> {}

    public interface Listener<T> {
        /** Changes from one watch response, in revision order; {@code revision} is the newest. */
        void onEvents(List<Event<T>> events, long revision);

        /** The cache was rebuilt from a fresh list at {@code revision}; history before it is unknown. */
        default void onReset(Map<String, Entry<T>> state, long revision) {}

        /**
         * etcd's progress notification: every change under the prefix up to {@code revision} has been
         * delivered, and there were none since the last events.
         */
        default void onProgress(long revision) {}

        /**
         * The usual handler of a controller's own kind: each changed object's key (under {@code prefix})
         * is woken, and after a reset every key is.
         */
        static <T> Listener<T> waking(String prefix, java.util.function.Consumer<String> wake, Runnable wakeAll) {
            return new Listener<>() {
                @Override
                public void onEvents(List<Event<T>> events, long revision) {
                    events.forEach(e -> wake.accept(Keys.suffix(e.key(), prefix)));
                }

                @Override
                public void onReset(Map<String, Entry<T>> state, long revision) {
                    wakeAll.run();
                }
            };
        }
    }

    private final EtcdStore store;
    private final String prefix;
    private final Function<byte[], T> decoder;
    private final ScheduledExecutorService retries;
    private final TreeMap<String, Entry<T>> entries = new TreeMap<>();
    private final List<Listener<T>> listeners = new CopyOnWriteArrayList<>();
    private long revision;
    private Watch.Watcher watcher;
    private boolean closed;
    private int generation;
    private volatile int resumeFailures;

    public PrefixCache(EtcdStore store, String prefix, Function<byte[], T> decoder, ScheduledExecutorService retries) {
        this.store = store;
        this.prefix = prefix;
        this.decoder = decoder;
        this.retries = retries;
    }

    public String prefix() {
        return prefix;
    }

    /** Lists the prefix and starts the watch; throws if etcd cannot be listed. */
    public void start() {
        relist(false);
    }

    private void relist(boolean notify) {
        EtcdStore.Page page = store.listAll(prefix);
        synchronized (this) {
            if (closed) {
                return;
            }
            entries.clear();
            for (Entry<byte[]> raw : page.entries()) {
                T value = decodeOrNull(raw.key(), raw.value());
                if (value != null) {
                    entries.put(raw.key(), new Entry<>(raw.key(), value, raw.modRevision(), raw.createRevision()));
                }
            }
            revision = page.revision();
            int myGeneration = ++generation;
            if (watcher != null) {
                watcher.close();
            }
            watcher = store.client().getWatchClient().watch(EtcdStore.bytes(prefix),
                    watchFrom(revision + 1),
                    new WatchListener(myGeneration));
            if (notify) {
                Map<String, Entry<T>> state = Collections.unmodifiableMap(new TreeMap<>(entries));
                for (Listener<T> listener : listeners) {
                    safely(() -> listener.onReset(state, revision));
                }
            }
        }
        LOG.debugf("watching %s from revision %d (%d keys)", prefix, revision + 1, page.entries().size());
    }

    private T decodeOrNull(String key, byte[] value) {
        try {
            return decoder.apply(value);
        } catch (RuntimeException e) {
            LOG.warnf("ignoring undecodable value at %s: %s", key, e.getMessage());
            return null;
        }
    }

    private final class WatchListener implements Watch.Listener {
        private final int myGeneration;

        WatchListener(int myGeneration) {
            this.myGeneration = myGeneration;
        }

        @Override
        public void onNext(WatchResponse response) {
            apply(myGeneration, response);
        }

        @Override
        public void onError(Throwable error) {
            restart(myGeneration, error);
        }

        @Override
        public void onCompleted() {
            restart(myGeneration, null);
        }
    }

    private void apply(int fromGeneration, WatchResponse response) {
        synchronized (this) {
            if (closed || fromGeneration != generation) {
                return;
            }
            resumeFailures = 0;
            if (response.getEvents().isEmpty()) {
                long progress = response.getHeader().getRevision();
                if (response.isProgressNotify() && progress > revision) {
                    revision = progress;
                    for (Listener<T> listener : listeners) {
                        safely(() -> listener.onProgress(progress));
                    }
                }
                return;
            }
            List<Event<T>> events = new ArrayList<>(response.getEvents().size());
            long newest = revision;
            for (WatchEvent event : response.getEvents()) {
                KeyValue kv = event.getKeyValue();
                String key = kv.getKey().toString(StandardCharsets.UTF_8);
                long rev = kv.getModRevision();
                if (rev <= revision) {
                    continue; // already seen (a resumed watch may repeat)
                }
                if (event.getEventType() == WatchEvent.EventType.PUT) {
                    T value = decodeOrNull(key, kv.getValue().getBytes());
                    if (value == null) {
                        continue;
                    }
                    Entry<T> entry = new Entry<>(key, value, rev, kv.getCreateRevision());
                    events.add(new Put<>(entry, entries.put(key, entry)));
                } else if (event.getEventType() == WatchEvent.EventType.DELETE) {
                    Entry<T> previous = entries.remove(key);
                    if (previous != null) {
                        events.add(new Delete<>(key, rev, previous));
                    }
                }
                newest = Math.max(newest, rev);
            }
            revision = newest;
            if (events.isEmpty()) {
                return;
            }
            long at = newest;
            for (Listener<T> listener : listeners) {
                safely(() -> listener.onEvents(events, at));
            }
        }
    }

    private void restart(int fromGeneration, Throwable error) {
        synchronized (this) {
            if (closed || fromGeneration != generation) {
                return;
            }
        }
        if (error instanceof CompactedException) {
            // History we have not seen is gone: start over from a fresh list.
            LOG.warnf("watch on %s fell behind etcd's compaction; re-listing", prefix);
            retries.schedule(this::relistWithRetry, 0, TimeUnit.MILLISECONDS);
            return;
        }
        // A broken connection: resume from the next revision, keeping the state and its history.
        int failures = ++resumeFailures;
        long delay = Math.min(2000, 100L << Math.min(failures, 5));
        if (failures == 1 || failures % 10 == 0) {
            LOG.warnf("watch on %s broke (%s); resuming from revision %d", prefix,
                    error == null ? "ended" : error.getMessage(), revision() + 1);
        }
        retries.schedule(() -> resume(fromGeneration), delay, TimeUnit.MILLISECONDS);
    }

    private synchronized void resume(int fromGeneration) {
        if (closed || fromGeneration != generation) {
            return;
        }
        int myGeneration = ++generation;
        if (watcher != null) {
            watcher.close();
        }
        watcher = store.client().getWatchClient().watch(EtcdStore.bytes(prefix), watchFrom(revision + 1),
                new WatchListener(myGeneration));
    }

    /**
     * With etcd's progress notifications (sent while nothing changes, every
     * --experimental-watch-progress-notify-interval): the cache's revision keeps up with etcd's, so a
     * resumed watch starts from a recent revision and listeners can tell how far "nothing changed" goes.
     */
    private static WatchOption watchFrom(long revision) {
        return WatchOption.builder().isPrefix(true).withRevision(revision).withPrevKV(false).withProgressNotify(true).build();
    }

    private void relistWithRetry() {
        try {
            relist(true);
        } catch (RuntimeException e) {
            LOG.warnf("re-listing %s failed (%s); retrying in 2s", prefix, e.getMessage());
            synchronized (this) {
                if (closed) {
                    return;
                }
            }
            retries.schedule(this::relistWithRetry, 2, TimeUnit.SECONDS);
        }
    }

    private static void safely(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            LOG.error("cache listener failed", e);
        }
    }

    /** Calls {@code onSubscribe} with the current state and adds the listener, atomically. */
    public synchronized <R> R subscribe(Listener<T> listener, java.util.function.BiFunction<Map<String, Entry<T>>, Long, R> onSubscribe) {
        R result = onSubscribe.apply(Collections.unmodifiableMap(entries), revision);
        listeners.add(listener);
        return result;
    }

    public void subscribe(Listener<T> listener) {
        listeners.add(listener);
    }

    public void unsubscribe(Listener<T> listener) {
        listeners.remove(listener);
    }

    public synchronized Entry<T> get(String key) {
        return entries.get(key);
    }

    public synchronized long revision() {
        return revision;
    }

    /** A copy of the entries under {@code subPrefix} (which starts with this cache's prefix). */
    public synchronized List<Entry<T>> list(String subPrefix) {
        return new ArrayList<>(entries.subMap(subPrefix, true, subPrefix + Character.MAX_VALUE, false).values());
    }

    public synchronized int size() {
        return entries.size();
    }

    public synchronized List<Entry<T>> all() {
        return new ArrayList<>(entries.values());
    }

    @Override
    public synchronized void close() {
        closed = true;
        if (watcher != null) {
            watcher.close();
        }
        listeners.clear();
    }
}
