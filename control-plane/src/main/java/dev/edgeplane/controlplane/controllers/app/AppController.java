package dev.edgeplane.controlplane.controllers.app;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppRevision;
import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ImagePrefetchStatus;
import dev.edgeplane.controlplane.api.ImagePrefetches;
import dev.edgeplane.controlplane.controllers.prefetch.PrefetchStatuses;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.RolloutStatus;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.ConfigRefs;
import dev.edgeplane.api.JobPods;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.events.Occurrence;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.scheduler.NodeIndex;
import dev.edgeplane.controlplane.scheduler.Placement;
import dev.edgeplane.controlplane.scheduler.VolumeBinding;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.store.TxnWriter;
import dev.edgeplane.controlplane.store.Write;
import dev.edgeplane.controlplane.workqueue.WorkQueue;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.options.GetOption;
import jakarta.enterprise.context.ApplicationScoped;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.jboss.logging.Logger;

/**
 * Turns Apps into per-node assignments, one App per work item. Informers (apps, nodes, assignments,
 * volumes) keep in-memory indexes ({@link NodeIndex}, {@link AssignmentsByApp}) and wake only the
 * keys a change concerns:
 * <ul>
 *   <li>an App event: that App (and the volumes it names, to settle);</li>
 *   <li>an assignment event: its App (a no-op when nothing changed);</li>
 *   <li>a node event that changes what placement reads (existence, labels, taints, phase, cordon,
 *   drain, autonomy, capacity): the EVERY_NODE Apps, the Apps with replicas there and the Apps with
 *   pending replicas. Heartbeats and other status fields wake nothing;</li>
 *   <li>a volume event: the Apps naming it, and the volume itself (settle).</li>
 * </ul>
 * A reconcile plans ONE App ({@link AppPlanner}) within a budget (past it: {@code Requeue}, behind
 * the other Apps waiting), writes its template key first (an earlier, awaited commit), then its
 * assignments, through {@link TxnWriter} fenced on leadership, and records its events once written.
 * Time-based decisions come back with {@code RequeueAfter} when they fall due. Only the leader
 * reconciles; gaining leadership wakes every App. The indexes are rebuilt from the informers, so
 * nothing here is state another replica could not rebuild.
 */
@ApplicationScoped
public class AppController {
    private static final Logger LOG = Logger.getLogger(AppController.class);
    /** How long a reconcile waits for the informer to show this App's own last writes (a no-op write never shows). */
    private static final Duration OWN_WRITES_WAIT = Duration.ofSeconds(2);
    private static final Duration OWN_WRITES_POLL = Duration.ofMillis(5);
    private static final Duration VOLUME_RETRY = Duration.ofMillis(200);
    private static final long COMMIT_TIMEOUT_SECONDS = 60;

    private final EtcdStore store;
    private final StateCaches caches;
    private final LeaderLock leader;
    private final EventRecorder events;
    private final ControlPlaneConfig.Scheduler config;
    private final ImagePrefetches prefetches;
    private final NodeIndex nodes = new NodeIndex();
    private final AssignmentsByApp assignments = new AssignmentsByApp(nodes);
    private final Set<String> everyNodeApps = ConcurrentHashMap.newKeySet();
    private final Set<String> pendingApps = ConcurrentHashMap.newKeySet();
    /** Apps whose rollout is under way: their replicas' status changes wake them. */
    private final Set<String> rollingApps = ConcurrentHashMap.newKeySet();
    /** App -> what we last wrote as its rollout record (set before the write: its watch event wakes nothing). */
    private final Map<String, RolloutStatus> rolloutWrites = new ConcurrentHashMap<>();
    // App -> why some of its replicas have no node, as the last plan said (in memory: the leader's view).
    private final Map<String, String> unschedulable = new ConcurrentHashMap<>();
    /** The volume keys each App names, and the ConfigMap and Secret keys each App's template uses. */
    private final UsageIndex volumeUsers = new UsageIndex();
    private final UsageIndex configUsers = new UsageIndex();
    /** App -> hashes of its template keys in etcd (loaded at its first reconcile of a leadership term). */
    private final Map<String, Set<String>> templates = new ConcurrentHashMap<>();
    /** App -> its newest assignment write, so its next reconcile plans on a view that includes it. */
    private final Map<String, Written> written = new ConcurrentHashMap<>();
    private final Set<String> writing = ConcurrentHashMap.newKeySet();
    private final Map<String, LongAdder> wakes = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> reconciles = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> writtenPlans = new ConcurrentHashMap<>();
    /** App -> how long its last plan took (ns): what its wake window follows. */
    private final Map<String, Long> planNanos = new ConcurrentHashMap<>();
    private final WakeBatch wakeBatch;
    private volatile TxnWriter writer;
    private volatile WorkQueue<String> appQueue;
    private volatile WorkQueue<String> volumeQueue;

    private record Written(long revision, long nanos) {}

