package dev.edgeplane.controlplane.controllers.nodepool;

import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodePool;
import dev.edgeplane.api.v1.NodePoolStatus;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.controlplane.pools.PoolIndex;
import dev.edgeplane.controlplane.pools.PoolMembership;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.scheduler.NodeIndex;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.store.TxnWriter;
import dev.edgeplane.controlplane.store.Write;
import dev.edgeplane.controlplane.workqueue.WorkQueue;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.jboss.logging.Logger;

/**
 * Keeps node pools' labels and taints on their members, and their status. Two keyed queues fed by the
 * nodes and nodepools informers:
 * <ul>
 *   <li>a <b>node</b> item reconciles ONE node: the pool it is in ({@link PoolIndex#membership}, from
 *   its own labels), and {@link PoolMembership#apply} puts what that pool puts and removes what an
 *   earlier pool put. Woken by a node change to its labels, taints or pool record (not by status,
 *   phase or heartbeats), and by a pool spec change for the nodes that pool may claim or held;</li>
 *   <li>a <b>pool status</b> item recomputes one pool's counts from the in-memory membership and writes
 *   them only when they differ. Woken by membership and READY changes, at most once per
 *   {@code statusBatch} per pool (a fleet reconnecting writes each pool's status once a window).</li>
 * </ul>
 * Writes go through {@link TxnWriter}, fenced on leadership and guarded on the key's mod revision:
 * agents' status writes and UpdateNode touch nodes too, so a refused node write re-reads the node from
 * etcd and plans again. Only the leader writes; gaining leadership wakes every member.
 */
@ApplicationScoped
public class NodePoolController {
    private static final Logger LOG = Logger.getLogger(NodePoolController.class);
    static final Duration DEFAULT_STATUS_BATCH = Duration.ofSeconds(1);
    /** Member names a pool's status lists at most. */
    public static final int MAX_STATUS_NODES = 1000;
    private static final int NODE_WORKERS = 2;
    private static final int QUEUE_CAPACITY = 200_000;
    private static final int WRITE_ATTEMPTS = 5;
    private static final Duration STATUS_RETRY = Duration.ofMillis(50);
    private static final long COMMIT_TIMEOUT_SECONDS = 30;

    private final EtcdStore store;
    private final StateCaches caches;
    private final LeaderLock leader;
    private final Duration statusBatch;

    // The in-memory view, guarded by `this`: rebuilt from the informers, nothing another replica could not rebuild.
    private final PoolIndex pools = new PoolIndex();
    /** Nodes by name and label: the candidates of a pool's selector and pool label without a scan. */
    private final NodeIndex nodes = new NodeIndex();
    /** node -> the pool it is in now (absent: none). */
    private final Map<String, String> poolOfNode = new HashMap<>();
    /** pool -> its members now. */
    private final Map<String, Set<String>> members = new HashMap<>();
    /** pool -> nodes whose record says that pool put something on them. */
    private final Map<String, Set<String>> appliedBy = new HashMap<>();
    private final Set<String> readyNodes = new HashSet<>();

    private final Map<String, LongAdder> nodeReconciles = new java.util.concurrent.ConcurrentHashMap<>();
    private final LongAdder nodeWrites = new LongAdder();
    private final LongAdder statusWrites = new LongAdder();
    private final LongAdder statusReconciles = new LongAdder();
    private volatile TxnWriter writer;
    private volatile WorkQueue<String> nodeQueue;
    private volatile WorkQueue<String> statusQueue;

    @Inject
    public NodePoolController(EtcdStore store, StateCaches caches, LeaderLock leader) {
        this(store, caches, leader, DEFAULT_STATUS_BATCH);
    }

    public NodePoolController(EtcdStore store, StateCaches caches, LeaderLock leader, Duration statusBatch) {
        this.store = store;
        this.caches = caches;
        this.leader = leader;
        this.statusBatch = statusBatch;
    }

    /** Subscribes to the informers and to leadership; call before the leader lock starts (ControlPlane does). */
    public void start() {
        writer = new TxnWriter(store, 4);
        nodeQueue = new WorkQueue<>("edgeplane-pool-nodes", NODE_WORKERS, QUEUE_CAPACITY, this::reconcileNode);
        statusQueue = new WorkQueue<>("edgeplane-pool-status", 1, QUEUE_CAPACITY, this::reconcileStatus);
        caches.nodePools().subscribe(new PoolListener(), (state, revision) -> {
            synchronized (this) {
                state.values().forEach(e -> pools.put(e.value()));
            }
            return null;
        });
        caches.nodes().subscribe(new NodeListener(), (state, revision) -> {
            synchronized (this) {
                state.values().forEach(e -> indexNode(e.value()));
            }
            return null;
        });
        leader.addListener(this::onLeadershipChange);
        if (leader.isLeader()) {
            onLeadershipChange();
        }
    }

