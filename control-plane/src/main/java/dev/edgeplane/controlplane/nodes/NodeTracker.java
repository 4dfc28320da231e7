package dev.edgeplane.controlplane.nodes;

import dev.edgeplane.api.v1.Heartbeat;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.jboss.logging.Logger;

/**
 * What connected agents say about their nodes. Heartbeats and acks stay in memory; the Node's status
 * is written to etcd on connect, on a phase change and otherwise at most every
 * {@code edgeplane.node.status-write-interval}. Replica statuses are written only when they change.
 * The leader marks nodes whose stream has been gone for {@code edgeplane.node.unreachable-after}
 * UNREACHABLE.
 *
 * <p>All etcd writes run on one thread, in order, off the gRPC and watch threads.
 */
@ApplicationScoped
public class NodeTracker {
    private static final Logger LOG = Logger.getLogger(NodeTracker.class);

    private final EtcdStore store;
    private final StateCaches caches;
    private final LeaderLock leader;
    private final EventRecorder events;
    private final Duration unreachableAfter;
    private final Duration writeInterval;
    private final Clock clock = Clock.systemUTC();
    private final Instant started = Instant.now();
    private final Map<String, Live> live = new ConcurrentHashMap<>();
    private final ScheduledExecutorService writer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "edgeplane-node-status");
        t.setDaemon(true);
        return t;
    });

    /** In-memory state of one node as seen by this process. */
    private static final class Live {
        int connections;
        Instant lastSeen;
        Instant lastWrite = Instant.EPOCH;
        long appliedRevision;
        int running;
        int desired;
    }

    public NodeTracker(EtcdStore store, StateCaches caches, LeaderLock leader, ControlPlaneConfig config, EventRecorder events) {
        this.store = store;
        this.events = events;
        this.caches = caches;
        this.leader = leader;
        this.unreachableAfter = config.node().unreachableAfter();
        this.writeInterval = config.node().statusWriteInterval();
    }

    public void start() {
        long period = Math.max(1000, Math.min(5000, unreachableAfter.toMillis() / 4));
        writer.scheduleWithFixedDelay(this::checkUnreachable, period, period, TimeUnit.MILLISECONDS);
    }

    public void stop() {
        writer.shutdown();
        try {
            writer.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        writer.shutdownNow();
    }

    public boolean isConnected(String node) {
        Live l = live.get(node);
        synchronized (this) {
            return l != null && l.connections > 0;
        }
    }

    public synchronized void connected(String node, NodeInfo info, long lastApplied) {
        Live l = live.computeIfAbsent(node, n -> new Live());
        l.connections++;
        l.lastSeen = clock.instant();
        l.appliedRevision = Math.max(l.appliedRevision, lastApplied);
        l.lastWrite = l.lastSeen;
        Instant now = l.lastSeen;
        long applied = l.appliedRevision;
        submit(() -> writeStatus(node, status -> {
            NodeStatus.Builder b = NodeStatuses.withInfo(status.toBuilder(), info)
                    .setPhase(NodeStatus.Phase.READY)
                    .setMessage("")
                    .setLastHeartbeat(Joiner.timestamp(now));
            if (applied > 0) {
                b.setAppliedRevision(applied);
            }
            return b.build();
        }));
    }

    public synchronized void disconnected(String node) {
        Live l = live.get(node);
        if (l != null) {
            l.connections = Math.max(0, l.connections - 1);
            l.lastSeen = clock.instant();
        }
    }

    public synchronized void acked(String node, long revision) {
        Live l = live.get(node);
        if (l != null) {
            l.appliedRevision = Math.max(l.appliedRevision, revision);
        }
    }

    public synchronized void heartbeat(String node, Heartbeat heartbeat) {
        Live l = live.computeIfAbsent(node, n -> new Live());
        Instant now = clock.instant();
        l.lastSeen = now;
        l.running = heartbeat.getRunningReplicas();
        l.desired = heartbeat.getDesiredReplicas();
        if (Duration.between(l.lastWrite, now).compareTo(writeInterval) < 0) {
            return;
        }
        l.lastWrite = now;
        long applied = l.appliedRevision;
        int running = l.running;
        int desired = l.desired;
        submit(() -> writeStatus(node, status -> status.toBuilder()
                .setPhase(NodeStatus.Phase.READY)
                .setMessage("")
                .setLastHeartbeat(Joiner.timestamp(now))
                .setAppliedRevision(applied)
                .setRunningReplicas(running)
                .setDesiredReplicas(desired)
                .build()));
    }

    /** Writes the replica statuses that changed; ignores replicas not assigned to {@code node}. */
    public void report(String node, StatusReport report) {
        submit(() -> applyReport(node, report));
    }

    private void applyReport(String node, StatusReport report) {
        Set<String> reported = new HashSet<>();
        for (ReplicaStatus status : report.getReplicasList()) {
            String namespace = status.getNamespace().isEmpty() ? "default" : status.getNamespace();
            reported.add(namespace + "/" + status.getName());
            Entry<dev.edgeplane.api.v1.Assignment> assignment = caches.assignments().get(Keys.assignment(node, namespace, status.getName()));
            if (assignment == null) {
                LOG.debugf("ignoring status of %s/%s from %s: not assigned there", namespace, status.getName(), node);
                continue;
            }
            // Node, namespace and app come from the assignment, not from what the agent says.
            ReplicaStatus normalised = status.toBuilder().setNamespace(namespace).setNode(node)
                    .setApp(assignment.value().getApp()).build();
            String key = Keys.replicaStatus(namespace, status.getName());
            Entry<ReplicaStatus> current = caches.replicaStatuses().get(key);
            if (current != null && sameIgnoringTime(current.value(), normalised)) {
                continue;
            }
            if (!normalised.hasUpdateTime()) {
                normalised = normalised.toBuilder().setUpdateTime(Joiner.timestamp(clock.instant())).build();
            }
            store.put(key, normalised.toByteArray());
        }
        for (String removed : report.getRemovedList()) {
            deleteStatusOf(node, removed.contains("/") ? removed : "default/" + removed);
        }
        if (report.getFull()) {
            for (Entry<ReplicaStatus> e : caches.replicaStatuses().all()) {
                String id = Keys.suffix(e.key(), Keys.REPLICA_STATUS);
                if (node.equals(e.value().getNode()) && !reported.contains(id)) {
                    deleteStatusOf(node, id);
                }
            }
        }
    }

    private void deleteStatusOf(String node, String namespacedReplica) {
        String key = Keys.REPLICA_STATUS + namespacedReplica;
        Entry<ReplicaStatus> current = caches.replicaStatuses().get(key);
        if (current != null && node.equals(current.value().getNode())) {
            store.delete(key, current.modRevision());
        }
    }

    private static boolean sameIgnoringTime(ReplicaStatus a, ReplicaStatus b) {
        return a.toBuilder().clearUpdateTime().build().equals(b.toBuilder().clearUpdateTime().build());
    }

    private void checkUnreachable() {
        if (!leader.isLeader()) {
            return;
        }
        Instant now = clock.instant();
        for (Entry<Node> entry : caches.nodes().all()) {
            Node node = entry.value();
            if (node.getStatus().getPhase() != NodeStatus.Phase.READY) {
                continue;
            }
            String name = node.getMetadata().getName();
            Instant lastSeen = started;
            synchronized (this) {
                Live l = live.get(name);
                if (l != null && l.connections > 0) {
                    continue;
                }
                if (l != null && l.lastSeen != null && l.lastSeen.isAfter(lastSeen)) {
                    lastSeen = l.lastSeen;
                }
            }
            if (node.getStatus().hasLastHeartbeat()) {
                Instant stored = Joiner.toInstant(node.getStatus().getLastHeartbeat());
                if (stored.isAfter(lastSeen)) {
                    lastSeen = stored;
                }
            }
            Duration away = Duration.between(lastSeen, now);
            if (away.compareTo(unreachableAfter) >= 0) {
                LOG.infof("node %s is unreachable (no connection for %ds)", name, away.toSeconds());
                Instant since = lastSeen;
                writeStatus(name, status -> status.getPhase() != NodeStatus.Phase.READY ? status : status.toBuilder()
                        .setPhase(NodeStatus.Phase.UNREACHABLE)
                        .setMessage("no connection from the agent since " + since)
                        .build());
            }
        }
    }

    /** A written phase change is an event: NodeReady, NodeUnreachable, NodeNotReady. */
    private void phaseChanged(String name, NodeStatus before, NodeStatus after) {
        if (before.getPhase() == after.getPhase()) {
            return;
        }
        switch (after.getPhase()) {
            case READY -> events.info(EventRecorder.node(name), "NodeReady",
                    "the agent connected" + (before.getPhase() == NodeStatus.Phase.UNREACHABLE ? " again" : ""), name);
            case UNREACHABLE -> events.warning(EventRecorder.node(name), "NodeUnreachable", after.getMessage(), name);
            default -> events.warning(EventRecorder.node(name), "Node" + camel(after.getPhase().name()), after.getMessage(), name);
        }
    }

    private static String camel(String enumName) {
        StringBuilder out = new StringBuilder();
        for (String part : enumName.toLowerCase(java.util.Locale.ROOT).split("_")) {
            if (!part.isEmpty()) {
                out.append(Character.toUpperCase(part.charAt(0))).append(part.substring(1));
            }
        }
        return out.toString();
    }

    private void submit(Runnable write) {
        try {
            writer.execute(() -> {
                try {
                    write.run();
                } catch (RuntimeException e) {
                    LOG.warnf("status write failed: %s", e.getMessage());
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            LOG.debug("status write dropped: shutting down");
        }
    }

    /** Read-modify-write of a Node's status, comparing mod_revision so labels/spec edits are kept. */
    private void writeStatus(String name, UnaryOperator<NodeStatus> change) {
        for (int attempt = 0; attempt < 5; attempt++) {
            Optional<Entry<Node>> current = store.get(Keys.node(name), Node.parser());
            if (current.isEmpty()) {
                return; // deleted: nothing to record
            }
            Node node = current.get().value();
            NodeStatus updated = change.apply(node.getStatus());
            if (updated.equals(node.getStatus())) {
                return;
            }
            Node next = node.toBuilder().setStatus(updated).build();
            if (store.update(Keys.node(name), next.toByteArray(), current.get().modRevision()).isPresent()) {
                phaseChanged(name, node.getStatus(), updated);
                return;
            }
        }
        LOG.warnf("could not record the status of node %s: it kept changing", name);
    }
}