    /** The Volumes' classes: CSI parameters of the claims, and what storage a node needs to take an unbound volume. */
    private final dev.edgeplane.controlplane.volumes.StorageClasses storageClasses;

    public AppController(EtcdStore store, StateCaches caches, LeaderLock leader, EventRecorder events, ControlPlaneConfig config,
                         ImagePrefetches prefetches, dev.edgeplane.controlplane.volumes.StorageClasses storageClasses) {
        this.prefetches = prefetches;
        this.storageClasses = storageClasses;
        this.store = store;
        this.caches = caches;
        this.leader = leader;
        this.events = events;
        this.config = config.scheduler();
        this.wakeBatch = new WakeBatch(this.config.nodeChangeBatch(), this.config.maxWakeBatch(),
                this.config.wakeBatchCostMultiple());
    }

    public void start() {
        writer = new TxnWriter(store, config.writesInFlight());
        appQueue = new WorkQueue<>("edgeplane-apps", config.workers(), config.queueCapacity(), this::reconcileApp);
        volumeQueue = new WorkQueue<>("edgeplane-volumes", 1, config.queueCapacity(), this::settleVolume);
        caches.nodes().subscribe(new NodeListener(), (state, revision) -> {
            state.values().forEach(e -> nodes.put(e.value()));
            return null;
        });
        caches.assignments().subscribe(new AssignmentListener(), (state, revision) -> {
            state.values().forEach(assignments::add);
            return null;
        });
        caches.apps().subscribe(new AppListener(), (state, revision) -> {
            state.values().forEach(e -> indexApp(appKey(e.key()), null, e.value()));
            return null;
        });
        caches.volumes().subscribe(new VolumeListener(), (state, revision) -> null);
        caches.replicaStatuses().subscribe(new ReplicaStatusListener(), (state, revision) -> null);
        caches.rollouts().subscribe(new RolloutListener(), (state, revision) -> null);
        caches.imagePrefetches().subscribe(new PrefetchListener(), (state, revision) -> null);
        caches.configMaps().subscribe(new ConfigListener<>(), (state, revision) -> null);
        caches.secrets().subscribe(new ConfigListener<>(), (state, revision) -> null);
        leader.start(this::onLeadershipChange);
    }

    public void stop() {
        leader.stop();
        if (appQueue != null) {
            appQueue.close();
            volumeQueue.close();
        }
    }

    // ---- what wakes what ----

    private void onLeadershipChange() {
        if (!leader.isLeader()) {
            return; // reconciles check leadership first; the queue drains on its own
        }
        templates.clear();
        written.clear();
        Set<String> all = new HashSet<>(assignments.apps());
        caches.apps().all().forEach(e -> all.add(appKey(e.key())));
        all.addAll(appsWithTemplates());
        all.forEach(this::wakeApp);
        caches.volumes().all().forEach(e -> volumeQueue.add(e.key()));
        LOG.infof("leader: reconciling %d apps", all.size());
    }

    /** Apps that left template keys behind (e.g. deleted while no leader ran): keys only. */
    private Set<String> appsWithTemplates() {
        Set<String> apps = new HashSet<>();
        try {
            for (KeyValue kv : store.await(store.client().getKVClient().get(EtcdStore.bytes(Keys.TEMPLATES),
                    GetOption.builder().isPrefix(true).withKeysOnly(true).build()), "list " + Keys.TEMPLATES).getKvs()) {
                String rest = Keys.suffix(kv.getKey().toString(StandardCharsets.UTF_8), Keys.TEMPLATES);
                int slash = rest.indexOf('/', rest.indexOf('/') + 1);
                if (slash > 0) {
                    apps.add(rest.substring(0, slash));
                }
            }
        } catch (RuntimeException e) {
            LOG.warnf("could not list template keys (%s); orphaned ones are collected when their App is next seen", e.getMessage());
        }
        return apps;
    }

    private void wakeApp(String app) {
        if (JobPods.isJobAppKey(app)) {
            return; // a Job's pods: the Job controller's (they count on their nodes here, nothing more)
        }
        countWake(app);
        WorkQueue<String> queue = appQueue;
        if (queue != null && !queue.add(app)) {
            LOG.warnf("app queue full: %s not queued", app);
        }
    }

    private void countWake(String app) {
        wakes.computeIfAbsent(app, k -> new LongAdder()).increment();
    }

    /**
     * A node change, or a replica status change its rollout reads, concerns {@code app}: one reconcile
     * per window, which follows what the App's plans cost ({@link WakeBatch}: node-change-batch for a
     * small App), however many nodes change or replicas report.
     */
    private void wakeAppForOthers(String app) {
        if (JobPods.isJobAppKey(app)) {
            return;
        }
        countWake(app);
        WorkQueue<String> queue = appQueue;
        if (queue != null) {
            queue.addAfter(app, wakeBatch.window(planNanos.getOrDefault(app, 0L)));
        }
    }