    public void stop() {
        if (nodeQueue != null) {
            nodeQueue.close();
            statusQueue.close();
        }
    }

    private void onLeadershipChange() {
        if (!leader.isLeader()) {
            return;
        }
        Set<String> wake = new HashSet<>();
        List<String> poolNames;
        synchronized (this) {
            wake.addAll(poolOfNode.keySet());
            appliedBy.values().forEach(wake::addAll);
            poolNames = pools.names();
        }
        wake.forEach(this::wakeNode);
        poolNames.forEach(this::wakeStatus);
        LOG.infof("leader: reconciling %d pool members and %d pools", wake.size(), poolNames.size());
    }

    private void wakeNode(String node) {
        WorkQueue<String> queue = nodeQueue;
        if (queue != null && !queue.add(node)) {
            LOG.warnf("pool node queue full: %s not queued", node);
        }
    }

    /** Batched: one status reconcile per pool per window, however many of its members change. */
    private void wakeStatus(String pool) {
        WorkQueue<String> queue = statusQueue;
        if (queue != null && pool != null) {
            queue.addAfter(pool, statusBatch);
        }
    }

    // ---- the in-memory view (callers hold the lock) ----

    /** Indexes a node and resolves its pool; returns the pools whose membership or READY count this changed. */
    private Set<String> indexNode(Node node) {
        String name = node.getMetadata().getName();
        Node before = nodes.get(name);
        if (before != null) {
            unrecord(before);
        }
        nodes.put(node);
        String applied = PoolMembership.applied(node).pool();
        if (!applied.isEmpty()) {
            appliedBy.computeIfAbsent(applied, k -> new HashSet<>()).add(name);
        }
        boolean wasReady = before == null ? false : readyNodes.contains(name);
        boolean ready = node.getStatus().getPhase() == NodeStatus.Phase.READY;
        if (ready) {
            readyNodes.add(name);
        } else {
            readyNodes.remove(name);
        }
        Set<String> touched = resolve(name, PoolMembership.ownLabels(node));
        if (wasReady != ready) {
            String pool = poolOfNode.get(name);
            if (pool != null) {
                touched.add(pool);
            }
        }
        return touched;
    }

    private void unrecord(Node node) {
        String applied = PoolMembership.applied(node).pool();
        Set<String> names = appliedBy.get(applied);
        if (names != null && names.remove(node.getMetadata().getName()) && names.isEmpty()) {
            appliedBy.remove(applied);
        }
    }

    private Set<String> forgetNode(String name) {
        Set<String> touched = new HashSet<>();
        Node before = nodes.get(name);
        if (before != null) {
            unrecord(before);
            nodes.remove(name);
        }
        readyNodes.remove(name);
        String pool = poolOfNode.remove(name);
        if (pool != null) {
            removeMember(pool, name);
            touched.add(pool);
        }
        return touched;
    }

    /** Re-resolves a node's pool; returns the pools it left and joined (empty when it stayed). */
    private Set<String> resolve(String name, Map<String, String> ownLabels) {
        PoolIndex.Membership membership = pools.membership(name, ownLabels);
        String after = membership == null ? null : membership.pool();
        String before = after == null ? poolOfNode.remove(name) : poolOfNode.put(name, after);
        Set<String> touched = new HashSet<>();
        if (!Objects.equals(before, after)) {
            if (before != null) {
                removeMember(before, name);
                touched.add(before);
            }
            if (after != null) {
                members.computeIfAbsent(after, k -> new HashSet<>()).add(name);
                touched.add(after);
            }
        }
        return touched;
    }

    private void removeMember(String pool, String node) {
        Set<String> names = members.get(pool);
        if (names != null && names.remove(node) && names.isEmpty()) {
            members.remove(pool);
        }
    }

    /** The nodes a pool with this spec may claim: its label's carriers, its list, its selector's matches. */
    private Set<String> candidates(NodePool pool) {
        Set<String> names = new HashSet<>();
        if (pool == null) {
            return names;
        }
        String name = pool.getMetadata().getName();
        nodes.matching(Map.of(PoolMembership.POOL_LABEL, name)).forEach(n -> names.add(n.getMetadata().getName()));
        names.addAll(pool.getSpec().getNodesList());
        if (!pool.getSpec().getNodeSelectorMap().isEmpty()) {
            nodes.matching(pool.getSpec().getNodeSelectorMap()).forEach(n -> names.add(n.getMetadata().getName()));
        }
        Set<String> held = members.get(name);
        if (held != null) {
            names.addAll(held);
        }
        Set<String> applied = appliedBy.get(name);
        if (applied != null) {
            names.addAll(applied);
        }
        return names;
    }

