package dev.edgeplane.controlplane.sync;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.Changes;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.HashedTemplate;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.api.v1.SyncResponse;
import dev.edgeplane.controlplane.stream.Sender;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.jboss.logging.Logger;

/**
 * One connected agent's Sync stream, flow-controlled. The index offers changes (cheap, under its
 * lock, from the watch thread); the session's {@link Sender} thread writes while the call is ready
 * ({@code isReady()}, and again on {@code onReady}). While it is not, the backlog keeps per key only
 * the latest change; past {@link Limits#backlogKeys} keys or {@link Limits#backlogBytes} bytes it is
 * dropped and ONE Snapshot of the node's state is sent when the stream is ready again. Control
 * messages (heartbeat acks, OpenTunnel) wait in a small queue of their own that goes before data.
 *
 * <p>Templates: the session remembers the template hashes its stream has carried (and those the
 * agent said it holds), and each Snapshot/Changes carries the templates its assignments reference
 * that the agent does not have yet, so a node receives each template once. A message whose template
 * cannot be found is held back and retried, never sent unresolvable. The cumulative ack is kept in
 * memory only.
 */
public final class SyncSession {
    private static final Logger LOG = Logger.getLogger(SyncSession.class);
    /** How soon a message held back for a template not found yet is tried again. */
    static final Duration TEMPLATE_RETRY = Duration.ofMillis(500);
    /** Template hashes (and config objects) remembered per stream; beyond it the oldest is forgotten (and sent again if needed). */
    static final int MAX_REMEMBERED_TEMPLATES = 1024;

    /** Bounds of one stream's outbox. */
    public record Limits(int backlogKeys, long backlogBytes, int controlMessages) {
        public static final Limits DEFAULT = new Limits(1000, 4L << 20, 64);
    }

    /** Where a session gets its node's whole state when it must start over (the index). */
    interface StateSource {
        /**
         * The node's Snapshot now (without templates), built under the lock that orders offers, which
         * also marks the session covered through its revision ({@link #coveredThrough}).
         */
        Snapshot snapshotFor(SyncSession session);
    }

    private final String node;
    private final String certificateHash;
    private final StreamObserver<SyncResponse> out;
    /** Null when the observer is not a server call (tests): then always ready. */
    private final ServerCallStreamObserver<SyncResponse> call;
    private final Sender sender;
    private final Limits limits;
    private final TemplateLookup templates;
    private final ConfigLookup configs;
    private final AtomicLong acked = new AtomicLong();
    private final AtomicBoolean hello = new AtomicBoolean();
    private final AtomicBoolean ended = new AtomicBoolean();
    private final Object writeLock = new Object();
    private volatile StateSource source;

    // Outbox, guarded by this.
    private final ArrayDeque<SyncResponse> control = new ArrayDeque<>();
    private final LinkedHashMap<String, Change> backlog = new LinkedHashMap<>();
    private long backlogBytes;
    /** A Changes is due even if the backlog is empty (the first answer to a Hello), with at least this revision. */
    private boolean changesDue;
    private long dueRevision;
    private boolean snapshotDue;
    /** Changes at or below this revision are already in what was sent (a Snapshot or a full delta). */
    private long coveredThrough;
    private boolean draining;
    private boolean closed;
    private long snapshotsForBacklog;
    /** Template hashes the agent has: told in its Hello or carried on this stream. Drain thread only. */
    private final LinkedHashSet<String> knownTemplates = new LinkedHashSet<>();
    /** "namespace/kind/name" -> the newest version of that ConfigMap or Secret the agent has. Drain thread only. */
    private final LinkedHashMap<String, Long> knownConfigs = new LinkedHashMap<>();

    public SyncSession(String node, String certificateHash, StreamObserver<SyncResponse> out, Sender sender,
                       Limits limits, TemplateLookup templates, ConfigLookup configs) {
        this.node = node;
        this.certificateHash = certificateHash;
        this.out = out;
        this.sender = sender;
        this.limits = limits;
        this.templates = templates;
        this.configs = configs;
        this.call = out instanceof ServerCallStreamObserver<SyncResponse> server ? server : null;
        if (call != null) {
            call.setOnReadyHandler(this::scheduleDrain);
        }
    }

    public String node() {
        return node;
    }

    public String certificateHash() {
        return certificateHash;
    }