    private void wakeVolumesOf(String app) {
        volumeUsers.usedBy(app).forEach(volumeQueue::add);
    }

    private static String appKey(String etcdKey) {
        return Keys.suffix(etcdKey, Keys.APPS);
    }

    private void indexApp(String app, App before, App after) {
        if (after != null && after.getSpec().getMode() == AppSpec.Mode.EVERY_NODE) {
            everyNodeApps.add(app);
        } else {
            everyNodeApps.remove(app);
        }
        volumeUsers.set(app, after == null ? Set.of() : AppPlanner.volumesOf(after));
        configUsers.set(app, after == null ? Set.of() : AppPlanner.configKeysOf(after));
    }

    private final class AppListener implements PrefixCache.Listener<App> {
        @Override
        public void onEvents(List<PrefixCache.Event<App>> changes, long revision) {
            for (PrefixCache.Event<App> change : changes) {
                String app = appKey(change.key());
                Set<String> volumes = new HashSet<>();
                if (change.previous() != null) {
                    volumes.addAll(AppPlanner.volumesOf(change.previous().value()));
                }
                App after = change instanceof PrefixCache.Put<App> put ? put.entry().value() : null;
                if (after != null) {
                    volumes.addAll(AppPlanner.volumesOf(after));
                }
                indexApp(app, change.previous() == null ? null : change.previous().value(), after);
                wakeApp(app);
                volumes.forEach(volumeQueue::add);
            }
        }

        @Override
        public void onReset(Map<String, Entry<App>> state, long revision) {
            state.values().forEach(e -> indexApp(appKey(e.key()), null, e.value()));
            state.keySet().forEach(k -> wakeApp(appKey(k)));
            assignments.apps().forEach(AppController.this::wakeApp);
        }
    }

    private final class AssignmentListener implements PrefixCache.Listener<Assignment> {
        @Override
        public void onEvents(List<PrefixCache.Event<Assignment>> changes, long revision) {
            Set<String> touched = new HashSet<>();
            for (PrefixCache.Event<Assignment> change : changes) {
                if (change.previous() != null) {
                    add(touched, assignments.remove(change.previous()));
                    if (!(change instanceof PrefixCache.Put<Assignment>)) {
                        touched.addAll(pendingApps); // a replica left its node: what it reserved there is free
                    }
                }
                if (change instanceof PrefixCache.Put<Assignment> put) {
                    add(touched, assignments.add(put.entry()));
                }
            }
            for (String app : touched) {
                wakeApp(app);
                wakeVolumesOf(app);
            }
        }

        private static void add(Set<String> touched, String app) {
            if (app != null) {
                touched.add(app);
            }
        }

        @Override
        public void onReset(Map<String, Entry<Assignment>> state, long revision) {
            Set<String> before = assignments.apps();
            assignments.clear();
            state.values().forEach(assignments::add);
            before.addAll(assignments.apps());
            before.forEach(AppController.this::wakeApp);
        }
    }

    private final class NodeListener implements PrefixCache.Listener<Node> {
        @Override
        public void onEvents(List<PrefixCache.Event<Node>> changes, long revision) {
            Set<String> changed = new HashSet<>();
            List<Node> phaseOnly = new ArrayList<>();
            for (PrefixCache.Event<Node> change : changes) {
                String name = Keys.suffix(change.key(), Keys.NODES);
                Node after = change instanceof PrefixCache.Put<Node> put ? put.entry().value() : null;
                boolean relevant = after != null ? nodes.put(after) : nodes.remove(name);
                if (!relevant) {
                    continue; // heartbeats and status only: placement reads none of it
                }
                if (after != null && change.previous() != null && NodeIndex.onlyPhaseChanged(change.previous().value(), after)) {
                    phaseOnly.add(after);
                } else {
                    changed.add(name);
                }
            }
            Set<String> apps = new HashSet<>();
            if (!changed.isEmpty()) {
                apps.addAll(everyNodeApps);
                changed.forEach(n -> apps.addAll(assignments.appsOn(n)));
            }
            // READY <-> UNREACHABLE: new replicas may go to a READY node (pending Apps); placed ones
            // only care where they may be given up (Placement.keptUntil). A fleet reconnecting after a
            // restart is thousands of these: they must not replan every EVERY_NODE App each time.
            for (Node node : phaseOnly) {
                for (String app : assignments.appsOn(node.getMetadata().getName())) {
                    Entry<App> entry = caches.apps().get(Keys.APPS + app);
                    if (entry == null || Placement.mayGiveUpOn(entry.value().getSpec(), node)) {
                        apps.add(app);
                    }
                }
            }
            if (!changed.isEmpty() || !phaseOnly.isEmpty()) {
                apps.addAll(pendingApps);
            }
            apps.forEach(AppController.this::wakeAppForOthers);
        }

