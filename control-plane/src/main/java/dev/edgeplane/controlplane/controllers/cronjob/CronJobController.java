package dev.edgeplane.controlplane.controllers.cronjob;

import dev.edgeplane.api.CronJobNames;
import dev.edgeplane.api.schedule.CronJobSlots;
import dev.edgeplane.api.schedule.CronSchedule;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.CronJob;
import dev.edgeplane.api.v1.CronJobSpec;
import dev.edgeplane.api.v1.CronJobStatus;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.ObjectReference;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.controllers.NodeEntryIndex;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
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
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.jboss.logging.Logger;

/**
 * Kubernetes' CronJob controller (v2) over etcd: one work item per CronJob ("namespace/name"), woken
 * by its own changes and its Jobs' (the jobs informer: it reads their status, the Job controller runs
 * them), and re-queued after the time until its next scheduled time (no polling loop).
 *
 * <p>A due time ({@link CronJobSlots#plan}: the most recent unhandled one, within
 * starting_deadline_seconds) creates the Job {@link CronJobNames#scheduledJob} in ONE transaction with
 * the CronJob's status (last_schedule_time, active), guarded on the Job's absence, the CronJob's
 * mod_revision and the leader's fence: a restarted or failed-over controller re-derives the same name
 * and can never create a second Job for one time. Concurrency: FORBID skips while a Job is active
 * (JobAlreadyActive), REPLACE deletes the active ones in the same transaction. Finished Jobs beyond
 * the history limits are deleted, oldest first; a deleted CronJob's Jobs are deleted.
 *
 * <p>run_on_edge: no Jobs are made here; each selected node gets an entry ({@link EdgeCronJobTasks}),
 * written and removed as nodes come, go or change labels; the nodes' runs come back as Jobs
 * ({@link EdgeCronJobRuns}) whose history limits apply per node.
 */
@ApplicationScoped
public class CronJobController {
    private static final Logger LOG = Logger.getLogger(CronJobController.class);
    private static final long COMMIT_TIMEOUT_SECONDS = 60;
    private static final Duration OWN_WRITES_WAIT = Duration.ofSeconds(2);
    private static final Duration OWN_WRITES_POLL = Duration.ofMillis(5);

    private record Written(long revision, long nanos) {}

    private final StateCaches caches;
    private final LeaderLock leader;
    private final ControlPlaneConfig.Scheduler config;
    private final EtcdStore store;
    private final EventRecorder events;
    private final Clock clock;
    /** "namespace/cronjob" -> node -> its entry, from the assignments informer. */
    private final NodeEntryIndex entries = new NodeEntryIndex(EdgeCronJobTasks::cronJobOf);
    private final Map<String, Written> written = new ConcurrentHashMap<>();
    private volatile TxnWriter writer;
    private volatile WorkQueue<String> queue;

    @jakarta.inject.Inject
    public CronJobController(EtcdStore store, StateCaches caches, LeaderLock leader, ControlPlaneConfig config, EventRecorder events) {
        this(store, caches, leader, config, events, Clock.systemUTC());
    }

    CronJobController(EtcdStore store, StateCaches caches, LeaderLock leader, ControlPlaneConfig config, EventRecorder events, Clock clock) {
        this.store = store;
        this.caches = caches;
        this.leader = leader;
        this.config = config.scheduler();
        this.events = events;
        this.clock = clock;
    }

    public void start() {
        startIndex();
        queue = new WorkQueue<>("edgeplane-cronjobs", 1, config.queueCapacity(), this::reconcile);
        caches.cronJobs().subscribe(PrefixCache.Listener.waking(Keys.CRON_JOBS, this::wake, this::wakeAll), (state, revision) -> null);
        caches.jobs().subscribe(new JobListener(), (state, revision) -> null);
        caches.nodes().subscribe(new NodeListener(), (state, revision) -> null);
        leader.addListener(this::wakeAll); // the App controller starts the lock
    }

