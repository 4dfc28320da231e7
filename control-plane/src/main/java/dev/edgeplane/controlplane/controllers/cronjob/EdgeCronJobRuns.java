package dev.edgeplane.controlplane.controllers.cronjob;

import dev.edgeplane.api.CronJobNames;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.CronJob;
import dev.edgeplane.api.v1.CronJobRunReport;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.JobCondition;
import dev.edgeplane.api.v1.JobPod;
import dev.edgeplane.api.v1.JobStatus;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.controlplane.api.Validation;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.PutOption;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import org.jboss.logging.Logger;

/**
 * Files what nodes report of their run_on_edge CronJob runs (StatusReport.cron_job_runs) as Jobs:
 * "&lt;cronjob&gt;-&lt;node&gt;-&lt;scheduled unix seconds&gt;" ({@link CronJobNames#edgeJob}), spec copied
 * from job_template.spec with spec.edge_node = the node, status from the report. Idempotent: the name
 * derives from CronJob, node and time; a report repeated after a reconnect finds its Job and writes
 * only what changed (compared on mod_revision). Only a node holding the CronJob's entry, with that
 * CronJob's uid, may file runs (a hostile node cannot make Jobs for CronJobs not placed on it). A
 * finished run that the node's history limit would delete at once is not filed (so a node
 * re-reporting its kept runs never brings back a Job the limits removed). On one thread, in order.
 */
@ApplicationScoped
public class EdgeCronJobRuns {
    private static final Logger LOG = Logger.getLogger(EdgeCronJobRuns.class);
    /** Runs taken from one report at most; the rest are dropped (the node reports them again after a reconnect). */
    public static final int MAX_RUNS_PER_REPORT = 1000;
    public static final int MAX_MESSAGE = 1024;

