package dev.edgeplane.controlplane.controllers;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.PrefixCache;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The node entries one kind of owner has in the nodes' desired state (a policy's or a prefetch's
 * entry per node), from the assignments informer: owner ("namespace/name") -> node -> its entry.
 * {@link #listener} keeps it current and wakes the owners a change touches.
 */
public final class NodeEntryIndex {
    private final Function<Assignment, String> ownerOf;
    private final Map<String, Map<String, Entry<Assignment>>> byOwner = new HashMap<>();

    /** @param ownerOf the entry's owner, or null when the entry is not of this kind */
    public NodeEntryIndex(Function<Assignment, String> ownerOf) {
        this.ownerOf = ownerOf;
    }

    /** Indexes an entry; its owner, or null when it is not of this kind. */
    public synchronized String index(Entry<Assignment> entry) {
        String owner = ownerOf.apply(entry.value());
        if (owner != null) {
            byOwner.computeIfAbsent(owner, k -> new HashMap<>()).put(entry.value().getNode(), entry);
        }
        return owner;
    }

    /** Forgets an entry (only if it is the one held for its node); its owner, or null. */
    public synchronized String unindex(Entry<Assignment> entry) {
        String owner = ownerOf.apply(entry.value());
        if (owner != null) {
            Map<String, Entry<Assignment>> nodes = byOwner.get(owner);
            Entry<Assignment> held = nodes == null ? null : nodes.get(entry.value().getNode());
            if (held != null && held.key().equals(entry.key())) {
                nodes.remove(entry.value().getNode());
                if (nodes.isEmpty()) {
                    byOwner.remove(owner);
                }
            }
        }
        return owner;
    }

    public synchronized void reset(Collection<Entry<Assignment>> entries) {
        byOwner.clear();
        entries.forEach(this::index);
    }

    /** A copy of the owner's entries by node. */
    public synchronized Map<String, Entry<Assignment>> entries(String owner) {
        return new HashMap<>(byOwner.getOrDefault(owner, Map.of()));
    }

    /** The owners holding entries now (a copy): those deleted while no leader ran among them. */
    public synchronized Set<String> owners() {
        return new HashSet<>(byOwner.keySet());
    }

    /** Keeps the index current; wakes each owner a change touches, and everything on a reset. */
    public PrefixCache.Listener<Assignment> listener(Consumer<String> wake, Runnable wakeAll) {
        return new PrefixCache.Listener<>() {
            @Override
            public void onEvents(List<PrefixCache.Event<Assignment>> changes, long revision) {
                Set<String> touched = new HashSet<>();
                for (PrefixCache.Event<Assignment> change : changes) {
                    if (change.previous() != null) {
                        touched.add(unindex(change.previous()));
                    }
                    if (change instanceof PrefixCache.Put<Assignment> put) {
                        touched.add(index(put.entry()));
                    }
                }
                touched.remove(null);
                touched.forEach(wake);
            }

            @Override
            public void onReset(Map<String, Entry<Assignment>> state, long revision) {
                reset(state.values());
                wakeAll.run();
            }
        };
    }
}