    /** The writer and the index of node entries, without the work queue (tests reconcile by hand). */
    void startIndex() {
        writer = new TxnWriter(store, config.writesInFlight());
        caches.assignments().subscribe(entries.listener(this::wake, this::wakeAll), (state, revision) -> {
            entries.reset(state.values());
            return null;
        });
    }

    public void stop() {
        WorkQueue<String> q = queue;
        queue = null;
        if (q != null) {
            q.close();
        }
    }

    private void wakeAll() {
        if (!leader.isLeader()) {
            return;
        }
        Set<String> all = new HashSet<>();
        caches.cronJobs().all().forEach(e -> all.add(Keys.suffix(e.key(), Keys.CRON_JOBS)));
        all.addAll(entries.owners()); // entries of CronJobs deleted while no leader ran
        caches.jobs().all().forEach(e -> {
            String owner = e.value().getMetadata().getLabelsOrDefault(CronJobNames.CRON_JOB_LABEL, "");
            if (!owner.isEmpty()) {
                all.add(e.value().getMetadata().getNamespace() + "/" + owner); // Jobs of CronJobs deleted meanwhile
            }
        });
        all.forEach(this::wake);
    }

    /** Asks for a reconcile of "namespace/name" (also used by the run reports). */
    public void wake(String cronJob) {
        WorkQueue<String> q = queue;
        if (q != null && !q.add(cronJob)) {
            LOG.warnf("cron job queue full: %s not queued", cronJob);
        }
    }

    /** The node's entry for the CronJob, if it holds one (the run reports check this). */
    public Optional<Assignment> entry(String namespace, String cronJob, String node) {
        return Optional.ofNullable(entries.entries(namespace + "/" + cronJob).get(node)).map(Entry::value);
    }

    private final class JobListener implements PrefixCache.Listener<Job> {
        @Override
        public void onEvents(List<PrefixCache.Event<Job>> changes, long revision) {
            Set<String> touched = new HashSet<>();
            for (PrefixCache.Event<Job> change : changes) {
                Entry<Job> e = change instanceof PrefixCache.Put<Job> put ? put.entry() : change.previous();
                if (e != null) {
                    String owner = e.value().getMetadata().getLabelsOrDefault(CronJobNames.CRON_JOB_LABEL, "");
                    if (!owner.isEmpty()) {
                        touched.add(e.value().getMetadata().getNamespace() + "/" + owner);
                    }
                }
            }
            touched.forEach(CronJobController.this::wake);
        }

        @Override
        public void onReset(Map<String, Entry<Job>> state, long revision) {
            wakeAll();
        }
    }

    /** Nodes matter only to run_on_edge CronJobs, and only when one comes, goes or changes labels. */
    private final class NodeListener implements PrefixCache.Listener<Node> {
        @Override
        public void onEvents(List<PrefixCache.Event<Node>> changes, long revision) {
            boolean relevant = false;
            for (PrefixCache.Event<Node> change : changes) {
                Entry<Node> before = change.previous();
                Entry<Node> after = change instanceof PrefixCache.Put<Node> put ? put.entry() : null;
                if (before == null || after == null
                        || !before.value().getMetadata().getLabelsMap().equals(after.value().getMetadata().getLabelsMap())) {
                    relevant = true;
                }
            }
            if (relevant) {
                caches.cronJobs().all().stream().filter(e -> e.value().getSpec().getRunOnEdge())
                        .forEach(e -> wake(Keys.suffix(e.key(), Keys.CRON_JOBS)));
            }
        }

        @Override
        public void onReset(Map<String, Entry<Node>> state, long revision) {
            wakeAll();
        }
    }

    private static ObjectReference ref(String namespace, String name) {
        return ObjectReference.newBuilder().setKind("CronJob").setNamespace(namespace).setName(name).build();
    }