    private final EtcdStore store;
    private final StateCaches caches;
    private final CronJobController controller;
    private final ExecutorService writer = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "edgeplane-cronjob-runs");
        t.setDaemon(true);
        return t;
    });

    public EdgeCronJobRuns(EtcdStore store, StateCaches caches, CronJobController controller) {
        this.store = store;
        this.caches = caches;
        this.controller = controller;
    }

    /** Queues the report's run part. */
    public void report(String node, StatusReport report) {
        if (report.getCronJobRunsCount() == 0) {
            return;
        }
        try {
            writer.execute(() -> {
                try {
                    apply(node, report);
                } catch (RuntimeException e) {
                    LOG.warnf("cannot file cron job runs of node %s: %s", node, e.getMessage());
                }
            });
        } catch (RejectedExecutionException e) {
            LOG.debug("cron job run report dropped: shutting down");
        }
    }

    /** Files each run; returns how many Jobs were created or updated (tests). */
    public int apply(String node, StatusReport report) {
        int changed = 0;
        List<CronJobRunReport> runs = report.getCronJobRunsList();
        if (runs.size() > MAX_RUNS_PER_REPORT) {
            LOG.warnf("node %s reported %d cron job runs in one report, over %d: the rest are dropped", node, runs.size(), MAX_RUNS_PER_REPORT);
            runs = runs.subList(0, MAX_RUNS_PER_REPORT);
        }
        for (CronJobRunReport run : runs) {
            if (file(node, run)) {
                changed++;
            }
        }
        return changed;
    }

    private boolean file(String node, CronJobRunReport run) {
        String ns = run.getNamespace();
        if (!Validation.isDnsLabel(ns) || !Validation.isDnsLabel(run.getCronJob()) || !run.hasScheduledTime()
                || run.getMessage().length() > MAX_MESSAGE || run.getReplica().length() > 253) {
            LOG.warnf("node %s reported a malformed cron job run %s/%s: ignored", node, ns, run.getCronJob());
            return false;
        }
        Optional<Assignment> entry = controller.entry(ns, run.getCronJob(), node);
        if (entry.isEmpty() || !entry.get().getCronJob().getUid().equals(run.getCronJobUid())) {
            LOG.warnf("node %s reported a run of cron job %s/%s (uid %s) that is not placed on it: refused", node, ns, run.getCronJob(),
                    run.getCronJobUid());
            return false;
        }
        Entry<CronJob> cronJob = caches.cronJobs().get(Keys.cronJob(ns, run.getCronJob()));
        if (cronJob == null || !cronJob.value().getMetadata().getUid().equals(run.getCronJobUid())) {
            return false;
        }
        Instant scheduled = CronJobJobs.instant(run.getScheduledTime());
        String name = CronJobNames.edgeJob(run.getCronJob(), node, scheduled);
        String key = Keys.job(ns, name);
        Optional<Entry<Job>> current = store.get(key, Job.parser());
        Instant now = Instant.now();
        JobStatus status = status(node, run, current.map(e -> e.value().getStatus()).orElse(JobStatus.getDefaultInstance()), now);
        if (current.isPresent()) {
            if (current.get().value().getStatus().equals(status)) {
                return false;
            }
            Job updated = current.get().value().toBuilder().setStatus(status).build();
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(current.get().modRevision())))
                    .Then(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(updated.toByteArray()), PutOption.DEFAULT)).commit(), "update " + key);
            return response.isSucceeded();
        }
        boolean finished = run.getPhase() == ReplicaStatus.Phase.SUCCEEDED || run.getPhase() == ReplicaStatus.Phase.FAILED;
        if (finished && prunedAtOnce(cronJob.value(), node, run)) {
            return false;
        }
        Job made = CronJobJobs.fromTemplate(cronJob.value(), name, scheduled, now);
        Job job = made.toBuilder().setMetadata(made.getMetadata().toBuilder().putLabels(CronJobNames.EDGE_NODE_LABEL, node))
                .setSpec(made.getSpec().toBuilder().setEdgeNode(node)).setStatus(status).build();
        TxnResponse response = store.await(store.client().getKVClient().txn()
                .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.version(0)))
                .Then(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(job.toByteArray()), PutOption.DEFAULT)).commit(), "create " + key);
        if (response.isSucceeded()) {
            LOG.infof("cron job %s/%s ran on node %s for %s: job %s (%s)", ns, run.getCronJob(), node, scheduled, name, run.getPhase());
        }
        return response.isSucceeded();
    }

    /** True when the node already has as many newer finished Jobs of this outcome as the history limit keeps. */
    private boolean prunedAtOnce(CronJob cronJob, String node, CronJobRunReport run) {
        boolean ok = run.getPhase() == ReplicaStatus.Phase.SUCCEEDED;
        int limit = ok ? EdgeCronJobTasks.successfulLimit(cronJob.getSpec()) : EdgeCronJobTasks.failedLimit(cronJob.getSpec());
        long newer = caches.jobs().list(Keys.JOBS + cronJob.getMetadata().getNamespace() + "/").stream().map(Entry::value)
                .filter(j -> node.equals(j.getSpec().getEdgeNode()) && CronJobJobs.ownedBy(j, cronJob) && CronJobJobs.finished(j)
                        && CronJobJobs.condition(j, CronJobJobs.COMPLETE) == ok
                        && CronJobJobs.scheduledTime(j).isAfter(CronJobJobs.instant(run.getScheduledTime())))
                .count();
        return newer >= limit;
    }

    /** The Job's status as the run's report says (conditions keep their first transition time). */
    static JobStatus status(String node, CronJobRunReport run, JobStatus previous, Instant now) {
        boolean ok = run.getPhase() == ReplicaStatus.Phase.SUCCEEDED;
        boolean failed = run.getPhase() == ReplicaStatus.Phase.FAILED;
        JobStatus.Builder status = JobStatus.newBuilder().setActive(ok || failed ? 0 : 1).setSucceeded(ok ? 1 : 0)
                .setFailed(failed ? 1 + run.getRestarts() : run.getRestarts()).setObservedGeneration(1);
        if (run.hasStartTime()) {
            status.setStartTime(run.getStartTime());
        }
        if (ok && run.hasCompletionTime()) {
            status.setCompletionTime(run.getCompletionTime());
        }
        if (ok || failed) {
            String type = ok ? CronJobJobs.COMPLETE : CronJobJobs.FAILED;
            JobCondition.Builder condition = JobCondition.newBuilder().setType(type).setStatus(true)
                    .setReason(ok ? "" : "BackoffLimitExceeded").setMessage(ok ? "" : run.getMessage());
            Optional<JobCondition> before = previous.getConditionsList().stream().filter(c -> c.getType().equals(type)).findFirst();
            condition.setLastTransitionTime(before.map(JobCondition::getLastTransitionTime)
                    .orElse(run.hasCompletionTime() ? run.getCompletionTime() : CronJobJobs.timestamp(now)));
            status.addConditions(condition);
        }
        JobPod.Builder pod = JobPod.newBuilder().setName(run.getReplica()).setNode(node).setPhase(run.getPhase())
                .setExitCode(run.getExitCode()).setMessage(run.getMessage());
        if (run.hasStartTime()) {
            pod.setStartTime(run.getStartTime());
        }
        if (run.hasCompletionTime()) {
            pod.setFinishTime(run.getCompletionTime());
        }
        status.addPods(pod);
        return status.build();
    }

}
