package dev.edgeplane.controlplane.sync;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.Changes;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.api.v1.SyncResponse;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.stream.SendExecutor;
import dev.edgeplane.controlplane.stream.Sender;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import org.jboss.logging.Logger;

/**
 * Every node's desired state in memory, fed by the ONE watch on /edgeplane/assignments/, plus a
 * bounded history of deletions (tombstones) so a reconnecting agent gets exactly the keys that
 * changed since the revision it acked. Where history cannot answer exactly (revision 0, older than
 * the floor, or after a watch reset) the agent gets a Snapshot instead.
 *
 * <p>A node's entries come only from keys under /edgeplane/assignments/&lt;node&gt;/, so no session
 * can ever receive another node's assignments.
 *
 * <p>Fan-out: the watch thread only records (the state, and each change offered to the node's
 * sessions, one Change object per event shared by them); the sessions write on the index's own
 * {@link SendExecutor}, flow-controlled. Assignments are held as etcd has them: by template hash,
 * without their templates (those are stored once and sent once per stream, see {@link SyncSession}).
 */
@ApplicationScoped
public class AssignmentIndex implements PrefixCache.Listener<Assignment>, SyncSession.StateSource {
    private static final Logger LOG = Logger.getLogger(AssignmentIndex.class);
    /** Tombstones kept per node; when exceeded the oldest half is dropped and the node's floor rises. */
    static final int MAX_TOMBSTONES = 1024;

    private final StateCaches caches;
    private final NodeCursors cursors;
    private final Map<String, NodeState> nodes = new HashMap<>();
    private final Map<String, Set<SyncSession>> sessions = new HashMap<>();
    /** Hellos older than this get a Snapshot: the index has no history before it. */
    private long floor;
    private long revision;

    private static final class NodeState {
        final TreeMap<String, Entry<Assignment>> live = new TreeMap<>();
        final Map<String, Long> tombstones = new HashMap<>();
        long prunedFloor;
    }

    /** Where a key of the assignments prefix belongs: node and "namespace/replica". */
    record Location(String node, String key) {
        static Location of(String etcdKey) {
            String rest = Keys.suffix(etcdKey, Keys.ASSIGNMENTS);
            int slash = rest.indexOf('/');
            return slash <= 0 ? null : new Location(rest.substring(0, slash), rest.substring(slash + 1));
        }
    }

    private final CursorCheckpoints checkpoints;
    private final Sender sender;
    private final SyncSession.Limits limits;
    private final TemplateLookup templates;
    private final ConfigLookup configs;

    @jakarta.inject.Inject
    public AssignmentIndex(StateCaches caches, NodeCursors cursors, CursorCheckpoints checkpoints, EtcdStore store,
                           ControlPlaneConfig config, dev.edgeplane.controlplane.secrets.SecretSealer sealer) {
        this(caches, cursors, checkpoints,
                new SendExecutor("edgeplane-sync-send", config.fanout().sendThreads()),
                new SyncSession.Limits(config.fanout().syncBacklogKeys(), config.fanout().syncBacklogBytes(), SyncSession.Limits.DEFAULT.controlMessages()),
                TemplateLookup.of(caches.templates(), store, config.fanout().templateReadTimeout()),
                ConfigLookup.of(caches.configMaps(), caches.secrets(), sealed -> sealer.openStored(sealed.key(), sealed.value())));
    }

    AssignmentIndex(StateCaches caches, NodeCursors cursors, CursorCheckpoints checkpoints, Sender sender,
                    SyncSession.Limits limits, TemplateLookup templates, ConfigLookup configs) {
        this.caches = caches;
        this.cursors = cursors;
        this.checkpoints = checkpoints;
        this.sender = sender;
        this.limits = limits;
        this.templates = templates;
        this.configs = configs;
    }

    /** Without etcd, for tests of the index's own logic: sessions write on {@code sender}. */
    AssignmentIndex(NodeCursors cursors, Sender sender) {
        this(null, cursors, null, sender, SyncSession.Limits.DEFAULT, TemplateLookup.none(), ConfigLookup.none());
    }