        @Override
        public void onReset(Map<String, Entry<Node>> state, long revision) {
            nodes.clear();
            state.values().forEach(e -> nodes.put(e.value()));
            caches.apps().all().forEach(e -> wakeApp(appKey(e.key())));
        }
    }

    private final class VolumeListener implements PrefixCache.Listener<Volume> {
        @Override
        public void onEvents(List<PrefixCache.Event<Volume>> changes, long revision) {
            for (PrefixCache.Event<Volume> change : changes) {
                volumeQueue.add(change.key());
                volumeUsers.appsUsing(change.key()).forEach(AppController.this::wakeApp);
            }
        }

        @Override
        public void onReset(Map<String, Entry<Volume>> state, long revision) {
            state.keySet().forEach(volumeQueue::add);
            caches.apps().all().forEach(e -> wakeApp(appKey(e.key())));
        }
    }

    /**
     * A replica's status changed: an App with a rollout under way looks again (readiness moves it on),
     * unless the change is one the rollout does not read (update time, containers, restarts), and
     * at most once per the App's window ({@link #wakeAppForOthers}).
     */
    private final class ReplicaStatusListener implements PrefixCache.Listener<ReplicaStatus> {
        @Override
        public void onEvents(List<PrefixCache.Event<ReplicaStatus>> changes, long revision) {
            Set<String> apps = new HashSet<>();
            for (PrefixCache.Event<ReplicaStatus> change : changes) {
                ReplicaStatus after = change instanceof PrefixCache.Put<ReplicaStatus> put ? put.entry().value() : null;
                ReplicaStatus before = change.previous() == null ? null : change.previous().value();
                ReplicaStatus any = after != null ? after : before;
                if (any == null || RolloutPlanner.sameForRollout(before, after)) {
                    continue;
                }
                String app = any.getNamespace() + "/" + any.getApp();
                if (rollingApps.contains(app)) {
                    apps.add(app);
                }
            }
            apps.forEach(AppController.this::wakeAppForOthers);
        }

        @Override
        public void onReset(Map<String, Entry<ReplicaStatus>> state, long revision) {
            rollingApps.forEach(AppController.this::wakeApp);
        }
    }

    /** A rollout's ImagePrefetch moved: its App looks again (the rollout waits for it). */
    private final class PrefetchListener implements PrefixCache.Listener<ImagePrefetch> {
        @Override
        public void onEvents(List<PrefixCache.Event<ImagePrefetch>> changes, long revision) {
            for (PrefixCache.Event<ImagePrefetch> change : changes) {
                Entry<ImagePrefetch> e = change instanceof PrefixCache.Put<ImagePrefetch> put ? put.entry() : change.previous();
                String app = e == null ? "" : e.value().getMetadata().getLabelsOrDefault(RolloutPrefetch.APP_LABEL, "");
                if (!app.isEmpty()) {
                    wakeApp(e.value().getMetadata().getNamespace() + "/" + app);
                }
            }
        }

        @Override
        public void onReset(Map<String, Entry<ImagePrefetch>> state, long revision) {
            rollingApps.forEach(AppController.this::wakeApp);
        }
    }

    /** A rollout record changed (PauseAppRollout, ResumeAppRollout, AbortAppRollout, or our own write). */
    private final class RolloutListener implements PrefixCache.Listener<RolloutStatus> {
        @Override
        public void onEvents(List<PrefixCache.Event<RolloutStatus>> changes, long revision) {
            for (PrefixCache.Event<RolloutStatus> change : changes) {
                String app = Keys.suffix(change.key(), Keys.ROLLOUTS);
                RolloutStatus own = rolloutWrites.get(app);
                if (change instanceof PrefixCache.Put<RolloutStatus> put && put.entry().value().equals(own)) {
                    continue; // our own write: nothing new to act on
                }
                wakeApp(app);
            }
        }

        @Override
        public void onReset(Map<String, Entry<RolloutStatus>> state, long revision) {
            state.keySet().forEach(k -> wakeApp(Keys.suffix(k, Keys.ROLLOUTS)));
        }
    }

    /** A ConfigMap or Secret changed: the Apps that use it write its new version into their assignments. */
    private final class ConfigListener<T> implements PrefixCache.Listener<T> {
        @Override
        public void onEvents(List<PrefixCache.Event<T>> changes, long revision) {
            for (PrefixCache.Event<T> change : changes) {
                configUsers.appsUsing(change.key()).forEach(AppController.this::wakeApp);
            }
        }

        @Override
        public void onReset(Map<String, Entry<T>> state, long revision) {
            caches.apps().all().forEach(e -> wakeApp(appKey(e.key())));
        }
    }

    // ---- reconcile one App ----

