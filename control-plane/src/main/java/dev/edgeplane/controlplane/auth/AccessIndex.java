package dev.edgeplane.controlplane.auth;

import dev.edgeplane.api.v1.RoleBinding;
import dev.edgeplane.api.v1.StoredApiToken;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * API tokens by their secret's hash and role bindings by subject, rebuilt from the watched caches on
 * every change: each call is checked in memory, and a token revoked or a binding deleted on another
 * replica takes effect here as soon as the etcd watch delivers it (well under a second when healthy).
 * Rebuilding whole maps is O(entries) per change, which the 10,000-entry caps keep cheap; reads see
 * an immutable snapshot without locking.
 */
@ApplicationScoped
public class AccessIndex {
    private final StateCaches caches;
    private volatile Map<String, StoredApiToken> tokensByHash = Map.of();
    private volatile Map<String, List<RoleBinding>> bindingsBySubject = Map.of();

    public AccessIndex(StateCaches caches) {
        this.caches = caches;
    }

    /** Subscribes to the caches; call after they started. */
    public void start() {
        caches.apiTokens().subscribe(rebuildOn(caches.apiTokens(), this::indexTokens), (state, revision) -> {
            indexTokens(List.copyOf(state.values()));
            return null;
        });
        caches.roleBindings().subscribe(rebuildOn(caches.roleBindings(), this::indexBindings), (state, revision) -> {
            indexBindings(List.copyOf(state.values()));
            return null;
        });
    }

    private static <T> PrefixCache.Listener<T> rebuildOn(PrefixCache<T> cache, java.util.function.Consumer<List<Entry<T>>> rebuild) {
        return new PrefixCache.Listener<>() {
            @Override
            public void onEvents(List<PrefixCache.Event<T>> events, long revision) {
                rebuild.accept(cache.all()); // called under the cache's lock: all() is consistent with the events
            }

            @Override
            public void onReset(Map<String, Entry<T>> state, long revision) {
                rebuild.accept(List.copyOf(state.values()));
            }
        };
    }

    private void indexTokens(List<Entry<StoredApiToken>> entries) {
        Map<String, StoredApiToken> byHash = new HashMap<>(entries.size() * 2);
        for (Entry<StoredApiToken> e : entries) {
            byHash.put(HexFormat.of().formatHex(e.value().getSecretSha256().toByteArray()), e.value());
        }
        tokensByHash = Map.copyOf(byHash);
    }

    private void indexBindings(List<Entry<RoleBinding>> entries) {
        Map<String, List<RoleBinding>> bySubject = new HashMap<>();
        for (Entry<RoleBinding> e : entries) {
            bySubject.computeIfAbsent(e.value().getSubject(), s -> new ArrayList<>()).add(e.value());
        }
        bySubject.replaceAll((s, list) -> List.copyOf(list));
        bindingsBySubject = Map.copyOf(bySubject);
    }

    /** The stored token whose secret has this sha256. */
    public Optional<StoredApiToken> tokenByHash(byte[] sha256) {
        return Optional.ofNullable(tokensByHash.get(HexFormat.of().formatHex(sha256)));
    }

    public List<RoleBinding> bindingsOf(String subject) {
        return bindingsBySubject.getOrDefault(subject, List.of());
    }
}