    /** The templates the agent says it holds (validated by the caller): not sent again on this stream. */
    synchronized void agentHolds(Collection<String> hashes) {
        for (String hash : hashes) {
            remember(hash);
        }
    }

    /** The ConfigMaps and Secrets the agent says it holds (validated by the caller): not sent again at those versions. */
    synchronized void agentHoldsConfigs(Collection<ConfigData> held) {
        for (ConfigData data : held) {
            rememberConfig(data);
        }
    }

    // ---- fed by the index, under its lock ----

    void attach(StateSource source) {
        this.source = source;
    }

    /** The first answer to a Hello: these changes (a full delta up to {@code revision}), sent even if empty. */
    void startWith(List<Change> changes, long revision) {
        synchronized (this) {
            if (closed) {
                return;
            }
            coveredThrough = Math.max(coveredThrough, revision);
            changesDue = true;
            dueRevision = Math.max(dueRevision, revision);
            for (Change change : changes) {
                add(change);
            }
            checkBound();
        }
        scheduleDrain();
    }

    /** The agent gets a Snapshot of the node's state next (its first answer, or after a watch reset). */
    void startOver() {
        synchronized (this) {
            if (closed) {
                return;
            }
            dropBacklog();
            snapshotDue = true;
        }
        scheduleDrain();
    }

    /** Live changes of the node, in revision order. */
    void offer(List<Change> changes) {
        synchronized (this) {
            if (closed || snapshotDue) {
                return; // the Snapshot to come will hold them
            }
            boolean added = false;
            for (Change change : changes) {
                if (change.getModRevision() > coveredThrough) {
                    add(change);
                    added = true;
                }
            }
            if (!added) {
                return;
            }
            checkBound();
        }
        scheduleDrain();
    }

    /** Called by {@link StateSource#snapshotFor} under the index's lock: the Snapshot holds everything so far. */
    synchronized void coveredThrough(long revision) {
        dropBacklog();
        coveredThrough = Math.max(coveredThrough, revision);
    }

    private void add(Change change) {
        Change older = backlog.remove(change.getKey());
        if (older != null) {
            backlogBytes -= older.getSerializedSize();
        }
        backlog.put(change.getKey(), change);
        backlogBytes += change.getSerializedSize();
    }

    private void checkBound() {
        if (backlog.size() > limits.backlogKeys() || backlogBytes > limits.backlogBytes()) {
            LOG.debugf("node %s reads too slowly (%d keys, %d bytes waiting): it gets one Snapshot when ready",
                    node, backlog.size(), backlogBytes);
            dropBacklog();
            snapshotDue = true;
            snapshotsForBacklog++;
        }
    }

    private void dropBacklog() {
        backlog.clear();
        backlogBytes = 0;
        changesDue = false;
        dueRevision = 0;
    }

    // ---- control messages ----

    /**
     * A small control message (heartbeat ack, OpenTunnel): goes before any waiting data. False when the
     * stream is closed or already has {@link Limits#controlMessages} of them waiting (it reads nothing).
     */
    public boolean sendControl(SyncResponse message) {
        synchronized (this) {
            if (closed || control.size() >= limits.controlMessages()) {
                return false;
            }
            control.add(message);
        }
        scheduleDrain();
        return true;
    }

    // ---- the writer ----

    private void scheduleDrain() {
        synchronized (this) {
            if (draining || closed) {
                return;
            }
            draining = true;
        }
        sender.execute(this::drain);
    }

    /** The stream takes data now (HTTP/2 flow control); a plain observer (tests) always does. */
    boolean ready() {
        return call == null || call.isReady();
    }

    private sealed interface Work permits Send, BuildSnapshot, BuildChanges {}

    private record Send(SyncResponse message) implements Work {}

    private record BuildSnapshot() implements Work {}

    private record BuildChanges(List<Change> changes, long revision) implements Work {}