    WorkQueue.Outcome reconcileApp(String app) throws Exception {
        reconciles.computeIfAbsent(app, k -> new LongAdder()).increment();
        if (!leader.isLeader() || JobPods.isJobAppKey(app)) { // a Job's pods and templates are never an App's orphans
            return WorkQueue.DONE;
        }
        if (behindOwnWrites(app)) {
            return new WorkQueue.RequeueAfter(OWN_WRITES_POLL);
        }
        int slash = app.indexOf('/');
        String namespace = app.substring(0, slash);
        String name = app.substring(slash + 1);
        Entry<App> entry = caches.apps().get(Keys.app(namespace, name));
        App spec = entry == null ? null : entry.value();
        Set<String> loaded = templates.get(app);
        if (loaded == null) { // read outside the map's lock: one worker per App, so no one else loads it meanwhile
            loaded = storedTemplates(namespace, name);
            templates.put(app, loaded);
        }
        Set<String> stored = loaded;
        long planStart = System.nanoTime(); // what follows is O(the App's replicas): the wake window follows it
        Map<String, Entry<Volume>> volumes = new HashMap<>();
        if (spec != null) {
            for (String key : AppPlanner.volumesOf(spec)) {
                Entry<Volume> volume = caches.volumes().get(key);
                if (volume != null) {
                    volumes.put(key, volume);
                }
            }
        }
        Instant now = Instant.now();
        Entry<RolloutStatus> rolloutEntry = caches.rollouts().get(Keys.rollout(namespace, name));
        Revisions.Step revisionStep = spec == null ? null
                : Revisions.step(spec, caches.revisions().list(Keys.revisionsOf(namespace, name)), now);
        AppPlanner.Release release = spec == null ? AppPlanner.Release.NONE
                : new AppPlanner.Release(replica -> statusOf(namespace, replica), rolloutEntry == null ? null : rolloutEntry.value(),
                        revisionStep.number(), revisionStep.rollingBack(), prefetchOf(namespace, name, revisionStep.number()));
        AppPlanner.Plan plan = AppPlanner.plan(new AppPlanner.Inputs(namespace, name, spec, assignments.of(app), nodes,
                        volumes, spec == null ? List.of() : configVersions(spec), Set.copyOf(stored), now,
                        config.inlineTemplates(), release, storageClasses.lookup()),
                new AppPlanner.Budget(config.maxPlacementsPerReconcile(), writeBudget()));
        long planned = System.nanoTime();
        planNanos.put(app, planned - planStart);
        if (plan.pending()) {
            pendingApps.add(app);
        } else {
            pendingApps.remove(app);
        }
        String why = plan.unschedulable().orElse(null);
        String before = why == null ? unschedulable.remove(app) : unschedulable.put(app, why);
        if (why != null && !why.equals(before)) {
            // Once per new reason, not per pass: Kubernetes' FailedScheduling.
            events.record(Occurrence.of(EventLevel.WARNING, EventRecorder.app(namespace, name), "FailedScheduling", why, "",
                    EventRecorder.SOURCE, now));
        }
        boolean volumeRetry = false;
        writing.add(app);
        try {
            List<Write> early = new ArrayList<>(plan.templates());
            if (revisionStep != null) {
                early.addAll(revisionStep.writes());
            }
            if (!early.isEmpty()) {
                // The template key (and its revision) lands in an earlier commit than any assignment naming its hash.
                commit(early, List.of(leader.fence()));
                plan.templates().forEach(w -> stored.add(hashOf(w.key())));
            }
            for (VolumeBinding.VolumeWrite write : plan.volumeWrites()) {
                volumeRetry |= !commitVolume(write);
            }
            if (!plan.writes().isEmpty()) {
                long revision = 0;
                // In chunks, two in the writer at a time: an App planned meanwhile has its writes land after two
                // chunks, not after all of ours, and the next chunk is queued before the one ahead of it lands
                // (awaiting each left the writer idle for a round trip between chunks).
                ArrayDeque<CompletableFuture<Long>> chunksInFlight = new ArrayDeque<>();
                for (List<Write> chunk : chunks(plan.writes(), config.maxWritesPerReconcile())) {
                    if (chunksInFlight.size() == 2) {
                        revision = Math.max(revision, landed(chunksInFlight.poll()));
                    }
                    chunksInFlight.add(writer.commit(chunk, List.of(leader.fence())));
                }
                while (!chunksInFlight.isEmpty()) {
                    revision = Math.max(revision, landed(chunksInFlight.poll()));
                }
                written.put(app, new Written(revision, System.nanoTime()));
                writtenPlans.computeIfAbsent(app, k -> new LongAdder()).increment();
                plan.events().forEach(events::record); // only once the assignments are written
                LOG.debugf("%s: %d assignment writes, planned in %d ms, written in %d ms more", app, plan.writes().size(),
                        (planned - planStart) / 1_000_000, (System.nanoTime() - planned) / 1_000_000);
            }
            if (!plan.templateDeletes().isEmpty()) {
                commit(plan.templateDeletes(), List.of(leader.fence()));
                stored.removeAll(plan.templatesDeleted());
            }
            if (plan.rollout().isPresent() && !keepRollout(namespace, name, entry, rolloutEntry, plan.rollout().get(), now)) {
                return new WorkQueue.RequeueAfter(OWN_WRITES_POLL); // changed meanwhile (an API call): decide again on the new one
            }
            if (plan.rollout().isPresent() && spec.getSpec().getStrategy().getPrefetchImages()) {
                Map<String, String> nodesByReplica = new HashMap<>();
                assignments.of(app).forEach(e -> nodesByReplica.put(e.value().getReplica(), e.value().getNode()));
                keepPrefetch(spec, revisionStep.number(), nodesByReplica, plan.rollout().get());
            }
        } catch (TxnWriter.GuardFailed e) {
            LOG.warnf("%s: write refused: this process is no longer the leader", app);
            return WorkQueue.DONE; // gaining leadership again wakes every App
        } finally {
            writing.remove(app);
        }
        if (spec == null && plan.writes().isEmpty() && !plan.more()) {
            List<Write> history = new ArrayList<>();
            if (rolloutEntry != null) {
                history.add(Write.delete(rolloutEntry.key()));
            }
            caches.revisions().list(Keys.revisionsOf(namespace, name)).forEach(e -> history.add(Write.delete(e.key())));
            if (!history.isEmpty()) {
                try {
                    commit(history, List.of(leader.fence()));
                } catch (TxnWriter.GuardFailed e) {
                    return WorkQueue.DONE;
                }
            }
            forget(app); // gone, and now everything it left behind too
        }
        if (plan.more()) {
            return WorkQueue.REQUEUE;
        }
        if (volumeRetry) {
            return new WorkQueue.RequeueAfter(VOLUME_RETRY);
        }
        if (plan.recheckAt().isPresent()) {
            Duration until = Duration.between(Instant.now(), plan.recheckAt().get()).plusMillis(10);
            return new WorkQueue.RequeueAfter(until.isNegative() ? Duration.ofMillis(10) : until);
        }
        return WorkQueue.DONE;
    }

