package dev.edgeplane.controlplane.controllers.job;

import dev.edgeplane.api.ConfigRefs;
import dev.edgeplane.api.JobPods;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.ObjectReference;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.events.Occurrence;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.scheduler.NodeIndex;
import dev.edgeplane.controlplane.scheduler.PodRequests;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.store.TxnWriter;
import dev.edgeplane.controlplane.workqueue.WorkQueue;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import jakarta.enterprise.context.ApplicationScoped;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Runs Jobs to completion, one work item per Job ("namespace/name"), the Kubernetes controller shape:
 * informers (jobs, assignments, replica statuses, nodes) keep in-memory indexes (the Job's pods by
 * Job, the Jobs by node, a {@link NodeIndex} of every pod's reservation) and wake only the Jobs a
 * change concerns: a Job's own change, its pods' assignments and statuses, a node change for the Jobs
 * with pods there and the Jobs waiting for room. A reconcile plans ONE Job ({@link JobPlanner}, pure)
 * and commits the plan as one transaction through {@link TxnWriter}, fenced on leadership and guarded
 * on the Job's and every touched assignment's mod_revision: counting a pod's end and marking its
 * assignment counted land together or not at all. Time (back-off, deadline, ttl, a node's toleration)
 * comes back as a delayed re-queue, never a poll.
 */
@ApplicationScoped
public class JobController {
    private static final Logger LOG = Logger.getLogger(JobController.class);
    private static final long COMMIT_TIMEOUT_SECONDS = 60;
    /** How long a reconcile waits for the informers to show this Job's own last write. */
    private static final Duration OWN_WRITES_WAIT = Duration.ofSeconds(2);
    private static final Duration OWN_WRITES_POLL = Duration.ofMillis(5);

    private record Written(long revision, boolean assignments, long nanos) {}

    private final EtcdStore store;
    private final StateCaches caches;
    private final LeaderLock leader;
    private final EventRecorder events;
    private final ControlPlaneConfig.Scheduler schedulerConfig;
    private final JobPlanner.Settings settings;
    private final SecureRandom random = new SecureRandom();

    private final NodeIndex nodes = new NodeIndex();
    /** "namespace/job" -> replica -> its assignment. */
    private final Map<String, Map<String, Entry<Assignment>>> podsByJob = new HashMap<>();
    /** node -> "namespace/job" -> pods there. */
    private final Map<String, Map<String, Integer>> jobsByNode = new HashMap<>();
    /** Jobs with a pod they want and no node for it. */
    private final Set<String> pending = ConcurrentHashMap.newKeySet();
    private final Map<String, Written> written = new ConcurrentHashMap<>();
    private final Map<String, String> unschedulable = new ConcurrentHashMap<>();
    private final List<Runnable> unsubscribe = new ArrayList<>();
    private volatile TxnWriter writer;
    private volatile WorkQueue<String> queue;

    public JobController(EtcdStore store, StateCaches caches, LeaderLock leader, EventRecorder events, ControlPlaneConfig config) {
        this.store = store;
        this.caches = caches;
        this.leader = leader;
        this.events = events;
        this.schedulerConfig = config.scheduler();
        this.settings = new JobPlanner.Settings(config.job().backoffBase(), config.job().backoffMax(),
                Math.max(1, Math.min(60, config.job().maxPodChangesPerReconcile())));
    }

    /** Starts from the informers alone (a restart after {@link #stop} rebuilds everything, as a new process would). */
    public void start() {
        nodes.clear();
        nodes.clearReplicas();
        synchronized (podsByJob) {
            podsByJob.clear();
            jobsByNode.clear();
        }
        pending.clear();
        written.clear();
        unschedulable.clear();
        writer = new TxnWriter(store, schedulerConfig.writesInFlight());
        queue = new WorkQueue<>("edgeplane-jobs", 1, schedulerConfig.queueCapacity(), this::reconcile);
        NodeListener nodeListener = new NodeListener();
        caches.nodes().subscribe(nodeListener, (state, revision) -> {
            state.values().forEach(e -> nodes.put(e.value()));
            return null;
        });
        PodListener podListener = new PodListener();
        caches.assignments().subscribe(podListener, (state, revision) -> {
            state.values().forEach(this::index);
            return null;
        });
        PrefixCache.Listener<Job> jobListener = PrefixCache.Listener.waking(Keys.JOBS, this::wake, this::wakeAll);
        caches.jobs().subscribe(jobListener, (state, revision) -> null);
        StatusListener statusListener = new StatusListener();
        caches.replicaStatuses().subscribe(statusListener, (state, revision) -> null);
        unsubscribe.add(() -> caches.nodes().unsubscribe(nodeListener));
        unsubscribe.add(() -> caches.assignments().unsubscribe(podListener));
        unsubscribe.add(() -> caches.jobs().unsubscribe(jobListener));
        unsubscribe.add(() -> caches.replicaStatuses().unsubscribe(statusListener));
        leader.addListener(this::wakeAll); // the App controller starts the lock
        wakeAll();
    }

    public void stop() {
        unsubscribe.forEach(Runnable::run);
        unsubscribe.clear();
        WorkQueue<String> q = queue;
        if (q != null) {
            q.close();
        }
    }

    // ---- what wakes what ----

    private void wakeAll() {
        if (!leader.isLeader()) {
            return;
        }
        Set<String> all = new HashSet<>();
        caches.jobs().all().forEach(e -> all.add(Keys.suffix(e.key(), Keys.JOBS)));
        synchronized (podsByJob) {
            all.addAll(podsByJob.keySet()); // pods of Jobs deleted while no leader ran
        }
        all.forEach(this::wake);
    }

    private void wake(String job) {
        WorkQueue<String> q = queue;
        if (q != null && !q.add(job)) {
            LOG.warnf("job queue full: %s not queued", job);
        }
    }

    private static String jobKeyOf(Assignment a) {
        String job = JobPods.jobOf(a.getApp());
        return job == null ? null : a.getNamespace() + "/" + job;
    }

    /** Indexes a put; returns the Job it belongs to, or null. */
    private String index(Entry<Assignment> e) {
        Assignment a = e.value();
        if (JobPods.occupiesNode(a)) {
            nodes.count(a.getNode(), PodRequests.of(a), 1);
        }
        String job = JobPods.isPod(a) ? jobKeyOf(a) : null;
        if (job != null) {
            synchronized (podsByJob) {
                podsByJob.computeIfAbsent(job, k -> new HashMap<>()).put(a.getReplica(), e);
                jobsByNode.computeIfAbsent(a.getNode(), k -> new HashMap<>()).merge(job, 1, Integer::sum);
            }
        }
        return job;
    }

    private String unindex(Entry<Assignment> e) {
        Assignment a = e.value();
        if (JobPods.occupiesNode(a)) {
            nodes.count(a.getNode(), PodRequests.of(a), -1);
        }
        String job = JobPods.isPod(a) ? jobKeyOf(a) : null;
        if (job != null) {
            synchronized (podsByJob) {
                Map<String, Entry<Assignment>> pods = podsByJob.get(job);
                if (pods != null && pods.get(a.getReplica()) != null && pods.get(a.getReplica()).key().equals(e.key())) {
                    pods.remove(a.getReplica());
                    if (pods.isEmpty()) {
                        podsByJob.remove(job);
                    }
                }
                Map<String, Integer> onNode = jobsByNode.get(a.getNode());
                if (onNode != null) {
                    onNode.computeIfPresent(job, (k, n) -> n <= 1 ? null : n - 1);
                    if (onNode.isEmpty()) {
                        jobsByNode.remove(a.getNode());
                    }
                }
            }
        }
        return job;
    }

    private final class PodListener implements PrefixCache.Listener<Assignment> {
        @Override
        public void onEvents(List<PrefixCache.Event<Assignment>> changes, long revision) {
            Set<String> touched = new HashSet<>();
            boolean freed = false;
            for (PrefixCache.Event<Assignment> change : changes) {
                if (change.previous() != null) {
                    touched.add(unindex(change.previous()));
                    freed |= JobPods.occupiesNode(change.previous().value());
                }
                if (change instanceof PrefixCache.Put<Assignment> put) {
                    touched.add(index(put.entry()));
                }
            }
            touched.remove(null);
            if (freed) {
                touched.addAll(pending); // a pod left its node: what it reserved there is free
            }
            touched.forEach(JobController.this::wake);
        }

        @Override
        public void onReset(Map<String, Entry<Assignment>> state, long revision) {
            synchronized (podsByJob) {
                podsByJob.clear();
                jobsByNode.clear();
            }
            nodes.clearReplicas();
            state.values().forEach(JobController.this::index);
            wakeAll();
        }
    }

    /** A Job pod's status changed: its Job looks (an end is counted, the shown phase follows). */
    private final class StatusListener implements PrefixCache.Listener<ReplicaStatus> {
        @Override
        public void onEvents(List<PrefixCache.Event<ReplicaStatus>> changes, long revision) {
            Set<String> jobs = new HashSet<>();
            for (PrefixCache.Event<ReplicaStatus> change : changes) {
                Entry<ReplicaStatus> e = change instanceof PrefixCache.Put<ReplicaStatus> put ? put.entry() : change.previous();
                String job = e == null ? null : JobPods.jobOf(e.value().getApp());
                if (job != null) {
                    jobs.add(e.value().getNamespace() + "/" + job);
                }
            }
            jobs.forEach(JobController.this::wake);
        }

        @Override
        public void onReset(Map<String, Entry<ReplicaStatus>> state, long revision) {
            wakeAll();
        }
    }

    private final class NodeListener implements PrefixCache.Listener<Node> {
        @Override
        public void onEvents(List<PrefixCache.Event<Node>> changes, long revision) {
            Set<String> jobs = new HashSet<>();
            boolean any = false;
            for (PrefixCache.Event<Node> change : changes) {
                String name = Keys.suffix(change.key(), Keys.NODES);
                boolean relevant = change instanceof PrefixCache.Put<Node> put ? nodes.put(put.entry().value()) : nodes.remove(name);
                if (!relevant) {
                    continue; // heartbeats: placement reads none of it
                }
                any = true;
                synchronized (podsByJob) {
                    jobs.addAll(jobsByNode.getOrDefault(name, Map.of()).keySet());
                }
            }
            if (any) {
                jobs.addAll(pending);
            }
            jobs.forEach(JobController.this::wake);
        }

        @Override
        public void onReset(Map<String, Entry<Node>> state, long revision) {
            nodes.clear();
            state.values().forEach(e -> nodes.put(e.value()));
            wakeAll();
        }
    }

    // ---- one Job ----

    WorkQueue.Outcome reconcile(String jobKey) throws Exception {
        if (!leader.isLeader()) {
            return WorkQueue.DONE;
        }
        int slash = jobKey.indexOf('/');
        String namespace = jobKey.substring(0, slash);
        String name = jobKey.substring(slash + 1);
        Entry<Job> job = caches.jobs().get(Keys.job(namespace, name));
        if (job != null && !job.value().getSpec().getEdgeNode().isEmpty()) {
            return WorkQueue.DONE; // a run_on_edge CronJob's run: its node ran it, its reports fill the status
        }
        Written last = written.get(jobKey);
        if (last != null && System.nanoTime() - last.nanos() < OWN_WRITES_WAIT.toNanos()
                && (caches.jobs().revision() < last.revision() || last.assignments() && caches.assignments().revision() < last.revision())) {
            return new WorkQueue.RequeueAfter(OWN_WRITES_POLL); // plan on a view that includes our own last write
        }
        written.remove(jobKey);
        List<JobPlanner.Pod> pods = new ArrayList<>();
        Map<String, Entry<Assignment>> mine;
        synchronized (podsByJob) {
            mine = new HashMap<>(podsByJob.getOrDefault(jobKey, Map.of()));
        }
        for (Entry<Assignment> e : mine.values()) {
            Entry<ReplicaStatus> status = caches.replicaStatuses().get(Keys.replicaStatus(namespace, e.value().getReplica()));
            ReplicaStatus reported = status != null && status.value().getNode().equals(e.value().getNode())
                    && status.value().getApp().equals(e.value().getApp()) ? status.value() : null;
            pods.add(new JobPlanner.Pod(e, reported));
        }
        Set<String> templates = new HashSet<>();
        String templatePrefix = Keys.templatesOf(namespace, JobPods.appOf(name));
        caches.templates().list(templatePrefix).forEach(t -> templates.add(Keys.suffix(t.key(), templatePrefix)));
        List<ConfigRef> configs = job == null ? List.of() : configVersions(namespace, job.value().getSpec().getTemplate());
        Map<String, Integer> ownLoad = new HashMap<>();
        mine.values().stream().filter(e -> JobPods.occupiesNode(e.value())).forEach(e -> ownLoad.merge(e.value().getNode(), 1, Integer::sum));
        JobPlanner.Plan plan = JobPlanner.plan(new JobPlanner.Inputs(job, namespace, name, pods, templates, configs, nodes,
                ownLoad, Instant.now(), settings, () -> JobPlanner.suffix(random)));
        if (plan.pending()) {
            pending.add(jobKey);
            plan.unschedulable().ifPresent(why -> {
                if (!why.equals(unschedulable.put(jobKey, why)) && job != null) {
                    events.warning(reference(namespace, name), "FailedScheduling", why, "");
                }
            });
        } else {
            pending.remove(jobKey);
            unschedulable.remove(jobKey);
        }
        if (!plan.writes().isEmpty()) {
            List<Cmp> guards = new ArrayList<>();
            guards.add(leader.fence());
            for (JobPlanner.Guard g : plan.guards()) {
                guards.add(new Cmp(EtcdStore.bytes(g.key()), Cmp.Op.EQUAL, CmpTarget.modRevision(g.modRevision())));
            }
            if (plan.writes().size() + 1 > TxnWriter.MAX_OPS || guards.size() > TxnWriter.MAX_OPS) {
                throw new IllegalStateException("job " + jobKey + ": a plan of " + plan.writes().size()
                        + " writes does not fit one transaction (edgeplane.job.max-pod-changes-per-reconcile)");
            }
            try {
                long revision = writer.commit(plan.writes(), guards).get(COMMIT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
                boolean assignments = plan.writes().stream().anyMatch(w -> w.key().startsWith(Keys.ASSIGNMENTS));
                written.put(jobKey, new Written(revision, assignments, System.nanoTime()));
            } catch (ExecutionException e) {
                if (e.getCause() instanceof TxnWriter.GuardFailed) {
                    return WorkQueue.REQUEUE; // something moved under the plan: look again (nothing was written)
                }
                throw e;
            }
            if (plan.deleteJob()) {
                LOG.infof("job %s: deleted, ttl_seconds_after_finished ran out", jobKey);
            }
            if (job != null) {
                ObjectReference ref = reference(namespace, name);
                for (JobPlanner.Event ev : plan.events()) {
                    events.record(Occurrence.of(ev.level(), ref, ev.reason(), ev.message(), ev.node(), EventRecorder.SOURCE, Instant.now()));
                }
            }
        }
        if (job == null && !plan.more()) {
            pending.remove(jobKey);
            unschedulable.remove(jobKey);
        }
        if (plan.more()) {
            return WorkQueue.REQUEUE;
        }
        return plan.recheckAfter().<WorkQueue.Outcome>map(d -> new WorkQueue.RequeueAfter(d.plusMillis(1))).orElse(WorkQueue.DONE);
    }

    static ObjectReference reference(String namespace, String name) {
        return ObjectReference.newBuilder().setKind("Job").setNamespace(namespace).setName(name).build();
    }

    /** The ConfigMaps and Secrets the template uses, at the versions the informers hold now (0: missing). */
    private List<ConfigRef> configVersions(String namespace, PodTemplate template) {
        List<ConfigRef> refs = new ArrayList<>();
        for (ConfigRefs.Name n : ConfigRefs.of(template)) {
            Entry<?> entry = n.kind() == ConfigRef.Kind.SECRET ? caches.secrets().get(Keys.secret(namespace, n.name()))
                    : caches.configMaps().get(Keys.configMap(namespace, n.name()));
            refs.add(ConfigRef.newBuilder().setKind(n.kind()).setName(n.name()).setVersion(entry == null ? 0 : entry.modRevision()).build());
        }
        return refs;
    }

    /** Nothing queued, waiting or being reconciled (tests). Delayed re-queues (back-off, ttl) count as work. */
    public boolean quiet() {
        WorkQueue<String> q = queue;
        return q == null || q.depth() + q.inProgress() == 0;
    }
}