    /** A session for a new Sync stream of {@code node}, writing on the index's sender. */
    public SyncSession session(String node, String certificateHash, io.grpc.stub.StreamObserver<SyncResponse> out) {
        return new SyncSession(node, certificateHash, out, sender, limits, templates, configs);
    }

    @jakarta.annotation.PreDestroy
    void closeSender() {
        if (sender instanceof SendExecutor executor) {
            executor.close();
        }
    }

    public NodeCursors cursors() {
        return cursors;
    }

    /**
     * Hooks the index to the assignments cache and loads the nodes' resume cursors; call once the cache
     * has started, before agents can connect.
     */
    public void start() {
        caches.assignments().subscribe(this, (state, rev) -> {
            rebuild(state, rev);
            return null;
        });
        Map<String, NodeCursors.Cursor> loaded = checkpoints.start();
        // The nodes that were idle when the checkpoint was written share its newest quiet-through; one
        // keys-only read at it tells which of them stayed unchanged until now, so their cursors follow again.
        long newest = loaded.values().stream().mapToLong(NodeCursors.Cursor::quietThrough).max().orElse(0);
        if (newest > 0) {
            checkpoints.assignmentKeysAt(newest).ifPresent(keys -> confirmQuiet(loaded.entrySet().stream()
                    .filter(e -> e.getValue().quietThrough() == newest).map(Map.Entry::getKey).toList(), newest, keys));
        }
    }

    /**
     * For each of {@code candidates}: if its keys at {@code at} (from {@code etcdKeysAt}, every node's)
     * are exactly its keys now, none written after {@code at} and none deleted since this process started,
     * it had no change in between: its cursor is quiet up to now.
     */
    synchronized void confirmQuiet(List<String> candidates, long at, List<String> etcdKeysAt) {
        Map<String, java.util.Set<String>> then = new HashMap<>();
        for (String etcdKey : etcdKeysAt) {
            Location loc = Location.of(etcdKey);
            if (loc != null) {
                then.computeIfAbsent(loc.node(), n -> new java.util.TreeSet<>()).add(loc.key());
            }
        }
        int confirmed = 0;
        for (String node : candidates) {
            NodeState state = nodes.get(node);
            java.util.Set<String> now = state == null ? java.util.Set.of() : state.live.keySet();
            boolean unchanged = now.equals(then.getOrDefault(node, java.util.Set.of()))
                    && (state == null || (state.tombstones.isEmpty()
                            && state.live.values().stream().allMatch(e -> e.modRevision() <= at)));
            if (unchanged) {
                cursors.quietThrough(node, revision);
                confirmed++;
            }
        }
        LOG.infof("resume cursors: %d of %d idle nodes unchanged since the checkpoint", confirmed, candidates.size());
    }

    @Override
    public synchronized void onEvents(List<PrefixCache.Event<Assignment>> events, long newest) {
        Map<String, List<Change>> perNode = new HashMap<>();
        for (PrefixCache.Event<Assignment> event : events) {
            Location at = Location.of(event.key());
            if (at == null) {
                continue;
            }
            NodeState state = nodes.computeIfAbsent(at.node(), n -> new NodeState());
            cursors.changed(at.node(), event.revision());
            Change change;
            if (event instanceof PrefixCache.Put<Assignment> put) {
                state.live.put(at.key(), put.entry());
                state.tombstones.remove(at.key());
                change = put(at.key(), put.entry());
            } else {
                state.live.remove(at.key());
                state.tombstones.put(at.key(), event.revision());
                prune(state);
                change = Change.newBuilder().setType(Change.Type.DELETE).setKey(at.key()).setModRevision(event.revision()).build();
            }
            perNode.computeIfAbsent(at.node(), n -> new ArrayList<>()).add(change);
        }
        revision = Math.max(revision, newest);
        cursors.advance(revision);
        for (Map.Entry<String, List<Change>> e : perNode.entrySet()) {
            // Recorded only: each session coalesces and writes on the sender, never on this (the watch's) thread.
            for (SyncSession session : sessions.getOrDefault(e.getKey(), Set.of())) {
                session.offer(e.getValue());
            }
        }
    }

