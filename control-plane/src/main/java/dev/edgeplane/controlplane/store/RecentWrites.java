package dev.edgeplane.controlplane.store;

import java.util.HashMap;
import java.util.Map;

/**
 * A writer's own writes that its cache has not seen yet: a writer that reads "what is stored" from a
 * {@link PrefixCache} would otherwise plan its next write of a key against a stale value (and lose a
 * mod_revision guard to itself) until the watch catches up. An entry is dropped once the cache's
 * revision reaches it.
 */
public final class RecentWrites<T> {
    /** A write that landed at {@code revision}; {@code value} null: a delete. */
    private record Written<T>(T value, long revision, long createRevision) {}

    private final PrefixCache<T> cache;
    private final Map<String, Written<T>> byKey = new HashMap<>();

    public RecentWrites(PrefixCache<T> cache) {
        this.cache = cache;
    }

    public synchronized void put(String key, T value, long revision, long createRevision) {
        byKey.merge(key, new Written<>(value, revision, createRevision), (a, b) -> b.revision >= a.revision ? b : a);
    }

    public synchronized void deleted(String key, long revision) {
        byKey.merge(key, new Written<>(null, revision, 0), (a, b) -> b.revision >= a.revision ? b : a);
    }

    /** What is stored at {@code key} as far as this process knows: its own newer write, else the cache's entry (null: none). */
    public Entry<T> current(String key) {
        long seen = cache.revision(); // first: an entry read after it is at least this new
        Entry<T> cached = cache.get(key);
        synchronized (this) {
            Written<T> mine = byKey.get(key);
            if (mine == null) {
                return cached;
            }
            if (mine.revision <= seen || (cached != null && cached.modRevision() >= mine.revision)) {
                byKey.remove(key);
                return cached;
            }
            return mine.value == null ? null : new Entry<>(key, mine.value, mine.revision,
                    mine.createRevision != 0 ? mine.createRevision : (cached == null ? mine.revision : cached.createRevision()));
        }
    }

    /** Drops what the cache has caught up with. */
    public void prune() {
        long seen = cache.revision();
        synchronized (this) {
            byKey.values().removeIf(w -> w.revision <= seen);
        }
    }

    public synchronized int size() {
        return byKey.size();
    }
}
