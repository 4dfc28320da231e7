package dev.edgeplane.controlplane.nodes;

import dev.edgeplane.api.v1.Heartbeat;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.store.TxnWriter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * What connected agents say about their nodes. Liveness (last seen, acks, heartbeat replica counts)
 * stays in memory ({@link NodeLiveness}); etcd gets only what changes a Node's recorded state: READY
 * when a stream connects to a node not READY (or with new host info), the last-seen time when a stream
 * ends, UNREACHABLE (leader only) once a node has had no stream for {@code edgeplane.node.unreachable-after}.
 * Those changes and the replica statuses from StatusReports are written in batches, every
 * {@code edgeplane.node.status-flush-interval}, as grouped transactions (see {@link NodeStatusWriter},
 * {@link ReplicaStatusWriter}).
 *
 * <p>Single-replica assumption, on purpose and only here: the unreachable check trusts this process's
 * memory of which streams are open. See the README ("Liveness and status") for what HA must add.
 */
@ApplicationScoped
public class NodeTracker {
    private static final Logger LOG = Logger.getLogger(NodeTracker.class);
    /** The most an admission backlog postpones the verdict on a node not back since the start. */
    static final Duration MAX_BACKLOG_GRACE = Duration.ofMinutes(10);

    /** Counts since start, for tests and /metrics. */
    public record Counts(long nodeStatusTxns, long nodeStatusWrites, long nodeStatusConflicts,
                         long replicaStatusTxns, long replicaStatusWrites, long replicaStatusConflicts,
                         long replicaStatusRefused, int nodeStatusWaiting, int replicaStatusWaiting) {}