    /** The only place that writes data, one thread at a time; runs on the sender. */
    private void drain() {
        while (true) {
            Work work;
            synchronized (this) {
                if (closed || !ready()) {
                    draining = false; // onReady schedules again
                    return;
                }
                SyncResponse next = control.poll();
                if (next != null) {
                    work = new Send(next);
                } else if (snapshotDue) {
                    snapshotDue = false;
                    work = new BuildSnapshot();
                } else if (changesDue || !backlog.isEmpty()) {
                    List<Change> changes = new ArrayList<>(backlog.values());
                    changes.sort(Comparator.comparingLong(Change::getModRevision));
                    long revision = Math.max(dueRevision, changes.isEmpty() ? 0 : changes.get(changes.size() - 1).getModRevision());
                    dropBacklog();
                    work = new BuildChanges(changes, revision);
                } else {
                    draining = false;
                    return;
                }
            }
            Optional<SyncResponse> message = build(work);
            if (message.isEmpty()) {
                holdBack(work);
                return;
            }
            if (!write(message.get())) {
                return;
            }
        }
    }

    private Optional<SyncResponse> build(Work work) {
        if (work instanceof Send send) {
            return Optional.of(send.message());
        }
        if (work instanceof BuildSnapshot) {
            Snapshot snapshot = source.snapshotFor(this);
            return carried(snapshot.getAssignmentsList()).map(c -> SyncResponse.newBuilder()
                    .setSnapshot(snapshot.toBuilder().addAllTemplates(c.templates()).addAllConfigs(c.configs())).build());
        }
        BuildChanges changes = (BuildChanges) work;
        List<Assignment> puts = new ArrayList<>();
        for (Change change : changes.changes()) {
            if (change.getType() == Change.Type.PUT) {
                puts.add(change.getAssignment());
            }
        }
        return carried(puts).map(c -> SyncResponse.newBuilder().setChanges(Changes.newBuilder()
                .setRevision(changes.revision()).addAllChanges(changes.changes())
                .addAllTemplates(c.templates()).addAllConfigs(c.configs())).build());
    }

    /** What a message carries besides its assignments: templates and configs the agent does not have yet. */
    private record Carried(List<HashedTemplate> templates, List<ConfigData> configs) {}

    /**
     * The templates and the ConfigMaps/Secrets {@code assignments} use that the agent does not have yet,
     * each once; empty when one cannot be resolved yet (then nothing is sent). Those returned are
     * remembered as carried.
     */
    private Optional<Carried> carried(List<Assignment> assignments) {
        Optional<List<HashedTemplate>> templates = templatesFor(assignments);
        if (templates.isEmpty()) {
            return Optional.empty();
        }
        Optional<List<ConfigData>> configs = configsFor(assignments);
        if (configs.isEmpty()) {
            return Optional.empty();
        }
        templates.get().forEach(t -> remember(t.getHash()));
        configs.get().forEach(this::rememberConfig);
        return Optional.of(new Carried(templates.get(), configs.get()));
    }

    /** The templates {@code assignments} reference by hash that the agent does not have yet, each once; empty when one cannot be found. */
    private Optional<List<HashedTemplate>> templatesFor(List<Assignment> assignments) {
        Map<String, HashedTemplate> needed = new LinkedHashMap<>();
        for (Assignment assignment : assignments) {
            String hash = assignment.getTemplateHash();
            // An inline template (written before templates were stored by hash) travels as it is.
            if (hash.isEmpty() || assignment.hasTemplate() || knownTemplates.contains(hash) || needed.containsKey(hash)) {
                continue;
            }
            Optional<PodTemplate> template = templates.find(assignment.getNamespace(), assignment.getApp(), hash);
            if (template.isEmpty()) {
                LOG.warnf("template %s of %s/%s (assignment %s of node %s) not found; holding the message back",
                        hash, assignment.getNamespace(), assignment.getApp(), assignment.getReplica(), node);
                return Optional.empty();
            }
            needed.put(hash, HashedTemplate.newBuilder().setHash(hash).setTemplate(template.get()).build());
        }
        return Optional.of(new ArrayList<>(needed.values()));
    }

    /**
     * The ConfigMaps and Secrets {@code assignments} use, at their version or newer, that the agent does
     * not have at that version yet: only what this node's assignments use ever goes to it.
     */
    private Optional<List<ConfigData>> configsFor(List<Assignment> assignments) {
        Map<String, ConfigData> needed = new LinkedHashMap<>();
        for (Assignment assignment : assignments) {
            for (ConfigRef ref : assignment.getConfigsList()) {
                String key = configKey(assignment.getNamespace(), ref);
                Long known = knownConfigs.get(key);
                ConfigData already = needed.get(key);
                if ((known != null && known >= ref.getVersion()) || (already != null && already.getRef().getVersion() >= ref.getVersion())) {
                    continue;
                }
                Optional<ConfigData> data = configs.find(assignment.getNamespace(), ref);
                if (data.isEmpty()) {
                    LOG.debugf("%s %s/%s at version %d not seen yet (node %s); holding the message back",
                            ref.getKind(), assignment.getNamespace(), ref.getName(), ref.getVersion(), node);
                    return Optional.empty();
                }
                needed.put(key, data.get());
            }
        }
        return Optional.of(new ArrayList<>(needed.values()));
    }