    /**
     * The writes this reconcile may plan: {@code max-writes-per-reconcile} while other Apps wait for a
     * worker (the rest after them), {@code max-writes-per-reconcile-alone} when none does.
     */
    private int writeBudget() {
        WorkQueue<String> queue = appQueue;
        boolean othersWaiting = queue != null && queue.depth() > 0;
        return othersWaiting ? config.maxWritesPerReconcile() : Math.max(config.maxWritesPerReconcile(), config.maxWritesPerReconcileAlone());
    }

    /** {@code writes} cut into consecutive lists of at most {@code size}. */
    static List<List<Write>> chunks(List<Write> writes, int size) {
        int step = Math.max(1, size);
        List<List<Write>> out = new ArrayList<>((writes.size() + step - 1) / step);
        for (int i = 0; i < writes.size(); i += step) {
            out.add(writes.subList(i, Math.min(writes.size(), i + step)));
        }
        return out;
    }

    /** The ImagePrefetch a rollout of this revision made (strategy.prefetch_images), as far as it got. */
    private Optional<RolloutPlanner.Prefetch> prefetchOf(String namespace, String app, long revision) {
        Entry<ImagePrefetch> e = caches.imagePrefetches().get(Keys.imagePrefetch(namespace, RolloutPrefetch.name(app, revision)));
        if (e == null) {
            return Optional.empty();
        }
        ImagePrefetchStatus s = e.value().getStatus();
        return Optional.of(new RolloutPlanner.Prefetch(PrefetchStatuses.terminal(s), s.getNodesDone() + s.getNodesFailed(), s.getNodesTotal()));
    }

    /**
     * Makes the ImagePrefetch a rollout waits for, or removes those of this App's finished rollouts.
     * Errors are logged: the rollout asks again on its next pass.
     */
    private void keepPrefetch(App app, long revision, Map<String, String> nodesByReplica, RolloutPlanner.Decision decision) {
        String ns = app.getMetadata().getNamespace();
        String name = app.getMetadata().getName();
        try {
            if (decision.prefetchWanted()) {
                prefetches.create(RolloutPrefetch.of(app, revision, new java.util.TreeSet<>(nodesByReplica.values())));
                LOG.infof("app %s/%s: pulling the images of revision %d on its nodes before the rollout", ns, name, revision);
            } else if (!decision.active()) {
                for (Entry<ImagePrefetch> e : caches.imagePrefetches().list(Keys.imagePrefetch(ns, ""))) {
                    if (name.equals(e.value().getMetadata().getLabelsOrDefault(RolloutPrefetch.APP_LABEL, ""))) {
                        prefetches.delete(ns, e.value().getMetadata().getName(), 0);
                    }
                }
            }
        } catch (RuntimeException e) {
            LOG.warnf("app %s/%s: image prefetch for revision %d: %s", ns, name, revision, e.getMessage());
        }
    }