    @Override
    public synchronized void onReset(Map<String, Entry<Assignment>> state, long at) {
        LOG.infof("assignment watch restarted at revision %d: connected agents get a Snapshot", at);
        rebuild(state, at);
        for (Set<SyncSession> set : sessions.values()) {
            for (SyncSession session : set) {
                session.startOver();
            }
        }
    }

    /** Nothing changed up to {@code at}: Changes sent from now on say so, and idle cursors follow. */
    @Override
    public synchronized void onProgress(long at) {
        revision = Math.max(revision, at);
        cursors.advance(revision);
    }

    private void rebuild(Map<String, Entry<Assignment>> state, long at) {
        cursors.reset(at);
        nodes.clear();
        for (Entry<Assignment> entry : state.values()) {
            Location loc = Location.of(entry.key());
            if (loc != null) {
                nodes.computeIfAbsent(loc.node(), n -> new NodeState()).live.put(loc.key(), entry);
            }
        }
        floor = at;
        revision = at;
    }

    private static void prune(NodeState state) {
        if (state.tombstones.size() <= MAX_TOMBSTONES) {
            return;
        }
        List<Map.Entry<String, Long>> oldest = new ArrayList<>(state.tombstones.entrySet());
        oldest.sort(Map.Entry.comparingByValue());
        for (Map.Entry<String, Long> e : oldest.subList(0, oldest.size() / 2)) {
            state.tombstones.remove(e.getKey());
            state.prunedFloor = Math.max(state.prunedFloor, e.getValue());
        }
    }

    /**
     * Registers {@code session} and sends what its agent is missing since {@code lastApplied}: one
     * Changes (coalesced: one per key) when history can answer exactly, else a Snapshot. Atomic with
     * respect to new events, so nothing is missed or sent twice.
     */
    public synchronized void open(SyncSession session, long lastApplied) {
        open(session, lastApplied, Optional.empty(), Map.of());
    }

    /** The revision up to which memory holds {@code node}'s history (deletions before it are not known here). */
    public synchronized long floorOf(String node) {
        NodeState state = nodes.get(node);
        return Math.max(floor, state == null ? 0 : state.prunedFloor);
    }

    /**
     * Of {@code etcdKeysThen} (the node's keys at some past revision), those gone now whose deletion
     * memory has no record of: their revisions must come from etcd's history.
     */
    public synchronized java.util.Set<String> deletedUnrecorded(String node, List<String> etcdKeysThen) {
        NodeState state = nodes.get(node);
        java.util.Set<String> out = new java.util.TreeSet<>();
        for (String etcdKey : etcdKeysThen) {
            Location at = Location.of(etcdKey);
            if (at != null && (state == null || (!state.live.containsKey(at.key()) && !state.tombstones.containsKey(at.key())))) {
                out.add(etcdKey);
            }
        }
        return out;
    }

    /**
     * True when memory alone cannot answer a Hello at {@code lastApplied} although etcd might: the
     * revision is older than this process's history (e.g. after a control-plane restart) or than the
     * node's pruned tombstones. The caller then reads the node's keys at that revision from etcd.
     */
    public synchronized boolean needsKeysAt(String node, long lastApplied) {
        NodeState state = nodes.get(node);
        long nodeFloor = Math.max(floor, state == null ? 0 : state.prunedFloor);
        return lastApplied > 0 && lastApplied < nodeFloor && lastApplied <= revision;
    }

    /**
     * As {@link #open(SyncSession, long)}, with the node's assignment keys (full etcd keys) as they were
     * at {@code lastApplied}, read from etcd's history: then a revision older than memory's history is
     * still answered with Changes. Puts are every live key modified after it; deletes are the keys that
     * existed then and are gone now (exact, whatever happened in between). Only when etcd compacted
     * that revision (no keys given) does the agent get a Snapshot. A deletion carries its real revision:
     * from memory's tombstones, else from {@code deletedAt} (full etcd key -> revision, read from etcd's
     * history), else (not found) the current revision.
     */
    public synchronized void open(SyncSession session, long lastApplied, Optional<List<String>> keysThen,
                                  Map<String, Long> deletedAt) {
        String node = session.node();
        NodeState state = nodes.get(node);
        long nodeFloor = Math.max(floor, state == null ? 0 : state.prunedFloor);
        session.attach(this);
        Optional<Changes> first;
        if (lastApplied <= 0 || lastApplied > revision) {
            first = Optional.empty();
        } else if (lastApplied < nodeFloor) {
            first = keysThen.map(keys -> deltaFromHistory(state, lastApplied, keys, deletedAt));
        } else {
            first = Optional.of(delta(state, lastApplied));
        }
        // The Snapshot itself is built when the stream can take it, from the state then.
        first.ifPresentOrElse(changes -> session.startWith(changes.getChangesList(), changes.getRevision()), session::startOver);
        sessions.computeIfAbsent(node, n -> new LinkedHashSet<>()).add(session);
    }

