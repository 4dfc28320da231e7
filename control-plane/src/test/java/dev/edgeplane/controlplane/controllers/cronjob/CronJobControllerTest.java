package dev.edgeplane.controlplane.controllers.cronjob;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.CronJobNames;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateCronJobRequest;
import dev.edgeplane.api.v1.CronJob;
import dev.edgeplane.api.v1.CronJobRunReport;
import dev.edgeplane.api.v1.CronJobServiceGrpc;
import dev.edgeplane.api.v1.CronJobSpec;
import dev.edgeplane.api.v1.DeleteCronJobRequest;
import dev.edgeplane.api.v1.GetCronJobRequest;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.JobCondition;
import dev.edgeplane.api.v1.JobSpec;
import dev.edgeplane.api.v1.JobTemplate;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.api.v1.TriggerCronJobRequest;
import dev.edgeplane.api.v1.UpdateCronJobRequest;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.events.Occurrence;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.workqueue.WorkQueue;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * CronJobs through the API and the controller against real etcd. The application's own controller is
 * stopped; the test runs its own instances on a clock it moves, and reconciles by hand, so every
 * scheduled time is deterministic. The Job controller is simulated by writing Jobs' status.
 */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class CronJobControllerTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    @Inject
    EtcdStore store;
    @Inject
    StateCaches caches;
    @Inject
    LeaderLock leader;
    @Inject
    ControlPlaneConfig config;
    @Inject
    CronJobController running;
    @Inject
    EdgeCronJobRuns runs;

    private TestApi api;
    private CronJobServiceGrpc.CronJobServiceBlockingStub cronJobs;
    private final MovableClock clock = new MovableClock();
    private final List<Occurrence> events = new CopyOnWriteArrayList<>();

    static final class MovableClock extends Clock {
        volatile Instant now = Instant.now();

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    @BeforeEach
    void setUp() {
        api = new TestApi();
        cronJobs = api.withToken(CronJobServiceGrpc.newBlockingStub(api.channel), api.adminToken);
        running.stop(); // this test reconciles by hand
        TestApi.await("leadership", WAIT, () -> leader.isLeader());
    }

    @AfterEach
    void tearDown() {
        running.start();
        api.close();
    }

    private CronJobController controller() {
        CronJobController c = new CronJobController(store, caches, leader, config, events::add, clock);
        c.startIndex();
        return c;
    }

    private static JobSpec.Builder jobSpec() {
        return JobSpec.newBuilder().setTemplate(PodTemplate.newBuilder().setRestartPolicy(PodTemplate.RestartPolicy.NEVER)
                .addContainers(Container.newBuilder().setName("work").setImage("registry.local/busybox:1").addCommand("true")));
    }

    private CronJob create(String ns, String name, CronJobSpec.Builder spec) {
        return cronJobs.createCronJob(CreateCronJobRequest.newBuilder().setCronJob(CronJob.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName(name)).setSpec(spec)).build());
    }

    private static CronJobSpec.Builder spec(String schedule) {
        return CronJobSpec.newBuilder().setSchedule(schedule).setJobTemplate(JobTemplate.newBuilder().putLabels("team", "ops").setSpec(jobSpec()));
    }

    /** Reconciles until it is not waiting for its own writes to show in the caches. */
    private WorkQueue.Outcome reconcile(CronJobController c, String key) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            WorkQueue.Outcome outcome = c.reconcile(key);
            boolean ownWrites = outcome instanceof WorkQueue.RequeueAfter after && after.delay().toMillis() <= 5;
            if (!(ownWrites || outcome instanceof WorkQueue.Requeue) || System.nanoTime() > deadline) {
                return outcome;
            }
            Thread.sleep(5);
        }
    }

    private List<Job> jobs(String ns, String cronJob) {
        return store.listAll(Keys.JOBS + ns + "/").entries().stream().map(e -> EtcdStore.decode(Job.parser(), e.value()))
                .filter(j -> cronJob.equals(j.getMetadata().getLabelsOrDefault(CronJobNames.CRON_JOB_LABEL, ""))).toList();
    }

    /** Plays the Job controller: the Job finished (retried over the real Job controller's own status writes). */
    private void finish(String ns, String job, boolean ok, Instant at) {
        String key = Keys.job(ns, job);
        Timestamp t = Timestamp.newBuilder().setSeconds(at.getEpochSecond()).build();
        TestApi.await("job " + job + " marked finished", WAIT, () -> {
            Entry<Job> current = store.get(key, Job.parser()).orElseThrow();
            Job done = current.value().toBuilder().setStatus(current.value().getStatus().toBuilder().setActive(0)
                    .addConditions(JobCondition.newBuilder().setType(ok ? "Complete" : "Failed").setStatus(true).setLastTransitionTime(t))
                    .setCompletionTime(t)).build();
            return store.update(key, done.toByteArray(), current.modRevision()).isPresent();
        });
        TestApi.await("the jobs informer sees " + job + " finished", WAIT,
                () -> caches.jobs().get(key) != null && CronJobJobs.finished(caches.jobs().get(key).value()));
    }

    /** The next scheduled time of a minute schedule after {@code t}: the next multiple of {@code minutes}. */
    private static Instant nextMinutes(Instant t, int minutes) {
        long period = minutes * 60L;
        return Instant.ofEpochSecond((t.getEpochSecond() / period + 1) * period);
    }

    @Test
    void apiNamesTheFieldAtFault() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create("cj-api", "bad", spec("61 * * * *")));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("cron_job.spec.schedule"), e.getStatus().getDescription());
        assertTrue(e.getStatus().getDescription().contains("minute"), e.getStatus().getDescription());
        e = assertThrows(StatusRuntimeException.class, () -> create("cj-api", "bad", spec("* * * * *").setTimeZone("Mars/Olympus")));
        assertTrue(e.getStatus().getDescription().contains("cron_job.spec.time_zone"), e.getStatus().getDescription());
        CronJobSpec.Builder always = spec("* * * * *");
        always.getJobTemplateBuilder().getSpecBuilder().getTemplateBuilder().setRestartPolicy(PodTemplate.RestartPolicy.ALWAYS);
        e = assertThrows(StatusRuntimeException.class, () -> create("cj-api", "bad", always));
        assertTrue(e.getStatus().getDescription().contains("cron_job.spec.job_template.spec.template.restart_policy"), e.getStatus().getDescription());
        e = assertThrows(StatusRuntimeException.class, () -> create("cj-api", "bad", spec("* * * * *").setSuccessfulJobsHistoryLimit(101)));
        assertTrue(e.getStatus().getDescription().contains("cron_job.spec.successful_jobs_history_limit"), e.getStatus().getDescription());
        e = assertThrows(StatusRuntimeException.class, () -> create("cj-api", "bad", spec("* * * * *").setStartingDeadlineSeconds(0)));
        assertTrue(e.getStatus().getDescription().contains("cron_job.spec.starting_deadline_seconds"), e.getStatus().getDescription());
        CronJobSpec.Builder noImage = spec("* * * * *");
        noImage.getJobTemplateBuilder().getSpecBuilder().getTemplateBuilder().getContainersBuilder(0).clearImage();
        e = assertThrows(StatusRuntimeException.class, () -> create("cj-api", "bad", noImage));
        assertTrue(e.getStatus().getDescription().contains("cron_job.spec.job_template.spec.template.containers[0]"), e.getStatus().getDescription());
        CronJobSpec.Builder nowhere = spec("* * * * *").setRunOnEdge(true);
        nowhere.getJobTemplateBuilder().getSpecBuilder().putNodeSelector("site", "nowhere-at-all");
        e = assertThrows(StatusRuntimeException.class, () -> create("cj-api", "edge", nowhere));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("selects no node"), e.getStatus().getDescription());

        CronJob made = create("cj-api", "ok", spec("*/5 * * * *"));
        assertEquals(1, made.getMetadata().getGeneration());
        e = assertThrows(StatusRuntimeException.class, () -> create("cj-api", "ok", spec("*/5 * * * *")));
        assertEquals(Status.Code.ABORTED, e.getStatus().getCode());
        CronJob updated = cronJobs.updateCronJob(UpdateCronJobRequest.newBuilder().setCronJob(made.toBuilder()
                .setSpec(made.getSpec().toBuilder().setSuspend(true))).build());
        assertEquals(2, updated.getMetadata().getGeneration());
        e = assertThrows(StatusRuntimeException.class, () -> cronJobs.updateCronJob(UpdateCronJobRequest.newBuilder().setCronJob(made).build()));
        assertEquals(Status.Code.ABORTED, e.getStatus().getCode(), "a stale resource_version");
        Job manual = cronJobs.triggerCronJob(TriggerCronJobRequest.newBuilder().setNamespace("cj-api").setName("ok").setJobName("ok-manual").build());
        assertEquals("ok", manual.getMetadata().getLabelsOrThrow(CronJobNames.CRON_JOB_LABEL));
        assertEquals("manual", manual.getMetadata().getAnnotationsOrThrow(CronJobNames.CREATED_BY_ANNOTATION));
        assertEquals(Status.Code.NOT_FOUND, assertThrows(StatusRuntimeException.class, () -> cronJobs.getCronJob(
                GetCronJobRequest.newBuilder().setNamespace("cj-api").setName("missing").build())).getStatus().getCode());
    }

    @Test
    void exactlyOneJobPerScheduledTimeAcrossAControllerRestart() throws Exception {
        CronJob cj = create("cj-once", "tick", spec("*/5 * * * *"));
        String key = "cj-once/tick";
        Instant created = Instant.ofEpochSecond(cj.getMetadata().getCreateTime().getSeconds(), cj.getMetadata().getCreateTime().getNanos());
        clock.now = created;
        CronJobController first = controller();
        TestApi.await("the cron job cached", WAIT, () -> caches.cronJobs().get(Keys.cronJob("cj-once", "tick")) != null);
        WorkQueue.Outcome outcome = reconcile(first, key);
        Instant slot1 = nextMinutes(created, 5);
        assertEquals(new WorkQueue.RequeueAfter(Duration.between(created, slot1)), outcome, "waits until the next scheduled time");
        assertTrue(jobs("cj-once", "tick").isEmpty());

        clock.now = slot1.plusMillis(300);
        reconcile(first, key);
        List<Job> made = jobs("cj-once", "tick");
        assertEquals(1, made.size());
        Job job = made.get(0);
        String name = "tick-" + slot1.getEpochSecond() / 60;
        assertEquals(name, job.getMetadata().getName(), "Kubernetes' name: scheduled unix minutes");
        assertEquals("ops", job.getMetadata().getLabelsOrThrow("team"));
        assertEquals(slot1.toString(), job.getMetadata().getAnnotationsOrThrow(CronJobNames.SCHEDULED_TIME_ANNOTATION));
        assertEquals("work", job.getSpec().getTemplate().getContainers(0).getName());
        CronJob status = cronJobs.getCronJob(GetCronJobRequest.newBuilder().setNamespace("cj-once").setName("tick").build());
        assertEquals(List.of(name), status.getStatus().getActiveList());
        assertEquals(slot1.getEpochSecond(), status.getStatus().getLastScheduleTime().getSeconds());
        assertTrue(events.stream().anyMatch(o -> o.reason().equals("SuccessfulCreate")));
        long jobRevision = store.get(Keys.job("cj-once", name)).orElseThrow().modRevision();

        // A restarted controller whose CronJob status lost the time (the worst case: a stale view) re-derives the
        // same name and finds the Job: nothing is created or overwritten.
        first.stop();
        Entry<CronJob> stored = store.get(Keys.cronJob("cj-once", "tick"), CronJob.parser()).orElseThrow();
        assertTrue(store.update(stored.key(), stored.value().toBuilder().setStatus(stored.value().getStatus().toBuilder()
                .clearLastScheduleTime().clearActive()).build().toByteArray(), stored.modRevision()).isPresent());
        TestApi.await("the stale status cached", WAIT,
                () -> !caches.cronJobs().get(Keys.cronJob("cj-once", "tick")).value().getStatus().hasLastScheduleTime());
        CronJobController second = controller();
        reconcile(second, key);
        reconcile(second, key);
        assertEquals(1, jobs("cj-once", "tick").size());
        assertEquals(jobRevision, store.get(Keys.job("cj-once", name)).orElseThrow().modRevision(), "the Job is not written again");
        TestApi.await("the status back", WAIT, () -> caches.cronJobs().get(Keys.cronJob("cj-once", "tick")).value().getStatus()
                .getLastScheduleTime().getSeconds() == slot1.getEpochSecond());

        Instant slot2 = slot1.plus(Duration.ofMinutes(5));
        clock.now = slot2.plusSeconds(1);
        reconcile(second, key);
        assertEquals(2, jobs("cj-once", "tick").size(), "the next time makes the next Job (Allow)");
        second.stop();
    }

    @Test
    void forbidSkipsWhileAJobIsActiveAndReplaceReplacesIt() throws Exception {
        CronJob cj = create("cj-conc", "nightly", spec("*/5 * * * *").setConcurrencyPolicy(CronJobSpec.ConcurrencyPolicy.FORBID));
        String key = "cj-conc/nightly";
        Instant created = Instant.ofEpochSecond(cj.getMetadata().getCreateTime().getSeconds(), cj.getMetadata().getCreateTime().getNanos());
        CronJobController c = controller();
        TestApi.await("the cron job cached", WAIT, () -> caches.cronJobs().get(Keys.cronJob("cj-conc", "nightly")) != null);
        Instant slot1 = nextMinutes(created, 5);
        clock.now = slot1.plusSeconds(1);
        reconcile(c, key);
        assertEquals(1, jobs("cj-conc", "nightly").size());
        String first = "nightly-" + slot1.getEpochSecond() / 60;
        TestApi.await("the job cached", WAIT, () -> caches.jobs().get(Keys.job("cj-conc", first)) != null);

        Instant slot2 = slot1.plus(Duration.ofMinutes(5));
        clock.now = slot2.plusSeconds(1);
        WorkQueue.Outcome skipped = reconcile(c, key);
        assertEquals(1, jobs("cj-conc", "nightly").size(), "Forbid: no second Job while the first is active");
        assertInstanceOf(WorkQueue.RequeueAfter.class, skipped);
        assertTrue(events.stream().anyMatch(o -> o.reason().equals("JobAlreadyActive")));

        finish("cj-conc", first, true, slot2.plusSeconds(2));
        Instant slot3 = slot2.plus(Duration.ofMinutes(5));
        clock.now = slot3.plusSeconds(1);
        reconcile(c, key);
        List<String> names = jobs("cj-conc", "nightly").stream().map(j -> j.getMetadata().getName()).sorted().toList();
        String third = "nightly-" + slot3.getEpochSecond() / 60;
        assertEquals(List.of(first, third), names, "slot 2 was skipped; slot 3 started once the first finished");
        assertTrue(events.stream().anyMatch(o -> o.reason().equals("SawCompletedJob")));
        CronJob seen = cronJobs.getCronJob(GetCronJobRequest.newBuilder().setNamespace("cj-conc").setName("nightly").build());
        assertEquals(List.of(third), seen.getStatus().getActiveList());
        assertEquals(slot2.plusSeconds(2).getEpochSecond(), seen.getStatus().getLastSuccessfulTime().getSeconds());

        cronJobs.updateCronJob(UpdateCronJobRequest.newBuilder().setCronJob(seen.toBuilder()
                .setSpec(seen.getSpec().toBuilder().setConcurrencyPolicy(CronJobSpec.ConcurrencyPolicy.REPLACE))).build());
        TestApi.await("the update cached", WAIT, () -> caches.cronJobs().get(Keys.cronJob("cj-conc", "nightly")).value().getSpec()
                .getConcurrencyPolicy() == CronJobSpec.ConcurrencyPolicy.REPLACE);
        TestApi.await("the third job cached", WAIT, () -> caches.jobs().get(Keys.job("cj-conc", third)) != null);
        Instant slot4 = slot3.plus(Duration.ofMinutes(5));
        clock.now = slot4.plusSeconds(1);
        reconcile(c, key);
        names = jobs("cj-conc", "nightly").stream().map(j -> j.getMetadata().getName()).sorted().toList();
        assertEquals(List.of(first, "nightly-" + slot4.getEpochSecond() / 60), names, "Replace: the active one deleted, the new one made");
        c.stop();
    }

    @Test
    void historyLimitsDeleteTheOldestFinishedJobsAndADeadlineSkipsLateTimes() throws Exception {
        CronJob cj = create("cj-hist", "keep", spec("*/5 * * * *").setSuccessfulJobsHistoryLimit(1).setFailedJobsHistoryLimit(1)
                .setStartingDeadlineSeconds(30));
        String key = "cj-hist/keep";
        Instant created = Instant.ofEpochSecond(cj.getMetadata().getCreateTime().getSeconds(), cj.getMetadata().getCreateTime().getNanos());
        CronJobController c = controller();
        TestApi.await("the cron job cached", WAIT, () -> caches.cronJobs().get(Keys.cronJob("cj-hist", "keep")) != null);
        Instant slot = nextMinutes(created, 5);
        // Past the starting deadline: skipped (MissSchedule), nothing made.
        clock.now = slot.plusSeconds(60);
        reconcile(c, key);
        assertTrue(jobs("cj-hist", "keep").isEmpty(), "60 s late with a 30 s deadline: missed");
        assertTrue(events.stream().anyMatch(o -> o.reason().equals("MissSchedule")));
        boolean[] outcomes = {true, false, true, false};
        for (boolean ok : outcomes) {
            slot = slot.plus(Duration.ofMinutes(5));
            clock.now = slot.plusSeconds(1);
            reconcile(c, key);
            String name = "keep-" + slot.getEpochSecond() / 60;
            assertTrue(store.get(Keys.job("cj-hist", name)).isPresent(), name);
            finish("cj-hist", name, ok, slot.plusSeconds(10));
        }
        reconcile(c, key);
        List<String> kept = jobs("cj-hist", "keep").stream().map(j -> j.getMetadata().getName()).sorted().toList();
        Instant last = slot;
        assertEquals(List.of("keep-" + last.minus(Duration.ofMinutes(5)).getEpochSecond() / 60, "keep-" + last.getEpochSecond() / 60),
                kept, "one successful and one failed kept, the newest of each");

        cronJobs.deleteCronJob(DeleteCronJobRequest.newBuilder().setNamespace("cj-hist").setName("keep").build());
        TestApi.await("the deletion cached", WAIT, () -> caches.cronJobs().get(Keys.cronJob("cj-hist", "keep")) == null);
        reconcile(c, key);
        assertTrue(jobs("cj-hist", "keep").isEmpty(), "a deleted CronJob's Jobs are deleted");
        c.stop();
    }

    private void node(String name, Map<String, String> labels) {
        store.put(Keys.node(name), Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).putAllLabels(labels)).build().toByteArray());
        TestApi.await("node " + name + " cached", WAIT, () -> caches.nodes().get(Keys.node(name)) != null
                && caches.nodes().get(Keys.node(name)).value().getMetadata().getLabelsMap().equals(labels));
    }

    private static CronJobRunReport run(String uid, Instant slot, ReplicaStatus.Phase phase) {
        Timestamp t = Timestamp.newBuilder().setSeconds(slot.getEpochSecond()).build();
        CronJobRunReport.Builder r = CronJobRunReport.newBuilder().setNamespace("cj-edge").setCronJob("site-backup").setCronJobUid(uid)
                .setScheduledTime(t).setStartTime(t).setPhase(phase).setReplica(CronJobNames.runReplica("site-backup", slot));
        if (phase == ReplicaStatus.Phase.SUCCEEDED) {
            r.setCompletionTime(Timestamp.newBuilder().setSeconds(slot.getEpochSecond() + 3));
        }
        return r.build();
    }

    @Test
    void runOnEdgeEntriesFollowTheSelectorAndReportsBecomeJobsOnlyFromNodesHoldingThem() throws Exception {
        node("cj-edge-a", Map.of("site", "alpha"));
        node("cj-edge-b", Map.of("site", "beta"));
        CronJobSpec.Builder spec = spec("*/5 * * * * *").setRunOnEdge(true).setSuccessfulJobsHistoryLimit(2);
        spec.getJobTemplateBuilder().getSpecBuilder().putNodeSelector("site", "alpha");
        CronJob cj = create("cj-edge", "site-backup", spec);
        String uid = cj.getMetadata().getUid();
        String key = "cj-edge/site-backup";
        CronJobController c = controller();
        TestApi.await("the cron job cached", WAIT, () -> caches.cronJobs().get(Keys.cronJob("cj-edge", "site-backup")) != null);
        reconcile(c, key);
        Assignment entry = store.get(EdgeCronJobTasks.key("cj-edge-a", "cj-edge", "site-backup"), Assignment.parser()).orElseThrow().value();
        assertEquals("cronjob.site-backup", entry.getReplica());
        assertEquals(uid, entry.getCronJob().getUid());
        assertEquals("*/5 * * * * *", entry.getCronJob().getSchedule());
        assertEquals(2, entry.getCronJob().getSuccessfulJobsHistoryLimit());
        assertEquals(1, entry.getCronJob().getFailedJobsHistoryLimit());
        assertEquals(6, entry.getCronJob().getBackoffLimit());
        assertEquals("work", entry.getCronJob().getTemplate().getContainers(0).getName());
        assertTrue(store.get(EdgeCronJobTasks.key("cj-edge-b", "cj-edge", "site-backup")).isEmpty());
        assertTrue(jobs("cj-edge", "site-backup").isEmpty(), "the control plane makes no Jobs for a run_on_edge CronJob");
        TestApi.await("the entry indexed", WAIT, () -> running.entry("cj-edge", "site-backup", "cj-edge-a").isPresent());
                assertEquals(List.of("cj-edge-a"), cronJobs.getCronJob(GetCronJobRequest.newBuilder().setNamespace("cj-edge")
                .setName("site-backup").build()).getStatus().getEdgeNodesList());

        // A node relabelled into the selector gets the entry; out of it, loses it.
        node("cj-edge-b", Map.of("site", "alpha"));
        reconcile(c, key);
        assertTrue(store.get(EdgeCronJobTasks.key("cj-edge-b", "cj-edge", "site-backup")).isPresent());
        node("cj-edge-b", Map.of("site", "beta"));
        reconcile(c, key);
        assertTrue(store.get(EdgeCronJobTasks.key("cj-edge-b", "cj-edge", "site-backup")).isEmpty());

        // Reports: a running run becomes an active Job, its success completes it; repeated, nothing is written.
        Instant slot = Instant.parse("2026-03-01T10:00:05Z");
        assertEquals(1, runs.apply("cj-edge-a", StatusReport.newBuilder().addCronJobRuns(run(uid, slot, ReplicaStatus.Phase.RUNNING)).build()));
        String name = CronJobNames.edgeJob("site-backup", "cj-edge-a", slot);
        assertEquals("site-backup-cj-edge-a-" + slot.getEpochSecond(), name);
        Job job = store.get(Keys.job("cj-edge", name), Job.parser()).orElseThrow().value();
        assertEquals("cj-edge-a", job.getSpec().getEdgeNode());
        assertEquals(1, job.getStatus().getActive());
        assertEquals("site-backup", job.getMetadata().getLabelsOrThrow(CronJobNames.CRON_JOB_LABEL));
        assertEquals(1, runs.apply("cj-edge-a", StatusReport.newBuilder().addCronJobRuns(run(uid, slot, ReplicaStatus.Phase.SUCCEEDED)).build()));
        job = store.get(Keys.job("cj-edge", name), Job.parser()).orElseThrow().value();
        assertTrue(CronJobJobs.condition(job, "Complete"));
        assertEquals(1, job.getStatus().getSucceeded());
        assertEquals(0, job.getStatus().getActive());
        assertEquals("cj-edge-a", job.getStatus().getPods(0).getNode());
        long revision = store.get(Keys.job("cj-edge", name)).orElseThrow().modRevision();
        assertEquals(0, runs.apply("cj-edge-a", StatusReport.newBuilder().addCronJobRuns(run(uid, slot, ReplicaStatus.Phase.SUCCEEDED)).build()));
        assertEquals(revision, store.get(Keys.job("cj-edge", name)).orElseThrow().modRevision(), "a repeated report writes nothing");

        // A node without the entry (or with a made-up uid) files nothing.
        Instant other = slot.plusSeconds(5);
        assertEquals(0, runs.apply("cj-edge-b", StatusReport.newBuilder().addCronJobRuns(run(uid, other, ReplicaStatus.Phase.SUCCEEDED)).build()));
        assertEquals(0, runs.apply("cj-edge-a", StatusReport.newBuilder().addCronJobRuns(run("not-its-uid", other, ReplicaStatus.Phase.SUCCEEDED)).build()));
        assertEquals(1, jobs("cj-edge", "site-backup").size());

        // History per node: 2 successful kept; a third and fourth prune the oldest; a re-reported pruned run is not filed again.
        for (int i = 1; i <= 3; i++) {
            runs.apply("cj-edge-a", StatusReport.newBuilder().addCronJobRuns(run(uid, slot.plusSeconds(5L * i), ReplicaStatus.Phase.SUCCEEDED)).build());
        }
        TestApi.await("the jobs cached", WAIT, () -> caches.jobs().list(Keys.JOBS + "cj-edge/").size() == 4);
        reconcile(c, key);
        assertEquals(2, jobs("cj-edge", "site-backup").size());
        TestApi.await("the pruning cached", WAIT, () -> caches.jobs().list(Keys.JOBS + "cj-edge/").size() == 2);
        assertEquals(0, runs.apply("cj-edge-a", StatusReport.newBuilder().addCronJobRuns(run(uid, slot, ReplicaStatus.Phase.SUCCEEDED)).build()),
                "an old run the history limit removed is not brought back");
        CronJob seen = cronJobs.getCronJob(GetCronJobRequest.newBuilder().setNamespace("cj-edge").setName("site-backup").build());
        assertEquals(slot.plusSeconds(15).getEpochSecond(), seen.getStatus().getLastScheduleTime().getSeconds());

        // Deleted: its entries and Jobs go.
        cronJobs.deleteCronJob(DeleteCronJobRequest.newBuilder().setNamespace("cj-edge").setName("site-backup").build());
        TestApi.await("the deletion cached", WAIT, () -> caches.cronJobs().get(Keys.cronJob("cj-edge", "site-backup")) == null);
        reconcile(c, key);
        assertTrue(store.get(EdgeCronJobTasks.key("cj-edge-a", "cj-edge", "site-backup")).isEmpty());
        assertTrue(jobs("cj-edge", "site-backup").isEmpty());
        c.stop();
    }
}
