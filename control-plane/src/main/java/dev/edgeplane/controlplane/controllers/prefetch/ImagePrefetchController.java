package dev.edgeplane.controlplane.controllers.prefetch;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ImagePrefetchStatus;
import dev.edgeplane.api.v1.LocalObjectReference;
import dev.edgeplane.api.v1.NodeImagePrefetchStatus;
import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.store.TxnWriter;
import dev.edgeplane.controlplane.store.Write;
import dev.edgeplane.controlplane.workqueue.WorkQueue;
import dev.edgeplane.controlplane.join.Joiner;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Duration;
import java.time.Instant;
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
 * Carries out ImagePrefetches, one per work item ("namespace/name"), the Kubernetes way: informers
 * (image prefetches, assignments, secrets) wake only the prefetch a change concerns; a reconcile
 * writes the target nodes' image_pull entries ({@link PrefetchTasks}: exactly the resolved targets,
 * with the pull Secrets' current versions), removes entries no longer wanted (all of them once the
 * prefetch is deleted), then settles the status ({@link PrefetchStatuses#settle}: PULLING once told,
 * FAILED nodes past the deadline, COMPLETE or FAILED when every node has finished). Writes go through
 * {@link TxnWriter}, fenced on leadership; the status write is also guarded on the resource's
 * mod_revision (the agents' reports are folded into the same status by {@link PrefetchReports}).
 * A prefetch not finished is looked at again at its deadline.
 */
@ApplicationScoped
public class ImagePrefetchController {
    private static final Logger LOG = Logger.getLogger(ImagePrefetchController.class);
    private static final long COMMIT_TIMEOUT_SECONDS = 60;
    private static final Duration CONFLICT_RETRY = Duration.ofMillis(200);
    private static final Duration OWN_WRITES_WAIT = Duration.ofSeconds(2);
    private static final Duration OWN_WRITES_POLL = Duration.ofMillis(5);

    private record Written(long revision, long nanos) {}

    private final EtcdStore store;
    private final StateCaches caches;
    private final LeaderLock leader;
    private final ControlPlaneConfig.Scheduler config;
    /** "namespace/name" -> node -> its task's entry, from the assignments informer. */
    private final Map<String, Map<String, Entry<Assignment>>> tasks = new HashMap<>();
    /** Prefetch -> the revision of its last entry write: its next reconcile waits for the informer to show it. */
    private final Map<String, Written> written = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile TxnWriter writer;
    private volatile WorkQueue<String> queue;

    public ImagePrefetchController(EtcdStore store, StateCaches caches, LeaderLock leader, ControlPlaneConfig config) {
        this.store = store;
        this.caches = caches;
        this.leader = leader;
        this.config = config.scheduler();
    }

    public void start() {
        writer = new TxnWriter(store, config.writesInFlight());
        queue = new WorkQueue<>("edgeplane-imageprefetches", 1, config.queueCapacity(), this::reconcile);
        caches.assignments().subscribe(new TaskListener(), (state, revision) -> {
            state.values().forEach(this::indexTask);
            return null;
        });
        caches.imagePrefetches().subscribe(new PrefetchListener(), (state, revision) -> null);
        caches.secrets().subscribe(new SecretListener(), (state, revision) -> null);
        leader.addListener(this::onLeadershipChange); // the App controller starts the lock
    }

    public void stop() {
        WorkQueue<String> q = queue;
        if (q != null) {
            q.close();
        }
    }

    // ---- what wakes what ----

    private void onLeadershipChange() {
        if (!leader.isLeader()) {
            return;
        }
        Set<String> all = new HashSet<>();
        caches.imagePrefetches().all().forEach(e -> all.add(Keys.suffix(e.key(), Keys.IMAGE_PREFETCHES)));
        synchronized (tasks) {
            all.addAll(tasks.keySet()); // entries of prefetches deleted while no leader ran
        }
        all.forEach(this::wake);
    }

    private void wake(String prefetch) {
        WorkQueue<String> q = queue;
        if (q != null && !q.add(prefetch)) {
            LOG.warnf("image prefetch queue full: %s not queued", prefetch);
        }
    }

    /** Indexes a task entry; returns its prefetch, or null when the entry is not a prefetch task. */
    private String indexTask(Entry<Assignment> entry) {
        String prefetch = PrefetchTasks.prefetchOf(entry.value());
        if (prefetch != null) {
            synchronized (tasks) {
                tasks.computeIfAbsent(prefetch, k -> new HashMap<>()).put(entry.value().getNode(), entry);
            }
        }
        return prefetch;
    }

    private String unindexTask(Entry<Assignment> entry) {
        String prefetch = PrefetchTasks.prefetchOf(entry.value());
        if (prefetch != null) {
            synchronized (tasks) {
                Map<String, Entry<Assignment>> nodes = tasks.get(prefetch);
                if (nodes != null && nodes.get(entry.value().getNode()) != null
                        && nodes.get(entry.value().getNode()).key().equals(entry.key())) {
                    nodes.remove(entry.value().getNode());
                    if (nodes.isEmpty()) {
                        tasks.remove(prefetch);
                    }
                }
            }
        }
        return prefetch;
    }

    private final class PrefetchListener implements PrefixCache.Listener<ImagePrefetch> {
        @Override
        public void onEvents(List<PrefixCache.Event<ImagePrefetch>> changes, long revision) {
            changes.forEach(c -> wake(Keys.suffix(c.key(), Keys.IMAGE_PREFETCHES)));
        }

        @Override
        public void onReset(Map<String, Entry<ImagePrefetch>> state, long revision) {
            onLeadershipChange();
        }
    }

    private final class TaskListener implements PrefixCache.Listener<Assignment> {
        @Override
        public void onEvents(List<PrefixCache.Event<Assignment>> changes, long revision) {
            Set<String> touched = new HashSet<>();
            for (PrefixCache.Event<Assignment> change : changes) {
                if (change.previous() != null) {
                    add(touched, unindexTask(change.previous()));
                }
                if (change instanceof PrefixCache.Put<Assignment> put) {
                    add(touched, indexTask(put.entry()));
                }
            }
            touched.forEach(ImagePrefetchController.this::wake);
        }

        private static void add(Set<String> touched, String prefetch) {
            if (prefetch != null) {
                touched.add(prefetch);
            }
        }

        @Override
        public void onReset(Map<String, Entry<Assignment>> state, long revision) {
            synchronized (tasks) {
                tasks.clear();
            }
            state.values().forEach(ImagePrefetchController.this::indexTask);
            onLeadershipChange();
        }
    }

    /** A pull Secret changed: the prefetches of its namespace naming it write its new version into their entries. */
    private final class SecretListener implements PrefixCache.Listener<SealedSecret> {
        @Override
        public void onEvents(List<PrefixCache.Event<SealedSecret>> changes, long revision) {
            for (PrefixCache.Event<SealedSecret> change : changes) {
                String rest = Keys.suffix(change.key(), Keys.SECRETS);
                int slash = rest.indexOf('/');
                String ns = rest.substring(0, slash);
                String name = rest.substring(slash + 1);
                for (Entry<ImagePrefetch> e : caches.imagePrefetches().list(Keys.IMAGE_PREFETCHES + ns + "/")) {
                    if (e.value().getSpec().getImagePullSecretsList().stream().anyMatch(s -> s.getName().equals(name))) {
                        wake(Keys.suffix(e.key(), Keys.IMAGE_PREFETCHES));
                    }
                }
            }
        }

        @Override
        public void onReset(Map<String, Entry<SealedSecret>> state, long revision) {
            onLeadershipChange();
        }
    }

    // ---- reconcile one prefetch ----

    WorkQueue.Outcome reconcile(String prefetch) throws Exception {
        if (!leader.isLeader()) {
            return WorkQueue.DONE;
        }
        Written last = written.get(prefetch);
        if (last != null && caches.assignments().revision() < last.revision()
                && System.nanoTime() - last.nanos() < OWN_WRITES_WAIT.toNanos()) {
            return new WorkQueue.RequeueAfter(OWN_WRITES_POLL); // plan on a view that includes our own last writes
        }
        written.remove(prefetch);
        int slash = prefetch.indexOf('/');
        String namespace = prefetch.substring(0, slash);
        String name = prefetch.substring(slash + 1);
        String key = Keys.imagePrefetch(namespace, name);
        Entry<ImagePrefetch> entry = caches.imagePrefetches().get(key);
        Map<String, Entry<Assignment>> existing;
        synchronized (tasks) {
            existing = new HashMap<>(tasks.getOrDefault(prefetch, Map.of()));
        }
        List<Write> writes = new ArrayList<>();
        if (entry == null) {
            existing.values().forEach(e -> writes.add(Write.delete(e.key())));
            if (!writes.isEmpty()) {
                if (!commit(writes, List.of(leader.fence()))) {
                    return WorkQueue.DONE; // no longer the leader; the next one cleans up
                }
                LOG.infof("image prefetch %s deleted: removed its %d node entries", prefetch, writes.size());
            }
            return WorkQueue.DONE;
        }
        ImagePrefetch value = entry.value();
        List<ConfigRef> secrets = secretVersions(namespace, value.getSpec().getImagePullSecretsList());
        Set<String> targets = new HashSet<>();
        for (NodeImagePrefetchStatus node : value.getStatus().getNodesList()) {
            targets.add(node.getNode());
            Assignment task = PrefetchTasks.task(value, node.getNode(), secrets);
            Entry<Assignment> current = existing.get(node.getNode());
            if (current == null || !current.value().equals(task)) {
                writes.add(Write.put(PrefetchTasks.key(node.getNode(), namespace, name), task.toByteArray()));
            }
        }
        for (Map.Entry<String, Entry<Assignment>> e : existing.entrySet()) {
            if (!targets.contains(e.getKey())) {
                writes.add(Write.delete(e.getValue().key())); // an older prefetch of the same name
            }
        }
        if (!writes.isEmpty()) {
            long revision = commitAt(writes, List.of(leader.fence()));
            if (revision < 0) {
                return WorkQueue.DONE;
            }
            written.put(prefetch, new Written(revision, System.nanoTime()));
            LOG.debugf("image prefetch %s: %d node entries written", prefetch, writes.size());
        }
        Instant now = Instant.now();
        Duration deadline = PrefetchStatuses.deadline(value);
        ImagePrefetchStatus settled = PrefetchStatuses.settle(value.getStatus(), true, deadline, now);
        if (!settled.equals(value.getStatus())) {
            ImagePrefetch next = value.toBuilder().setStatus(settled).build();
            Cmp unchanged = new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(entry.modRevision()));
            if (!commit(List.of(Write.put(key, next.toByteArray())), List.of(leader.fence(), unchanged))) {
                return leader.isLeader() ? new WorkQueue.RequeueAfter(CONFLICT_RETRY) : WorkQueue.DONE;
            }
            if (settled.getPhase() != value.getStatus().getPhase()) {
                LOG.infof("image prefetch %s: %s (%s)", prefetch, settled.getPhase(), settled.getMessage());
            }
        }
        if (!PrefetchStatuses.terminal(settled)) {
            Instant due = Joiner.toInstant(settled.getStartTime()).plus(deadline).plusMillis(10);
            Duration until = Duration.between(now, due);
            return new WorkQueue.RequeueAfter(until.isNegative() ? Duration.ofMillis(10) : until);
        }
        return WorkQueue.DONE;
    }

    /** The pull Secrets at the versions the informer holds now (0: missing, the node pulls without it). */
    private List<ConfigRef> secretVersions(String namespace, List<LocalObjectReference> names) {
        List<ConfigRef> refs = new ArrayList<>();
        for (LocalObjectReference ref : names) {
            Entry<SealedSecret> secret = caches.secrets().get(Keys.secret(namespace, ref.getName()));
            refs.add(ConfigRef.newBuilder().setKind(ConfigRef.Kind.SECRET).setName(ref.getName())
                    .setVersion(secret == null ? 0 : secret.modRevision()).build());
        }
        return refs;
    }

    /** False when a guard failed (leadership lost, or the resource changed meanwhile). */
    private boolean commit(List<Write> writes, List<Cmp> guards) throws Exception {
        return commitAt(writes, guards) >= 0;
    }

    /** The revision written, or -1 when a guard failed. */
    private long commitAt(List<Write> writes, List<Cmp> guards) throws Exception {
        try {
            return writer.commit(writes, guards).get(COMMIT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof TxnWriter.GuardFailed) {
                return -1;
            }
            throw e;
        }
    }

    /** Nothing queued, waiting or being reconciled (tests). */
    public boolean quiet() {
        WorkQueue<String> q = queue;
        return q == null || q.depth() + q.delayed() + q.inProgress() == 0;
    }
}