    private ReplicaStatus statusOf(String namespace, String replica) {
        Entry<ReplicaStatus> e = caches.replicaStatuses().get(Keys.replicaStatus(namespace, replica));
        return e == null ? null : e.value();
    }

    /**
     * Writes the rollout's status when it changed, guarded on the record as read (the API writes it
     * too), with the App put back to an earlier revision's template when the abort criteria say so.
     * Records the rollout's events once written. False when the record or the App changed meanwhile.
     */
    private boolean keepRollout(String namespace, String name, Entry<App> app, Entry<RolloutStatus> previous,
                                RolloutPlanner.Decision decision, Instant now) throws Exception {
        String key = namespace + "/" + name;
        if (decision.active()) {
            rollingApps.add(key);
        } else {
            rollingApps.remove(key);
        }
        if (previous != null && previous.value().equals(decision.status()) && decision.rollbackTo().isEmpty()) {
            return true;
        }
        List<Write> writes = new ArrayList<>();
        List<Cmp> guards = new ArrayList<>();
        guards.add(leader.fence());
        String rolloutKey = Keys.rollout(namespace, name);
        writes.add(Write.put(rolloutKey, decision.status().toByteArray()));
        guards.add(previous == null ? new Cmp(EtcdStore.bytes(rolloutKey), Cmp.Op.EQUAL, CmpTarget.version(0))
                : new Cmp(EtcdStore.bytes(rolloutKey), Cmp.Op.EQUAL, CmpTarget.modRevision(previous.modRevision())));
        if (decision.rollbackTo().isPresent()) {
            long to = decision.rollbackTo().getAsLong();
            Entry<AppRevision> target = caches.revisions().get(Keys.revision(namespace, name, to));
            if (target == null) {
                LOG.warnf("app %s: revision %d to roll back to is gone; the rollout pauses instead", key, to);
                RolloutStatus paused = decision.status().toBuilder().setPhase(RolloutStatus.Phase.PAUSED).setPaused(true)
                        .setMessage(decision.status().getAbortReason() + "; revision " + to + " is no longer kept").build();
                writes.set(0, Write.put(rolloutKey, paused.toByteArray()));
            } else {
                writes.add(Write.put(app.key(), Revisions.rolledBack(app.value(), target.value()).toByteArray()));
                guards.add(new Cmp(EtcdStore.bytes(app.key()), Cmp.Op.EQUAL, CmpTarget.modRevision(app.modRevision())));
            }
        }
        try {
            rolloutWrites.put(key, RolloutStatus.parseFrom(writes.get(0).value()));
            commit(writes, guards);
        } catch (TxnWriter.GuardFailed e) {
            if (!leader.isLeader()) {
                throw e;
            }
            return false;
        }
        decision.events().forEach(events::record);
        return true;
    }

    /** The ConfigMaps and Secrets the App's template uses, at the versions the informers hold now (0: missing). */
    private List<ConfigRef> configVersions(App app) {
        String namespace = app.getMetadata().getNamespace();
        List<ConfigRef> refs = new ArrayList<>();
        for (ConfigRefs.Name name : ConfigRefs.of(app.getSpec().getTemplate())) {
            Entry<?> entry = name.kind() == ConfigRef.Kind.SECRET ? caches.secrets().get(Keys.secret(namespace, name.name()))
                    : caches.configMaps().get(Keys.configMap(namespace, name.name()));
            refs.add(ConfigRef.newBuilder().setKind(name.kind()).setName(name.name())
                    .setVersion(entry == null ? 0 : entry.modRevision()).build());
        }
        return refs;
    }

    private void forget(String app) {
        templates.remove(app);
        rollingApps.remove(app);
        rolloutWrites.remove(app);
        unschedulable.remove(app);
        written.remove(app);
        pendingApps.remove(app);
        wakes.remove(app);
        reconciles.remove(app);
        writtenPlans.remove(app);
        planNanos.remove(app);
    }

    /** True while the informer has not shown this App's last assignment write yet (bounded: a no-op write never shows). */
    private boolean behindOwnWrites(String app) {
        Written w = written.get(app);
        if (w == null || caches.assignments().revision() >= w.revision()) {
            return false;
        }
        return System.nanoTime() - w.nanos() < OWN_WRITES_WAIT.toNanos();
    }

    private Set<String> storedTemplates(String namespace, String name) {
        Set<String> hashes = ConcurrentHashMap.newKeySet();
        String prefix = Keys.templatesOf(namespace, name);
        for (KeyValue kv : store.await(store.client().getKVClient().get(EtcdStore.bytes(prefix),
                GetOption.builder().isPrefix(true).withKeysOnly(true).build()), "list " + prefix).getKvs()) {
            hashes.add(Keys.suffix(kv.getKey().toString(StandardCharsets.UTF_8), prefix));
        }
        return hashes;
    }