    public synchronized void close(SyncSession session) {
        Set<SyncSession> set = sessions.get(session.node());
        if (set != null) {
            set.remove(session);
            if (set.isEmpty()) {
                sessions.remove(session.node());
            }
        }
    }

    /** Ends every stream (at shutdown), so agents reconnect elsewhere at once. */
    public synchronized void abortAll(io.grpc.Status status) {
        for (Set<SyncSession> set : sessions.values()) {
            for (SyncSession session : set) {
                session.abort(status);
            }
        }
        sessions.clear();
    }

    public synchronized List<SyncSession> sessionsOf(String node) {
        return new ArrayList<>(sessions.getOrDefault(node, Set.of()));
    }

    public synchronized long revision() {
        return revision;
    }

    /** The node's assignments now ("namespace/replica" -> assignment). */
    public synchronized Map<String, Assignment> assignmentsOf(String node) {
        NodeState state = nodes.get(node);
        Map<String, Assignment> out = new TreeMap<>();
        if (state != null) {
            state.live.forEach((k, v) -> out.put(k, v.value()));
        }
        return out;
    }

    @Override
    public synchronized Snapshot snapshotFor(SyncSession session) {
        NodeState state = nodes.get(session.node());
        Snapshot.Builder snapshot = Snapshot.newBuilder().setRevision(revision);
        if (state != null) {
            state.live.values().forEach(e -> snapshot.addAssignments(e.value()));
        }
        session.coveredThrough(revision);
        return snapshot.build();
    }

    private Changes delta(NodeState state, long after) {
        Changes.Builder changes = Changes.newBuilder().setRevision(revision);
        if (state == null) {
            return changes.build();
        }
        List<Change> list = new ArrayList<>();
        state.live.forEach((key, entry) -> {
            if (entry.modRevision() > after) {
                list.add(put(key, entry));
            }
        });
        state.tombstones.forEach((key, rev) -> {
            if (rev > after) {
                list.add(Change.newBuilder().setType(Change.Type.DELETE).setKey(key).setModRevision(rev).build());
            }
        });
        list.sort(Comparator.comparingLong(Change::getModRevision));
        return changes.addAllChanges(list).build();
    }

    private Changes deltaFromHistory(NodeState state, long after, List<String> etcdKeysThen, Map<String, Long> deletedAt) {
        Changes.Builder changes = Changes.newBuilder().setRevision(revision);
        List<Change> list = new ArrayList<>();
        if (state != null) {
            state.live.forEach((key, entry) -> {
                if (entry.modRevision() > after) {
                    list.add(put(key, entry));
                }
            });
        }
        for (String etcdKey : etcdKeysThen) {
            Location at = Location.of(etcdKey);
            if (at != null && (state == null || !state.live.containsKey(at.key()))) {
                Long tombstone = state == null ? null : state.tombstones.get(at.key());
                long deleted = tombstone != null ? tombstone : deletedAt.getOrDefault(etcdKey, revision);
                list.add(Change.newBuilder().setType(Change.Type.DELETE).setKey(at.key()).setModRevision(deleted).build());
            }
        }
        list.sort(Comparator.comparingLong(Change::getModRevision));
        return changes.addAllChanges(list).build();
    }

    private static Change put(String key, Entry<Assignment> entry) {
        return Change.newBuilder().setType(Change.Type.PUT).setKey(key).setAssignment(entry.value())
                .setModRevision(entry.modRevision()).build();
    }
}