    private final StateCaches caches;
    private final LeaderLock leader;
    private final NodeLiveness liveness;
    private final Duration unreachableAfter;
    private final Duration flushInterval;
    private final Clock clock = Clock.systemUTC();
    /** When this process began taking agents' connections ({@link #start}). */
    private volatile Instant started = Instant.now();
    /** Until when this process is still admitting a backlog of agents' connections (see {@link #admissionBacklog}). */
    private volatile Instant backlogUntil = Instant.MIN;
    private final NodeStatusWriter nodeWriter;
    private final ReplicaStatusWriter statusWriter;
    private final PrefixCache.Listener<Node> forgetDeleted;
    private final ScheduledExecutorService flusher = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "edgeplane-node-status");
        t.setDaemon(true);
        return t;
    });

    public NodeTracker(EtcdStore store, StateCaches caches, LeaderLock leader, ControlPlaneConfig config, EventRecorder events,
                       NodeLiveness liveness, MeterRegistry registry) {
        this.caches = caches;
        this.leader = leader;
        this.liveness = liveness;
        ControlPlaneConfig.Node node = config.node();
        requireWithin("edgeplane.node.status-writes-per-txn", node.statusWritesPerTxn(), 1, TxnWriter.MAX_OPS / 2);
        requireWithin("edgeplane.node.status-txns-in-flight", node.statusTxnsInFlight(), 1, 64);
        requireWithin("edgeplane.node.status-queue-capacity", node.statusQueueCapacity(), 1, Integer.MAX_VALUE);
        this.unreachableAfter = node.unreachableAfter();
        this.flushInterval = node.statusFlushInterval();
        TxnWriter writer = new TxnWriter(store, node.statusTxnsInFlight());
        this.nodeWriter = new NodeStatusWriter(store, caches.nodes(), writer, leader, liveness, events,
                node.statusWritesPerTxn(), node.statusTxnsInFlight());
        this.statusWriter = new ReplicaStatusWriter(store, caches.replicaStatuses(), caches.assignments(), writer,
                node.statusWritesPerTxn(), node.statusTxnsInFlight(), node.statusQueueCapacity(), node.statusQueueWait());
        this.forgetDeleted = new PrefixCache.Listener<>() {
            @Override
            public void onEvents(List<PrefixCache.Event<Node>> events, long revision) {
                for (PrefixCache.Event<Node> event : events) {
                    if (event instanceof PrefixCache.Delete<Node>) {
                        liveness.forget(Keys.suffix(event.key(), Keys.NODES));
                    }
                }
            }
        };
        registerMeters(registry);
    }

    private static void requireWithin(String property, int value, int min, int max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(property + " must be within " + min + ".." + max + ", got " + value);
        }
    }

    private void registerMeters(MeterRegistry registry) {
        FunctionCounter.builder("edgeplane.status.txns", this, t -> t.nodeWriter.txns()).tag("kind", "node")
                .description("status transactions written").register(registry);
        FunctionCounter.builder("edgeplane.status.txns", this, t -> t.statusWriter.txns()).tag("kind", "replica")
                .description("status transactions written").register(registry);
        FunctionCounter.builder("edgeplane.status.writes", this, t -> t.nodeWriter.writes()).tag("kind", "node")
                .description("status keys written").register(registry);
        FunctionCounter.builder("edgeplane.status.writes", this, t -> t.statusWriter.writes()).tag("kind", "replica")
                .description("status keys written").register(registry);
        FunctionCounter.builder("edgeplane.status.refused", this, t -> t.statusWriter.refused()).tag("kind", "replica")
                .description("status changes refused because the queue was full").register(registry);
        Gauge.builder("edgeplane.status.waiting", this, t -> t.nodeWriter.waiting()).tag("kind", "node")
                .description("status changes waiting to be written").register(registry);
        Gauge.builder("edgeplane.status.waiting", this, t -> t.statusWriter.waiting()).tag("kind", "replica")
                .description("status changes waiting to be written").register(registry);
    }

    /**
     * The agent endpoint still has connections waiting for admission, or told an agent to come back
     * {@code retryAfter} from now. Until that backlog is through, a node that has not reconnected since
     * this process started may be one of them: it is not judged UNREACHABLE before {@code
     * unreachable-after} past the backlog's end. After a restart of the control plane, a fleet comes
     * back at the pace admission allows (minutes at 19,000 agents); judging the nodes still in line
     * would write two phase changes for each and wake their Apps twice.
     */
    public void admissionBacklog(Duration retryAfter) {
        Instant until = clock.instant().plus(retryAfter);
        if (until.isAfter(backlogUntil)) {
            backlogUntil = until; // racy max: a lost update is a later one within milliseconds
        }
    }

    /**
     * Where a READY node's unreachable-after counts from: when it was last seen; for a node not back since
     * this process started, not before the admission backlog it may wait in is through, but at most
     * {@link #MAX_BACKLOG_GRACE} after the start (connections kept waiting at the gate, by anyone, must not
     * postpone verdicts for ever).
     */
    static Instant judgedFrom(Instant lastSeen, boolean seenHere, Instant backlogUntil, Instant started) {
        if (seenHere) {
            return lastSeen;
        }
        Instant cap = started.plus(MAX_BACKLOG_GRACE);
        Instant until = backlogUntil.isBefore(cap) ? backlogUntil : cap;
        return until.isAfter(lastSeen) ? until : lastSeen;
    }

    /** Called right after the agent endpoint starts listening: the unreachable clock starts now, not at construction. */
    public void start() {
        started = clock.instant();
        statusWriter.start();
        caches.nodes().subscribe(forgetDeleted);
        long flush = Math.max(10, flushInterval.toMillis());
        flusher.scheduleWithFixedDelay(this::flush, flush, flush, TimeUnit.MILLISECONDS);
        long period = Math.max(1000, Math.min(5000, unreachableAfter.toMillis() / 4));
        flusher.scheduleWithFixedDelay(this::checkUnreachable, period, period, TimeUnit.MILLISECONDS);
    }

    /** Stops; what still waits gets a last flush (a few seconds at most). */
    public void stop() {
        caches.nodes().unsubscribe(forgetDeleted);
        flusher.shutdown();
        try {
            flusher.awaitTermination(5, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
            while (!(nodeWriter.idle() && statusWriter.idle()) && System.nanoTime() < deadline) {
                flush();
                Thread.sleep(20);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!(nodeWriter.idle() && statusWriter.idle())) {
            LOG.warnf("stopping with %d node and %d replica status changes unwritten", nodeWriter.waiting(), statusWriter.waiting());
        }
        flusher.shutdownNow();
        statusWriter.stop();
    }

    public Counts counts() {
        return new Counts(nodeWriter.txns(), nodeWriter.writes(), nodeWriter.conflicts(),
                statusWriter.txns(), statusWriter.writes(), statusWriter.conflicts(), statusWriter.refused(),
                nodeWriter.waiting(), statusWriter.waiting());
    }

    /** True when nothing waits to be written and nothing is in flight. */
    public boolean idle() {
        return nodeWriter.idle() && statusWriter.idle();
    }

    public boolean isConnected(String node) {
        return liveness.isConnected(node);
    }

    public void connected(String node, NodeInfo info, long lastApplied) {
        Instant at = liveness.connected(node, lastApplied);
        liveness.conditionsChanged(node, info.getConditionsList());
        nodeWriter.enqueue(node, NodeChange.connected(info, at));
    }

    public void disconnected(String node) {
        liveness.disconnected(node).ifPresent(at -> nodeWriter.enqueue(node, NodeChange.disconnected(at)));
    }

    public void acked(String node, long revision) {
        liveness.acked(node, revision);
    }

    /** The node was heard from other than by a heartbeat (a metrics batch): in memory only, like a heartbeat's time. */
    public void heard(String node) {
        liveness.heard(node);
    }

    /** In memory only, unless the node's conditions changed or its storage moved: then one (batched) write, as for a phase. */
    public void heartbeat(String node, Heartbeat heartbeat) {
        liveness.heartbeat(node, heartbeat.getRunningReplicas(), heartbeat.getDesiredReplicas());
        if (liveness.conditionsChanged(node, heartbeat.getConditionsList())) {
            nodeWriter.enqueue(node, NodeChange.conditions(heartbeat.getConditionsList(), clock.instant()));
        }
        // Malformed storage (too many backends, long names) is ignored: what was recorded stays.
        if (heartbeat.hasStorage() && NodeStatuses.storageWellFormed(heartbeat.getStorage())
                && liveness.storageMoved(node, heartbeat.getStorage())) {
            nodeWriter.enqueue(node, NodeChange.storage(heartbeat.getStorage()));
        }
    }

    /** Queues the replica statuses that changed; ignores replicas not assigned to {@code node}. */
    public void report(String node, StatusReport report) {
        if (statusWriter.report(node, report, clock.instant())) {
            try {
                flusher.execute(this::flushReplicaStatuses); // the flusher thread: flushes never overlap
            } catch (java.util.concurrent.RejectedExecutionException stopping) {
                // stopping: the last flush takes it
            }
        }
    }

    private void flushReplicaStatuses() {
        try {
            statusWriter.flush();
        } catch (RuntimeException e) {
            LOG.warn("replica status flush failed", e);
        }
    }

    private void flush() {
        try {
            nodeWriter.flush();
        } catch (RuntimeException e) {
            LOG.warn("node status flush failed", e);
        }
        try {
            statusWriter.flush();
        } catch (RuntimeException e) {
            LOG.warn("replica status flush failed", e);
        }
    }

    /**
     * Leader only: READY nodes with no stream here for {@code unreachable-after} get an UNREACHABLE
     * verdict. Reads memory only (the nodes cache and this process's liveness), writes only verdicts.
     */
    private void checkUnreachable() {
        if (!leader.isLeader()) {
            return;
        }
        try {
            Instant now = clock.instant();
            for (Entry<Node> entry : caches.nodes().all()) {
                String name = Keys.suffix(entry.key(), Keys.NODES);
                NodeStatus stored = entry.value().getStatus();
                if (stored.getPhase() != NodeStatus.Phase.READY || liveness.isConnected(name) || nodeWriter.verdictWaiting(name)) {
                    continue;
                }
                Entry<Node> current = nodeWriter.current(name); // our own newer write, if the cache lags it
                if (current == null || current.value().getStatus().getPhase() != NodeStatus.Phase.READY) {
                    continue;
                }
                Instant lastSeen = started;
                NodeLiveness.View live = liveness.view(name).orElse(null);
                boolean seenHere = live != null && live.lastSeen() != null;
                if (seenHere && live.lastSeen().isAfter(lastSeen)) {
                    lastSeen = live.lastSeen();
                }
                if (current.value().getStatus().hasLastHeartbeat()) {
                    Instant persisted = Joiner.toInstant(current.value().getStatus().getLastHeartbeat());
                    if (persisted.isAfter(lastSeen)) {
                        lastSeen = persisted;
                    }
                }
                if (Duration.between(judgedFrom(lastSeen, seenHere, backlogUntil, started), now).compareTo(unreachableAfter) >= 0) {
                    nodeWriter.enqueue(name, NodeChange.unreachable(lastSeen));
                }
            }
        } catch (RuntimeException e) {
            LOG.warn("unreachable check failed", e);
        }
    }
}
