package dev.edgeplane.controlplane.controllers.snapshotpolicy;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeSnapshotPolicy;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.store.TxnWriter;
import dev.edgeplane.controlplane.store.Write;
import dev.edgeplane.controlplane.volumes.SnapshotPolicyTasks;
import dev.edgeplane.controlplane.workqueue.WorkQueue;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Hands VolumeSnapshotPolicies to the nodes, one work item per policy ("namespace/name"): informers
 * (policies, volumes, assignments) wake only the policies a change concerns (a volume change wakes the
 * policies of its namespace); a reconcile writes exactly the entries {@link SnapshotPolicyTasks#tasks}
 * wants (one per node holding a selected, created volume) and removes the others, all of them once the
 * policy is gone. Writes go through {@link TxnWriter}, fenced on leadership. The firing itself happens
 * on the nodes.
 */
@ApplicationScoped
public class SnapshotPolicyController {
    private static final Logger LOG = Logger.getLogger(SnapshotPolicyController.class);
    private static final long COMMIT_TIMEOUT_SECONDS = 60;
    private static final Duration OWN_WRITES_WAIT = Duration.ofSeconds(2);
    private static final Duration OWN_WRITES_POLL = Duration.ofMillis(5);

    private record Written(long revision, long nanos) {}

    private final StateCaches caches;
    private final LeaderLock leader;
    private final ControlPlaneConfig.Scheduler config;
    private final dev.edgeplane.controlplane.store.EtcdStore store;
    /** "namespace/policy" -> node -> its entry, from the assignments informer. */
    private final Map<String, Map<String, Entry<Assignment>>> tasks = new HashMap<>();
    private final Map<String, Written> written = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile TxnWriter writer;
    private volatile WorkQueue<String> queue;

    public SnapshotPolicyController(dev.edgeplane.controlplane.store.EtcdStore store, StateCaches caches, LeaderLock leader,
                                    ControlPlaneConfig config) {
        this.store = store;
        this.caches = caches;
        this.leader = leader;
        this.config = config.scheduler();
    }

    public void start() {
        writer = new TxnWriter(store, config.writesInFlight());
        queue = new WorkQueue<>("edgeplane-snapshotpolicies", 1, config.queueCapacity(), this::reconcile);
        caches.assignments().subscribe(new TaskListener(), (state, revision) -> {
            state.values().forEach(this::index);
            return null;
        });
        caches.snapshotPolicies().subscribe(new PolicyListener(), (state, revision) -> null);
        caches.volumes().subscribe(new VolumeListener(), (state, revision) -> null);
        leader.addListener(this::wakeAll); // the App controller starts the lock
    }

    public void stop() {
        WorkQueue<String> q = queue;
        if (q != null) {
            q.close();
        }
    }

    private void wakeAll() {
        if (!leader.isLeader()) {
            return;
        }
        Set<String> all = new HashSet<>();
        caches.snapshotPolicies().all().forEach(e -> all.add(Keys.suffix(e.key(), Keys.VOLUME_SNAPSHOT_POLICIES)));
        synchronized (tasks) {
            all.addAll(tasks.keySet()); // entries of policies deleted while no leader ran
        }
        all.forEach(this::wake);
    }

    private void wake(String policy) {
        WorkQueue<String> q = queue;
        if (q != null && !q.add(policy)) {
            LOG.warnf("snapshot policy queue full: %s not queued", policy);
        }
    }

    private void wakeNamespace(String namespace) {
        caches.snapshotPolicies().list(Keys.VOLUME_SNAPSHOT_POLICIES + namespace + "/")
                .forEach(e -> wake(Keys.suffix(e.key(), Keys.VOLUME_SNAPSHOT_POLICIES)));
        synchronized (tasks) {
            tasks.keySet().stream().filter(k -> k.startsWith(namespace + "/")).forEach(this::wake);
        }
    }

    private String index(Entry<Assignment> entry) {
        String policy = SnapshotPolicyTasks.policyOf(entry.value());
        if (policy != null) {
            synchronized (tasks) {
                tasks.computeIfAbsent(policy, k -> new HashMap<>()).put(entry.value().getNode(), entry);
            }
        }
        return policy;
    }

    private String unindex(Entry<Assignment> entry) {
        String policy = SnapshotPolicyTasks.policyOf(entry.value());
        if (policy != null) {
            synchronized (tasks) {
                Map<String, Entry<Assignment>> nodes = tasks.get(policy);
                Entry<Assignment> held = nodes == null ? null : nodes.get(entry.value().getNode());
                if (held != null && held.key().equals(entry.key())) {
                    nodes.remove(entry.value().getNode());
                    if (nodes.isEmpty()) {
                        tasks.remove(policy);
                    }
                }
            }
        }
        return policy;
    }

    private final class PolicyListener implements PrefixCache.Listener<VolumeSnapshotPolicy> {
        @Override
        public void onEvents(List<PrefixCache.Event<VolumeSnapshotPolicy>> changes, long revision) {
            changes.forEach(c -> wake(Keys.suffix(c.key(), Keys.VOLUME_SNAPSHOT_POLICIES)));
        }

        @Override
        public void onReset(Map<String, Entry<VolumeSnapshotPolicy>> state, long revision) {
            wakeAll();
        }
    }

    private final class VolumeListener implements PrefixCache.Listener<Volume> {
        @Override
        public void onEvents(List<PrefixCache.Event<Volume>> changes, long revision) {
            Set<String> namespaces = new HashSet<>();
            for (PrefixCache.Event<Volume> change : changes) {
                String rest = Keys.suffix(change.key(), Keys.VOLUMES);
                namespaces.add(rest.substring(0, rest.indexOf('/')));
            }
            namespaces.forEach(SnapshotPolicyController.this::wakeNamespace);
        }

        @Override
        public void onReset(Map<String, Entry<Volume>> state, long revision) {
            wakeAll();
        }
    }

    private final class TaskListener implements PrefixCache.Listener<Assignment> {
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
            touched.forEach(SnapshotPolicyController.this::wake);
        }

        @Override
        public void onReset(Map<String, Entry<Assignment>> state, long revision) {
            synchronized (tasks) {
                tasks.clear();
            }
            state.values().forEach(SnapshotPolicyController.this::index);
            wakeAll();
        }
    }

    WorkQueue.Outcome reconcile(String policy) throws Exception {
        if (!leader.isLeader()) {
            return WorkQueue.DONE;
        }
        Written last = written.get(policy);
        if (last != null && caches.assignments().revision() < last.revision()
                && System.nanoTime() - last.nanos() < OWN_WRITES_WAIT.toNanos()) {
            return new WorkQueue.RequeueAfter(OWN_WRITES_POLL); // plan on a view that includes our own last writes
        }
        written.remove(policy);
        int slash = policy.indexOf('/');
        String namespace = policy.substring(0, slash);
        String name = policy.substring(slash + 1);
        Entry<VolumeSnapshotPolicy> entry = caches.snapshotPolicies().get(Keys.volumeSnapshotPolicy(namespace, name));
        Map<String, Entry<Assignment>> existing;
        synchronized (tasks) {
            existing = new HashMap<>(tasks.getOrDefault(policy, Map.of()));
        }
        Map<String, Assignment> wanted = entry == null ? Map.of()
                : SnapshotPolicyTasks.tasks(entry.value(), caches.volumes().list(Keys.VOLUMES + namespace + "/").stream()
                        .map(Entry::value).toList());
        List<Write> writes = new ArrayList<>();
        wanted.forEach((node, task) -> {
            Entry<Assignment> current = existing.get(node);
            if (current == null || !current.value().equals(task)) {
                writes.add(Write.put(SnapshotPolicyTasks.key(node, namespace, name), task.toByteArray()));
            }
        });
        existing.forEach((node, e) -> {
            if (!wanted.containsKey(node)) {
                writes.add(Write.delete(e.key()));
            }
        });
        if (writes.isEmpty()) {
            return WorkQueue.DONE;
        }
        try {
            long revision = writer.commit(writes, List.of(leader.fence())).get(COMMIT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            written.put(policy, new Written(revision, System.nanoTime()));
            LOG.infof("snapshot policy %s: %d node entries written (%d nodes hold volumes it selects)", policy, writes.size(),
                    wanted.size());
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TxnWriter.GuardFailed)) {
                throw e;
            }
        }
        return WorkQueue.DONE;
    }

    /** Nothing queued, waiting or being reconciled (tests). */
    public boolean quiet() {
        WorkQueue<String> q = queue;
        return q == null || q.depth() + q.delayed() + q.inProgress() == 0;
    }
}