    private static String configKey(String namespace, ConfigRef ref) {
        return namespace + "/" + ref.getKind().getNumber() + "/" + ref.getName();
    }

    private void rememberConfig(ConfigData data) {
        String key = configKey(data.getNamespace(), data.getRef());
        long version = data.getMissing() ? 0 : data.getRef().getVersion();
        knownConfigs.remove(key);
        knownConfigs.put(key, version);
        if (knownConfigs.size() > MAX_REMEMBERED_TEMPLATES) {
            knownConfigs.remove(knownConfigs.keySet().iterator().next());
        }
    }

    private void remember(String hash) {
        knownTemplates.remove(hash);
        knownTemplates.add(hash);
        if (knownTemplates.size() > MAX_REMEMBERED_TEMPLATES) {
            knownTemplates.remove(knownTemplates.iterator().next());
        }
    }

    /** A template was missing: the work goes back (newer changes win) and is tried again shortly. */
    private void holdBack(Work work) {
        synchronized (this) {
            if (work instanceof BuildSnapshot) {
                snapshotDue = true;
            } else if (work instanceof BuildChanges changes && !snapshotDue) {
                for (Change change : changes.changes()) {
                    Change newer = backlog.get(change.getKey());
                    if (newer == null) {
                        add(change);
                    }
                }
                changesDue = true;
                dueRevision = Math.max(dueRevision, changes.revision());
                checkBound();
            }
            draining = false;
        }
        sender.schedule(this::scheduleDrain, TEMPLATE_RETRY);
    }

    private boolean write(SyncResponse message) {
        synchronized (writeLock) {
            synchronized (this) {
                if (closed) {
                    draining = false;
                    return false;
                }
            }
            try {
                out.onNext(message);
                return true;
            } catch (RuntimeException e) {
                // The call was cancelled under us; the stream's own callbacks clean up.
                LOG.debugf("send to %s failed: %s", node, e.toString());
                synchronized (this) {
                    closed = true;
                    draining = false;
                }
                return false;
            }
        }
    }

    // ---- ending ----

    /** Ends the stream from the server side with {@code status}. */
    public void abort(Status status) {
        abort(status.asRuntimeException());
    }

    /** Ends the stream from the server side with {@code error} (its trailers, e.g. BadRequest details, go along). */
    public void abort(StatusRuntimeException error) {
        if (!markClosed()) {
            return;
        }
        synchronized (writeLock) {
            try {
                out.onError(error);
            } catch (RuntimeException e) {
                LOG.debugf("abort of %s failed: %s", node, e.toString());
            }
        }
    }

    public void complete() {
        if (!markClosed()) {
            return;
        }
        synchronized (writeLock) {
            try {
                out.onCompleted();
            } catch (RuntimeException e) {
                LOG.debugf("completing %s failed: %s", node, e.toString());
            }
        }
    }

    /** Records a cumulative ack; returns the newest acked revision. */
    public long ack(long revision) {
        return acked.accumulateAndGet(revision, Math::max);
    }

    public long acked() {
        return acked.get();
    }

    /** True for the first Hello only. */
    boolean markHello() {
        return hello.compareAndSet(false, true);
    }

    boolean helloSeen() {
        return hello.get();
    }

    /** True the first time only: the stream's end is handled once, whichever callback comes first. */
    boolean markEnded() {
        return ended.compareAndSet(false, true);
    }

    /** Stops all sending; true the first time. */
    synchronized boolean markClosed() {
        if (closed) {
            return false;
        }
        closed = true;
        control.clear();
        dropBacklog();
        snapshotDue = false;
        return true;
    }

    /** How often this stream's backlog passed its bound and was replaced by a Snapshot. */
    synchronized long snapshotsForBacklog() {
        return snapshotsForBacklog;
    }

    /** Keys waiting in the backlog (tests). */
    synchronized int backlogKeys() {
        return backlog.size();
    }
}