    WorkQueue.Outcome reconcile(String key) throws Exception {
        if (!leader.isLeader()) {
            return WorkQueue.DONE;
        }
        Written last = written.get(key);
        if (last != null && (caches.jobs().revision() < last.revision() || caches.assignments().revision() < last.revision()
                || caches.cronJobs().revision() < last.revision()) && System.nanoTime() - last.nanos() < OWN_WRITES_WAIT.toNanos()) {
            return new WorkQueue.RequeueAfter(OWN_WRITES_POLL); // plan on a view that includes our own last writes
        }
        written.remove(key);
        int slash = key.indexOf('/');
        String namespace = key.substring(0, slash);
        String name = key.substring(slash + 1);
        Entry<CronJob> entry = caches.cronJobs().get(Keys.cronJob(namespace, name));
        List<Entry<Job>> labelled = caches.jobs().list(Keys.JOBS + namespace + "/").stream()
                .filter(e -> name.equals(e.value().getMetadata().getLabelsOrDefault(CronJobNames.CRON_JOB_LABEL, ""))).toList();
        Map<String, Entry<Assignment>> existing = entries.entries(key);
        List<Write> writes = new ArrayList<>();
        // Node entries: exactly those wanted.
        Map<String, Assignment> wanted = entry == null ? Map.of()
                : EdgeCronJobTasks.tasks(entry.value(), caches.nodes().all().stream().map(Entry::value).toList());
        wanted.forEach((node, task) -> {
            Entry<Assignment> current = existing.get(node);
            if (current == null || !current.value().equals(task)) {
                writes.add(Write.put(EdgeCronJobTasks.key(node, namespace, name), task.toByteArray()));
            }
        });
        existing.forEach((node, e) -> {
            if (!wanted.containsKey(node)) {
                writes.add(Write.delete(e.key()));
            }
        });
        if (entry == null) {
            labelled.forEach(e -> writes.add(Write.delete(e.key()))); // Kubernetes' background propagation
            if (!writes.isEmpty()) {
                commit(key, writes, List.of(leader.fence()));
                LOG.infof("cron job %s is gone: %d of its Jobs and node entries deleted", key, writes.size());
            }
            return WorkQueue.DONE;
        }
        CronJob cronJob = entry.value();
        List<Entry<Job>> mine = new ArrayList<>();
        for (Entry<Job> e : labelled) {
            if (CronJobJobs.ownedBy(e.value(), cronJob)) {
                mine.add(e);
            } else {
                writes.add(Write.delete(e.key())); // made by an older CronJob of this name
            }
        }
        Instant now = clock.instant();
        CronJobSpec spec = cronJob.getSpec();
        CronJobStatus.Builder status = cronJob.getStatus().toBuilder().clearEdgeNodes();
        Set<String> wasActive = new HashSet<>(cronJob.getStatus().getActiveList());
        List<Entry<Job>> active = mine.stream().filter(e -> !CronJobJobs.finished(e.value()))
                .sorted(Comparator.comparing(e -> CronJobJobs.scheduledTime(e.value()))).toList();
        status.clearActive().addAllActive(active.stream().map(e -> e.value().getMetadata().getName()).toList());
        Instant lastSuccess = cronJob.getStatus().hasLastSuccessfulTime() ? CronJobJobs.instant(cronJob.getStatus().getLastSuccessfulTime()) : null;
        for (Entry<Job> e : mine) {
            Job job = e.value();
            if (CronJobJobs.finished(job) && wasActive.contains(job.getMetadata().getName())) {
                events.info(ref(namespace, name), "SawCompletedJob", "saw completed job: " + job.getMetadata().getName() + ", condition: "
                        + (CronJobJobs.condition(job, CronJobJobs.COMPLETE) ? CronJobJobs.COMPLETE : CronJobJobs.FAILED), job.getSpec().getEdgeNode());
            }
            if (CronJobJobs.condition(job, CronJobJobs.COMPLETE)) {
                Instant done = CronJobJobs.finishTime(job);
                if (lastSuccess == null || done.isAfter(lastSuccess)) {
                    lastSuccess = done;
                }
            }
            if (spec.getRunOnEdge() || !job.getSpec().getEdgeNode().isEmpty()) {
                Instant scheduled = CronJobJobs.scheduledTime(job);
                if (!status.hasLastScheduleTime() || scheduled.isAfter(CronJobJobs.instant(status.getLastScheduleTime()))) {
                    status.setLastScheduleTime(CronJobJobs.timestamp(scheduled));
                }
            }
        }
        if (lastSuccess != null) {
            status.setLastSuccessfulTime(CronJobJobs.timestamp(lastSuccess));
        }
        // History limits (edge Jobs per node: each node keeps its own history).
        Map<String, List<Entry<Job>>> byNode = mine.stream().filter(e -> CronJobJobs.finished(e.value()))
                .collect(Collectors.groupingBy(e -> e.value().getSpec().getEdgeNode()));
        Set<String> pruned = new HashSet<>();
        for (List<Entry<Job>> finished : byNode.values()) {
            Comparator<Entry<Job>> newestFirst = Comparator.comparing((Entry<Job> e) -> CronJobJobs.finishTime(e.value())).reversed();
            List<Entry<Job>> ok = finished.stream().filter(e -> CronJobJobs.condition(e.value(), CronJobJobs.COMPLETE)).sorted(newestFirst).toList();
            List<Entry<Job>> failed = finished.stream().filter(e -> !CronJobJobs.condition(e.value(), CronJobJobs.COMPLETE)).sorted(newestFirst).toList();
            for (Entry<Job> e : CronJobSlots.beyondLimit(ok, EdgeCronJobTasks.successfulLimit(spec))) {
                pruned.add(e.key());
            }
            for (Entry<Job> e : CronJobSlots.beyondLimit(failed, EdgeCronJobTasks.failedLimit(spec))) {
                pruned.add(e.key());
            }
        }
        pruned.forEach(k -> writes.add(Write.delete(k)));
        if (!pruned.isEmpty()) {
            LOG.infof("cron job %s: %d finished Jobs beyond its history limits deleted", key, pruned.size());
        }
        if (spec.getRunOnEdge() || spec.getSuspend()) {
            writeStatus(key, entry, status.build(), writes);
            return WorkQueue.DONE; // edge: the nodes fire; suspended: woken again when resumed
        }
        CronSchedule schedule;
        try {
            schedule = CronSchedule.parse(spec.getSchedule(), spec.getTimeZone());
        } catch (CronSchedule.InvalidCronException e) {
            events.warning(ref(namespace, name), "UnparseableSchedule", e.getMessage(), "");
            writeStatus(key, entry, status.build(), writes);
            return WorkQueue.DONE;
        }
        Instant since = cronJob.getStatus().hasLastScheduleTime() ? CronJobJobs.instant(cronJob.getStatus().getLastScheduleTime())
                : CronJobJobs.instant(cronJob.getMetadata().getCreateTime());
        Long deadline = spec.hasStartingDeadlineSeconds() ? spec.getStartingDeadlineSeconds() : null;
        CronJobSlots.Plan plan = CronJobSlots.plan(schedule, since, now, deadline, false);
        if (plan.missed() >= CronJobSlots.TOO_MANY_MISSED) {
            events.warning(ref(namespace, name), "TooManyMissedTimes", "too many missed start times (" + plan.missed()
                    + " or more): only the most recent is started", "");
        }
        if (plan.skipped().isPresent()) {
            events.warning(ref(namespace, name), "MissSchedule", "missed scheduled time " + plan.skipped().get()
                    + ": past starting_deadline_seconds " + deadline, "");
        }
        if (plan.start().isPresent()) {
            Instant slot = plan.start().get();
            CronJobSlots.Concurrency policy = spec.getConcurrencyPolicy() == CronJobSpec.ConcurrencyPolicy.FORBID ? CronJobSlots.Concurrency.FORBID
                    : spec.getConcurrencyPolicy() == CronJobSpec.ConcurrencyPolicy.REPLACE ? CronJobSlots.Concurrency.REPLACE
                    : CronJobSlots.Concurrency.ALLOW;
            String jobName = CronJobNames.scheduledJob(name, slot, schedule.hasSeconds());
            boolean exists = mine.stream().anyMatch(e -> e.value().getMetadata().getName().equals(jobName));
            List<Entry<Job>> othersActive = active.stream().filter(e -> !e.value().getMetadata().getName().equals(jobName)).toList();
            CronJobSlots.Action action = exists ? CronJobSlots.Action.START : CronJobSlots.onDue(policy, othersActive.size());
            if (action == CronJobSlots.Action.SKIP) {
                // Kubernetes: the time stays unhandled; if the active Job ends before the next time, it may still start.
                events.info(ref(namespace, name), "JobAlreadyActive", "not starting job for " + slot + " because of prior execution still running"
                        + " and concurrency policy is Forbid", "");
                writeStatus(key, entry, status.build(), writes);
                return requeue(plan, now);
            }
            List<Cmp> guards = new ArrayList<>(List.of(leader.fence(),
                    new Cmp(EtcdStore.bytes(entry.key()), Cmp.Op.EQUAL, CmpTarget.modRevision(entry.modRevision()))));
            if (action == CronJobSlots.Action.REPLACE_THEN_START) {
                List<String> still = new ArrayList<>(status.getActiveList());
                othersActive.forEach(e -> still.remove(e.value().getMetadata().getName()));
                status.clearActive().addAllActive(still);
                for (Entry<Job> e : othersActive) {
                    writes.add(Write.delete(e.key()));
                    events.info(ref(namespace, name), "SuccessfulDelete", "deleted job " + e.value().getMetadata().getName()
                            + " (concurrency policy Replace)", "");
                }
            }
            status.setLastScheduleTime(CronJobJobs.timestamp(slot));
            if (!exists) {
                String jobKey = Keys.job(namespace, jobName);
                guards.add(new Cmp(EtcdStore.bytes(jobKey), Cmp.Op.EQUAL, CmpTarget.version(0)));
                writes.add(Write.put(jobKey, CronJobJobs.fromTemplate(cronJob, jobName, slot, now).toByteArray()));
                status.addActive(jobName);
            }
            writes.add(Write.put(entry.key(), cronJob.toBuilder().setStatus(status).build().toByteArray()));
            if (commit(key, writes, guards)) {
                if (!exists) {
                    events.info(ref(namespace, name), "SuccessfulCreate", "created job " + jobName, "");
                    LOG.infof("cron job %s: created job %s for %s (%d ms late)", key, jobName, slot, Duration.between(slot, now).toMillis());
                }
                return WorkQueue.DONE; // the status write wakes it again, and then it waits for the next time
            }
            return WorkQueue.REQUEUE; // a guard failed: the Job exists already, or the CronJob changed: look again
        }
        writeStatus(key, entry, status.build(), writes);
        return requeue(plan, now);
    }