    /** What the node reconciler acts on: labels, its pool record, its taints. Status (heartbeats, phase) is not. */
    static boolean poolInputsChanged(Node before, Node after) {
        return !before.getMetadata().getLabelsMap().equals(after.getMetadata().getLabelsMap())
                || !before.getMetadata().getAnnotationsOrDefault(PoolMembership.APPLIED_ANNOTATION, "")
                        .equals(after.getMetadata().getAnnotationsOrDefault(PoolMembership.APPLIED_ANNOTATION, ""))
                || !before.getSpec().getTaintsList().equals(after.getSpec().getTaintsList());
    }

    private final class NodeListener implements PrefixCache.Listener<Node> {
        @Override
        public void onEvents(List<PrefixCache.Event<Node>> changes, long revision) {
            Set<String> wakeNodes = new HashSet<>();
            Set<String> wakePools = new HashSet<>();
            for (PrefixCache.Event<Node> change : changes) {
                String name = Keys.suffix(change.key(), Keys.NODES);
                Node after = change instanceof PrefixCache.Put<Node> put ? put.entry().value() : null;
                Node before = change.previous() == null ? null : change.previous().value();
                if (after != null && before != null && !poolInputsChanged(before, after)
                        && before.getStatus().getPhase() == after.getStatus().getPhase()) {
                    continue; // a heartbeat, host info, counts: nothing a pool reads
                }
                synchronized (NodePoolController.this) {
                    if (after == null) {
                        wakePools.addAll(forgetNode(name));
                        continue;
                    }
                    wakePools.addAll(indexNode(after));
                    if (before == null || poolInputsChanged(before, after)) {
                        if (poolOfNode.containsKey(name) || !PoolMembership.applied(after).isEmpty()) {
                            wakeNodes.add(name);
                        }
                    }
                }
            }
            wakeNodes.forEach(NodePoolController.this::wakeNode);
            wakePools.forEach(NodePoolController.this::wakeStatus);
        }

        @Override
        public void onReset(Map<String, Entry<Node>> state, long revision) {
            Set<String> wakePools;
            synchronized (NodePoolController.this) {
                wakePools = new HashSet<>(members.keySet());
                nodes.clear();
                poolOfNode.clear();
                members.clear();
                appliedBy.clear();
                readyNodes.clear();
                state.values().forEach(e -> indexNode(e.value()));
                wakePools.addAll(members.keySet());
            }
            onLeadershipChange();
            wakePools.forEach(NodePoolController.this::wakeStatus);
        }
    }

    private final class PoolListener implements PrefixCache.Listener<NodePool> {
        @Override
        public void onEvents(List<PrefixCache.Event<NodePool>> changes, long revision) {
            Set<String> wakeNodes = new HashSet<>();
            Set<String> wakePools = new HashSet<>();
            for (PrefixCache.Event<NodePool> change : changes) {
                String name = Keys.suffix(change.key(), Keys.NODE_POOLS);
                NodePool after = change instanceof PrefixCache.Put<NodePool> put ? put.entry().value() : null;
                NodePool before = change.previous() == null ? null : change.previous().value();
                if (after != null && before != null && before.getSpec().equals(after.getSpec())) {
                    continue; // its status (our own write), labels or annotations: members are as they were
                }
                synchronized (NodePoolController.this) {
                    Set<String> affected = candidates(before == null ? pools.get(name) : before);
                    if (after == null) {
                        pools.remove(name);
                    } else {
                        pools.put(after);
                    }
                    affected.addAll(candidates(after));
                    for (String node : affected) {
                        Node current = nodes.get(node);
                        if (current != null) {
                            wakePools.addAll(resolve(node, PoolMembership.ownLabels(current)));
                            wakeNodes.add(node);
                        }
                    }
                }
                if (after != null) {
                    wakePools.add(name);
                }
            }
            wakeNodes.forEach(NodePoolController.this::wakeNode);
            wakePools.forEach(NodePoolController.this::wakeStatus);
        }

        @Override
        public void onReset(Map<String, Entry<NodePool>> state, long revision) {
            synchronized (NodePoolController.this) {
                pools.clear();
                state.values().forEach(e -> pools.put(e.value()));
                for (String node : new HashSet<>(nodesAnyPoolConcerns())) {
                    resolve(node, PoolMembership.ownLabels(nodes.get(node)));
                }
            }
            onLeadershipChange();
        }
    }