    private static String hashOf(String templateKey) {
        return templateKey.substring(templateKey.lastIndexOf('/') + 1);
    }

    private long commit(List<Write> writes, List<Cmp> guards) throws Exception {
        return landed(writer.commit(writes, guards));
    }

    /** The revision a commit wrote, once it landed; its GuardFailed as such. */
    private static long landed(CompletableFuture<Long> commit) throws Exception {
        try {
            return commit.get(COMMIT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof TxnWriter.GuardFailed failed) {
                throw failed;
            }
            throw e;
        }
    }

    /** One volume's status change (and its node's volume task), guarded on its revision; false if it changed meanwhile. */
    private boolean commitVolume(VolumeBinding.VolumeWrite write) throws Exception {
        List<Write> writes = new ArrayList<>();
        writes.add(write.value().isPresent() ? Write.put(write.key(), write.value().get().toByteArray()) : Write.delete(write.key()));
        // A volume task (its node deletes the data) appears with the phase that explains it, or not at all.
        write.task().ifPresent(task -> writes.add(Write.put(Keys.assignment(task.getNode(), task.getNamespace(), task.getReplica()),
                task.toByteArray())));
        try {
            commit(writes, List.of(leader.fence(), new Cmp(EtcdStore.bytes(write.key()), Cmp.Op.EQUAL,
                    CmpTarget.modRevision(write.modRevision()))));
        } catch (TxnWriter.GuardFailed e) {
            if (!leader.isLeader()) {
                throw e;
            }
            return false; // changed meanwhile: its event wakes us to look again
        }
        LOG.infof("volume %s: %s", Keys.suffix(write.key(), Keys.VOLUMES), write.why());
        write.value().filter(v -> v.getStatus().getPhase() == VolumeStatus.Phase.BOUND)
                .ifPresent(v -> events.info(EventRecorder.volume(v.getMetadata().getNamespace(), v.getMetadata().getName()),
                        "VolumeBound", write.why(), v.getStatus().getNode()));
        return true;
    }

    // ---- settle one volume ----

    /**
     * A volume no placed replica uses: AVAILABLE or PENDING while an App still names it, RELEASED or
     * DELETING (with its node's volume task) once none does. Waits while an App naming it is being
     * written, so a binding and its first assignment are never split by a release.
     */
    WorkQueue.Outcome settleVolume(String key) throws Exception {
        if (!leader.isLeader()) {
            return WorkQueue.DONE;
        }
        Entry<Volume> volume = caches.volumes().get(key);
        if (volume == null) {
            return WorkQueue.DONE;
        }
        Set<String> naming = volumeUsers.appsUsing(key);
        List<Entry<App>> apps = new ArrayList<>();
        boolean used = false;
        for (String app : naming) {
            if (writing.contains(app) || behindOwnWrites(app)) {
                return new WorkQueue.RequeueAfter(Duration.ofMillis(50));
            }
            Entry<App> entry = caches.apps().get(Keys.APPS + app);
            if (entry != null) {
                apps.add(entry);
                used |= assignments.count(app) > 0;
            }
        }
        boolean retry = false;
        for (VolumeBinding.VolumeWrite write : VolumeBinding.settle(apps, used ? Set.of(key) : Set.of(), Map.of(key, volume))) {
            retry |= !commitVolume(write);
        }
        return retry ? new WorkQueue.RequeueAfter(VOLUME_RETRY) : WorkQueue.DONE;
    }

    // ---- for tests and metrics ----

    /** How often this App's key was queued (woken) since start. */
    public long wakes(String namespace, String name) {
        LongAdder n = wakes.get(namespace + "/" + name);
        return n == null ? 0 : n.sum();
    }

    /** How often this App was reconciled since start. */
    public long reconciles(String namespace, String name) {
        LongAdder n = reconciles.get(namespace + "/" + name);
        return n == null ? 0 : n.sum();
    }

    /** How many of this App's plans wrote assignments since start. */
    public long writtenPlans(String namespace, String name) {
        LongAdder n = writtenPlans.get(namespace + "/" + name);
        return n == null ? 0 : n.sum();
    }

    /** The App's assignment entries as the index holds them (kept on every replica, leader or not). */
    public List<Entry<Assignment>> assignmentsOf(String namespace, String name) {
        return assignments.of(namespace + "/" + name);
    }

    /** Why some of the App's replicas have no node, as this process's last plan said (the leader plans). */
    public Optional<String> unschedulable(String namespace, String name) {
        return Optional.ofNullable(unschedulable.get(namespace + "/" + name));
    }

    public int queueDepth() {
        WorkQueue<String> queue = appQueue;
        return queue == null ? 0 : queue.depth();
    }

    /** Nothing queued, waiting for a retry or being reconciled: every wake so far has been handled. */
    public boolean quiet() {
        WorkQueue<String> queue = appQueue;
        return queue == null || queue.depth() + queue.delayed() + queue.inProgress() == 0;
    }
}