    private static WorkQueue.Outcome requeue(CronJobSlots.Plan plan, Instant now) {
        return plan.wait(now).<WorkQueue.Outcome>map(WorkQueue.RequeueAfter::new).orElse(WorkQueue.DONE);
    }

    /** Commits {@code writes} plus the status when it changed, guarded on the CronJob's mod_revision and the fence. */
    private void writeStatus(String key, Entry<CronJob> entry, CronJobStatus status, List<Write> writes) throws Exception {
        if (!status.equals(entry.value().getStatus().toBuilder().clearEdgeNodes().build())) {
            writes.add(Write.put(entry.key(), entry.value().toBuilder().setStatus(status).build().toByteArray()));
        }
        if (!writes.isEmpty()) {
            commit(key, writes, List.of(leader.fence(),
                    new Cmp(EtcdStore.bytes(entry.key()), Cmp.Op.EQUAL, CmpTarget.modRevision(entry.modRevision()))));
        }
    }

    /** True when committed; false when a guard failed (someone else changed what was read). */
    private boolean commit(String key, List<Write> writes, List<Cmp> guards) throws Exception {
        try {
            long revision = writer.commit(writes, guards).get(COMMIT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            written.put(key, new Written(revision, System.nanoTime()));
            return true;
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TxnWriter.GuardFailed)) {
                throw e;
            }
            return false;
        }
    }

    /** Nothing queued or being reconciled now (delayed requeues for future times do not count). */
    public boolean quiet() {
        WorkQueue<String> q = queue;
        return q == null || q.depth() + q.inProgress() == 0;
    }
}