    /** Every indexed node that is, was or may be in a pool. */
    private Set<String> nodesAnyPoolConcerns() {
        Set<String> names = new HashSet<>(poolOfNode.keySet());
        appliedBy.values().forEach(names::addAll);
        for (String pool : pools.names()) {
            names.addAll(candidates(pools.get(pool)));
        }
        names.removeIf(n -> nodes.get(n) == null);
        return names;
    }

    // ---- reconcile one node ----

    WorkQueue.Outcome reconcileNode(String name) throws Exception {
        nodeReconciles.computeIfAbsent(name, k -> new LongAdder()).increment();
        if (!leader.isLeader()) {
            return WorkQueue.DONE;
        }
        String key = Keys.node(name);
        Entry<Node> current = caches.nodes().get(key);
        for (int attempt = 0; attempt < WRITE_ATTEMPTS && current != null; attempt++) {
            NodePool pool;
            synchronized (this) {
                PoolIndex.Membership membership = pools.membership(name, PoolMembership.ownLabels(current.value()));
                pool = membership == null ? null : pools.get(membership.pool());
            }
            Node desired = PoolMembership.apply(current.value(), pool);
            if (desired == current.value()) {
                return WorkQueue.DONE;
            }
            try {
                commit(List.of(Write.put(key, desired.toByteArray())), List.of(leader.fence(),
                        new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(current.modRevision()))));
                nodeWrites.increment();
                LOG.debugf("node %s: pool %s applied", name, pool == null ? "(none)" : pool.getMetadata().getName());
                return WorkQueue.DONE;
            } catch (TxnWriter.GuardFailed e) {
                if (!leader.isLeader()) {
                    return WorkQueue.DONE; // gaining leadership again wakes every member
                }
                // The agent's status writer or UpdateNode got there first: plan again on what etcd has.
                current = store.get(key, Node.parser()).orElse(null);
            }
        }
        return current == null ? WorkQueue.DONE : new WorkQueue.RequeueAfter(STATUS_RETRY);
    }

    // ---- reconcile one pool's status ----

    WorkQueue.Outcome reconcileStatus(String name) throws Exception {
        statusReconciles.increment();
        if (!leader.isLeader()) {
            return WorkQueue.DONE;
        }
        String key = Keys.nodePool(name);
        Entry<NodePool> entry = caches.nodePools().get(key);
        if (entry == null) {
            return WorkQueue.DONE;
        }
        NodePoolStatus status = status(name);
        if (status.equals(entry.value().getStatus())) {
            return WorkQueue.DONE;
        }
        NodePool stored = entry.value().toBuilder().setStatus(status).build();
        try {
            commit(List.of(Write.put(key, stored.toByteArray())), List.of(leader.fence(),
                    new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(entry.modRevision()))));
            statusWrites.increment();
            return WorkQueue.DONE;
        } catch (TxnWriter.GuardFailed e) {
            // Not the leader any more, or the pool changed (an update, or our last write the informer has not shown yet).
            return leader.isLeader() ? new WorkQueue.RequeueAfter(STATUS_RETRY) : WorkQueue.DONE;
        }
    }

    /** The pool's status as this process sees its members now. */
    public synchronized NodePoolStatus status(String pool) {
        TreeSet<String> names = new TreeSet<>(members.getOrDefault(pool, Set.of()));
        int ready = 0;
        for (String node : names) {
            if (readyNodes.contains(node)) {
                ready++;
            }
        }
        NodePoolStatus.Builder status = NodePoolStatus.newBuilder().setNodeCount(names.size()).setReadyNodes(ready);
        names.stream().limit(MAX_STATUS_NODES).forEach(status::addNodes);
        return status.build();
    }

    private void commit(List<Write> writes, List<Cmp> guards) throws Exception {
        try {
            writer.commit(writes, guards).get(COMMIT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof TxnWriter.GuardFailed failed) {
                throw failed;
            }
            throw e;
        }
    }

    // ---- for tests and metrics ----

    /** How often this node was reconciled since start. */
    public long nodeReconciles(String node) {
        LongAdder n = nodeReconciles.get(node);
        return n == null ? 0 : n.sum();
    }

    public long statusReconciles() {
        return statusReconciles.sum();
    }

    public long nodeWrites() {
        return nodeWrites.sum();
    }

    public long statusWrites() {
        return statusWrites.sum();
    }

    /** The pool this process has {@code node} in, or null. */
    public synchronized String poolOf(String node) {
        return poolOfNode.get(node);
    }

    /** Nothing queued, waiting or being reconciled. */
    public boolean quiet() {
        WorkQueue<String> n = nodeQueue;
        WorkQueue<String> s = statusQueue;
        return n == null || (n.depth() + n.delayed() + n.inProgress() + s.depth() + s.delayed() + s.inProgress() == 0);
    }
}
