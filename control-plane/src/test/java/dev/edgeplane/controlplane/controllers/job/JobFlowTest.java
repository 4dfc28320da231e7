package dev.edgeplane.controlplane.controllers.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateJobRequest;
import dev.edgeplane.api.v1.DeleteJobRequest;
import dev.edgeplane.api.v1.GetJobRequest;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.JobServiceGrpc;
import dev.edgeplane.api.v1.JobSpec;
import dev.edgeplane.api.v1.ListJobsRequest;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.UpdateJobRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Jobs through the API and the JobController against a real etcd, the agents simulated by writing
 * their replica statuses: validation and immutability; 3 completions at parallelism 2 end with
 * exactly 3 successes although a SUCCEEDED status is reported twice and the controller restarts in
 * between; the back-off limit; the deadline; suspend; ttl; an unreachable node's pod waited for, or
 * given up after reschedule_after_unreachable.
 */
@QuarkusTest
@TestProfile(JobFlowTest.FastBackoff.class)
@QuarkusTestResource(EtcdTestResource.class)
class JobFlowTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    /** Back-off in milliseconds, so failures are replaced at once; nodes without agents stay as written. */
    public static class FastBackoff implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("edgeplane.job.backoff-base", "50ms", "edgeplane.node.unreachable-after", "1h");
        }
    }

    @Inject
    EtcdStore store;
    @Inject
    StateCaches caches;
    @Inject
    LeaderLock leader;
    @Inject
    JobController controller;
    private TestApi api;
    private JobServiceGrpc.JobServiceBlockingStub jobs;

    @BeforeEach
    void connect() {
        api = new TestApi();
        jobs = api.withToken(JobServiceGrpc.newBlockingStub(api.channel), api.adminToken);
        TestApi.await("leadership", WAIT, () -> leader.isLeader());
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    private void node(String name, String pool, NodeStatus.Phase phase, Instant heartbeat) {
        store.put(Keys.node(name), Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).putLabels("pool", pool))
                .setStatus(NodeStatus.newBuilder().setPhase(phase).setLastHeartbeat(Joiner.timestamp(heartbeat))).build().toByteArray());
    }

    private static JobSpec.Builder spec(String pool, int completions, int parallelism) {
        return JobSpec.newBuilder().setCompletions(completions).setParallelism(parallelism).putNodeSelector("pool", pool)
                .setTemplate(PodTemplate.newBuilder().setRestartPolicy(PodTemplate.RestartPolicy.NEVER)
                        .addContainers(Container.newBuilder().setName("main").setImage("busybox:1").addCommand("true")));
    }

    private Job create(String name, JobSpec.Builder spec) {
        return jobs.createJob(CreateJobRequest.newBuilder().setJob(Job.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName(name).putLabels("suite", "jobflow")).setSpec(spec)).build());
    }

    private Job get(String name) {
        return jobs.getJob(GetJobRequest.newBuilder().setNamespace("default").setName(name).build());
    }

    private List<Entry<Assignment>> pods(String job) {
        return caches.assignments().all().stream().filter(e -> e.value().getApp().equals("job." + job)).toList();
    }

    private List<Entry<Assignment>> active(String job) {
        return pods(job).stream().filter(e -> !e.value().getJobPodCounted()).toList();
    }

    /** What the pod's agent reports (the replica-status path writes exactly this after stamping node and app). */
    private void report(Assignment pod, ReplicaStatus.Phase phase, int exitCode) {
        store.put(Keys.replicaStatus(pod.getNamespace(), pod.getReplica()), ReplicaStatus.newBuilder().setName(pod.getReplica())
                .setNamespace(pod.getNamespace()).setApp(pod.getApp()).setNode(pod.getNode()).setPhase(phase).setLastExitCode(exitCode)
                .setUpdateTime(Joiner.timestamp(Instant.now())).build().toByteArray());
    }

    private static boolean condition(Job job, String type, String reason) {
        return JobPlanner.condition(job.getStatus(), type).map(c -> c.getStatus() && c.getReason().equals(reason)).orElse(false);
    }

    private static StatusRuntimeException refused(Status.Code code, Runnable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        return e;
    }

    @Test
    void theApiValidatesNamesTheFieldAndKeepsTheTemplateImmutable() {
        JobSpec.Builder always = spec("api", 1, 1);
        always.getTemplateBuilder().setRestartPolicy(PodTemplate.RestartPolicy.ALWAYS);
        assertTrue(refused(Status.Code.INVALID_ARGUMENT, () -> create("bad", always)).getStatus().getDescription()
                .contains("spec.template.restart_policy"));
        assertTrue(refused(Status.Code.INVALID_ARGUMENT, () -> create("bad", spec("api", 0, 1))).getStatus().getDescription()
                .contains("job.spec.completions"));
        assertTrue(refused(Status.Code.INVALID_ARGUMENT, () -> create("bad", spec("api", 1, -1))).getStatus().getDescription()
                .contains("job.spec.parallelism"));
        assertTrue(refused(Status.Code.INVALID_ARGUMENT, () -> create("bad", spec("api", 1, 1).setBackoffLimit(10_001)))
                .getStatus().getDescription().contains("job.spec.backoff_limit"));
        assertTrue(refused(Status.Code.INVALID_ARGUMENT, () -> create("bad", spec("api", 1, 1).setActiveDeadlineSeconds(0)))
                .getStatus().getDescription().contains("job.spec.active_deadline_seconds"));
        JobSpec.Builder noContainers = spec("api", 1, 1);
        noContainers.getTemplateBuilder().clearContainers();
        assertTrue(refused(Status.Code.INVALID_ARGUMENT, () -> create("bad", noContainers)).getStatus().getDescription()
                .contains("job.spec.template.containers"));

        Job created = create("api-ok", spec("api", 2, 0)); // parallelism 0: created suspended, no node needed
        assertEquals(1, created.getMetadata().getGeneration());
        assertFalse(created.getMetadata().getUid().isEmpty());
        refused(Status.Code.ABORTED, () -> create("api-ok", spec("api", 2, 0)));
        TestApi.await("Suspended (parallelism 0)", WAIT, () -> condition(get("api-ok"), "Suspended", "JobSuspended"));
        Job current = get("api-ok"); // the controller wrote its status: a new resource_version
        JobSpec.Builder changedTemplate = spec("api", 2, 0);
        changedTemplate.getTemplateBuilder().getContainersBuilder(0).setImage("busybox:2");
        assertTrue(refused(Status.Code.INVALID_ARGUMENT, () -> jobs.updateJob(UpdateJobRequest.newBuilder()
                .setJob(current.toBuilder().setSpec(changedTemplate)).build())).getStatus().getDescription().contains("job.spec.template"));
        assertTrue(refused(Status.Code.INVALID_ARGUMENT, () -> jobs.updateJob(UpdateJobRequest.newBuilder()
                .setJob(current.toBuilder().setSpec(spec("api", 3, 0))).build())).getStatus().getDescription().contains("job.spec.completions"));
        Job updated = jobs.updateJob(UpdateJobRequest.newBuilder().setJob(current.toBuilder()
                .setSpec(spec("api", 2, 0).setSuspend(true).setTtlSecondsAfterFinished(600))).build());
        assertEquals(2, updated.getMetadata().getGeneration());
        refused(Status.Code.ABORTED, () -> jobs.updateJob(UpdateJobRequest.newBuilder().setJob(created).build())); // stale version
        assertEquals(1, jobs.listJobs(ListJobsRequest.newBuilder().setNamespace("default").setLabelSelector("suite=jobflow")
                .build()).getJobsList().stream().filter(j -> j.getMetadata().getName().equals("api-ok")).count());
        jobs.deleteJob(DeleteJobRequest.newBuilder().setNamespace("default").setName("api-ok").build());
        refused(Status.Code.NOT_FOUND, () -> get("api-ok"));
    }

    @Test
    void threeCompletionsAtParallelismTwoCountExactlyThreeSuccessesAcrossDuplicatesAndARestart() throws Exception {
        node("c1", "count", NodeStatus.Phase.READY, Instant.now());
        node("c2", "count", NodeStatus.Phase.READY, Instant.now());
        create("count", spec("count", 3, 2));
        TestApi.await("2 pods", WAIT, () -> active("count").size() == 2);
        Set<String> seen = new HashSet<>();
        pods("count").forEach(e -> seen.add(e.value().getReplica()));

        Assignment first = active("count").get(0).value();
        report(first, ReplicaStatus.Phase.SUCCEEDED, 0);
        TestApi.await("1 succeeded", WAIT, () -> get("count").getStatus().getSucceeded() == 1);
        // The same SUCCEEDED again (an agent restart re-reports it), and the controller restarts.
        report(first, ReplicaStatus.Phase.SUCCEEDED, 0);
        controller.stop();
        report(first, ReplicaStatus.Phase.SUCCEEDED, 0);
        controller.start();
        TestApi.await("a replacement", WAIT, () -> active("count").size() == 2);
        for (int round = 0; round < 3 && get("count").getStatus().getSucceeded() < 3; round++) {
            for (Entry<Assignment> e : active("count")) {
                seen.add(e.value().getReplica());
                report(e.value(), ReplicaStatus.Phase.SUCCEEDED, 0);
                report(e.value(), ReplicaStatus.Phase.SUCCEEDED, 0);
            }
            TestApi.await("counted", WAIT, () -> active("count").stream().allMatch(e -> e.value().getJobPodCounted())
                    || get("count").getStatus().getSucceeded() >= 3);
        }
        TestApi.await("Complete", WAIT, () -> condition(get("count"), "Complete", ""));
        report(first, ReplicaStatus.Phase.SUCCEEDED, 0);
        Thread.sleep(300);
        Job done = get("count");
        assertEquals(3, done.getStatus().getSucceeded(), done.getStatus().toString());
        assertEquals(0, done.getStatus().getFailed());
        assertEquals(0, done.getStatus().getActive());
        assertTrue(done.getStatus().hasCompletionTime());
        assertEquals(3, seen.size(), "exactly 3 pods were ever started: " + seen);
        assertEquals(3, pods("count").size(), "the finished pods stay (their logs) until the Job is deleted");
        jobs.deleteJob(DeleteJobRequest.newBuilder().setNamespace("default").setName("count").build());
        TestApi.await("its pods and template gone", WAIT, () -> pods("count").isEmpty()
                && caches.templates().list(Keys.templatesOf("default", "job.count")).isEmpty());
    }

    /**
     * 200 completions at parallelism 50 over 5 nodes, each pod reported SUCCEEDED as soon as it is seen
     * (some twice): exactly 200 counted, never more than 50 active, status.pods and the kept
     * assignments bounded at 100. Prints the time to Complete and the Job's writes.
     */
    @Test
    void aLargeJobCountsExactlyItsCompletionsWithBoundedPodsAndStatus() {
        for (int i = 0; i < 5; i++) {
            node("big" + i, "big", NodeStatus.Phase.READY, Instant.now());
        }
        long started = System.nanoTime();
        create("big", spec("big", 200, 50));
        Set<String> reported = new HashSet<>();
        int[] maxActive = {0};
        TestApi.await("big Complete", Duration.ofSeconds(120), () -> {
            List<Entry<Assignment>> active = active("big");
            maxActive[0] = Math.max(maxActive[0], active.size());
            for (Entry<Assignment> e : active) {
                if (reported.add(e.value().getReplica())) {
                    report(e.value(), ReplicaStatus.Phase.SUCCEEDED, 0);
                    if (reported.size() % 7 == 0) {
                        report(e.value(), ReplicaStatus.Phase.SUCCEEDED, 0); // a duplicate
                    }
                }
            }
            return condition(get("big"), "Complete", "");
        });
        double seconds = (System.nanoTime() - started) / 1e9;
        Job done = get("big");
        assertEquals(200, done.getStatus().getSucceeded(), done.getStatus().toString());
        assertEquals(200, reported.size(), "each pod started once");
        assertTrue(maxActive[0] <= 50, "at most parallelism active: " + maxActive[0]);
        assertEquals(JobPlanner.MAX_SHOWN_PODS, done.getStatus().getPodsCount());
        TestApi.await("kept pods bounded", WAIT, () -> pods("big").size() <= JobPlanner.MAX_SHOWN_PODS);
        long jobWrites = store.await(api.etcd.getKVClient().get(EtcdStore.bytes(Keys.job("default", "big"))), "get").getKvs()
                .get(0).getVersion(); // the create, then one per reconcile that changed the status
        System.out.printf("BENCH job_controller completions=200 parallelism=50 nodes=5 seconds=%.2f job_key_writes=%d%n",
                seconds, jobWrites);
        jobs.deleteJob(DeleteJobRequest.newBuilder().setNamespace("default").setName("big").build());
        TestApi.await("big's pods gone", WAIT, () -> pods("big").isEmpty());
    }

    /** A running Job reserves min(parallelism, completions) pods against the Quota, shared with Apps; suspending frees them. */
    @Test
    void aRunningJobsPodsCountAgainstTheNamespaceQuota() {
        String ns = "jobquota";
        var quotas = api.withToken(dev.edgeplane.api.v1.QuotaServiceGrpc.newBlockingStub(api.channel), api.adminToken);
        quotas.createQuota(dev.edgeplane.api.v1.CreateQuotaRequest.newBuilder().setQuota(dev.edgeplane.api.v1.Quota.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName("small"))
                .setSpec(dev.edgeplane.api.v1.QuotaSpec.newBuilder().setHard(dev.edgeplane.api.v1.QuotaAmounts.newBuilder().setReplicas(3))))
                .build());
        java.util.function.BiFunction<String, Integer, CreateJobRequest> job = (name, parallelism) -> CreateJobRequest.newBuilder()
                .setJob(Job.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName(name))
                        .setSpec(spec("none", 5, parallelism))).build();
        Job first = jobs.createJob(job.apply("first", 2));
        StatusRuntimeException over = refused(Status.Code.RESOURCE_EXHAUSTED, () -> jobs.createJob(job.apply("second", 2)));
        assertTrue(over.getStatus().getDescription().contains("quota " + ns + "/small"), over.getStatus().toString());
        // Apps see the Job's pods too.
        var apps = api.withToken(dev.edgeplane.api.v1.AppServiceGrpc.newBlockingStub(api.channel), api.adminToken);
        refused(Status.Code.RESOURCE_EXHAUSTED, () -> apps.createApp(dev.edgeplane.api.v1.CreateAppRequest.newBuilder()
                .setApp(dev.edgeplane.api.v1.App.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName("web"))
                        .setSpec(dev.edgeplane.api.v1.AppSpec.newBuilder().setReplicas(2).setTemplate(spec("none", 1, 1).getTemplate()
                                .toBuilder().setRestartPolicy(PodTemplate.RestartPolicy.ALWAYS)))).build()));
        // Suspended, it reserves nothing.
        Job current = jobs.getJob(GetJobRequest.newBuilder().setNamespace(ns).setName("first").build());
        jobs.updateJob(UpdateJobRequest.newBuilder().setJob(current.toBuilder().setMetadata(current.getMetadata().toBuilder().setResourceVersion(0))
                .setSpec(first.getSpec().toBuilder().setSuspend(true))).build());
        jobs.createJob(job.apply("second", 2));
        jobs.deleteJob(DeleteJobRequest.newBuilder().setNamespace(ns).setName("first").build());
        jobs.deleteJob(DeleteJobRequest.newBuilder().setNamespace(ns).setName("second").build());
    }

    @Test
    void failingPodsStopAtTheBackoffLimitWithExactlyLimitPlusOneFailures() {
        node("f1", "fail", NodeStatus.Phase.READY, Instant.now());
        create("fails", spec("fail", 1, 1).setBackoffLimit(2));
        Set<String> failed = new HashSet<>();
        TestApi.await("Failed", WAIT, () -> {
            for (Entry<Assignment> e : active("fails")) {
                if (failed.add(e.value().getReplica())) {
                    report(e.value(), ReplicaStatus.Phase.FAILED, 1);
                }
            }
            return condition(get("fails"), "Failed", "BackoffLimitExceeded");
        });
        Job job = get("fails");
        assertEquals(3, job.getStatus().getFailed());
        assertEquals(3, failed.size());
        assertEquals(0, active("fails").size());
    }

    @Test
    void aJobPastItsDeadlineFailsAndItsPodsStop() {
        node("d1", "deadline", NodeStatus.Phase.READY, Instant.now());
        create("late", spec("deadline", 1, 1).setActiveDeadlineSeconds(1));
        TestApi.await("DeadlineExceeded", WAIT, () -> condition(get("late"), "Failed", "DeadlineExceeded"));
        TestApi.await("no pods", WAIT, () -> pods("late").isEmpty());
    }

    @Test
    void aSuspendedJobRunsNothingUntilResumed() {
        node("s1", "suspend", NodeStatus.Phase.READY, Instant.now());
        Job created = create("paused", spec("suspend", 1, 1).setSuspend(true));
        TestApi.await("Suspended", WAIT, () -> condition(get("paused"), "Suspended", "JobSuspended"));
        assertTrue(pods("paused").isEmpty());
        jobs.updateJob(UpdateJobRequest.newBuilder().setJob(get("paused").toBuilder().setSpec(created.getSpec().toBuilder().setSuspend(false))).build());
        TestApi.await("a pod", WAIT, () -> active("paused").size() == 1);
        Job again = get("paused");
        jobs.updateJob(UpdateJobRequest.newBuilder().setJob(again.toBuilder().setSpec(again.getSpec().toBuilder().setSuspend(true))).build());
        TestApi.await("stopped", WAIT, () -> pods("paused").isEmpty() && condition(get("paused"), "Suspended", "JobSuspended"));
    }

    @Test
    void aFinishedJobWithTtlIsDeletedWithItsPods() {
        node("t1", "ttl", NodeStatus.Phase.READY, Instant.now());
        create("brief", spec("ttl", 1, 1).setTtlSecondsAfterFinished(1));
        TestApi.await("a pod", WAIT, () -> active("brief").size() == 1);
        report(active("brief").get(0).value(), ReplicaStatus.Phase.SUCCEEDED, 0);
        TestApi.await("deleted", WAIT, () -> caches.jobs().get(Keys.job("default", "brief")) == null && pods("brief").isEmpty());
    }

    @Test
    void aPodOnAnUnreachableNodeIsWaitedForUnlessRescheduleAfterUnreachableRunsOut() throws Exception {
        node("u1", "unreach", NodeStatus.Phase.READY, Instant.now());
        create("patient", spec("unreach", 1, 1));
        create("impatient", spec("unreach", 1, 1).setRescheduleAfterUnreachable(com.google.protobuf.Duration.newBuilder().setSeconds(1)));
        TestApi.await("pods on u1", WAIT, () -> active("patient").size() == 1 && active("impatient").size() == 1);
        Assignment patientPod = active("patient").get(0).value();
        Assignment impatientPod = active("impatient").get(0).value();
        node("u1", "unreach", NodeStatus.Phase.UNREACHABLE, Instant.now());
        node("u2", "unreach", NodeStatus.Phase.READY, Instant.now());
        TestApi.await("impatient replaced on u2", WAIT, () -> active("impatient").size() == 1
                && active("impatient").get(0).value().getNode().equals("u2"));
        // The given-up pod's late report is not counted.
        report(impatientPod, ReplicaStatus.Phase.SUCCEEDED, 0);
        Thread.sleep(500);
        assertEquals(0, get("impatient").getStatus().getSucceeded());
        List<Entry<Assignment>> patient = active("patient");
        assertEquals(1, patient.size(), "nothing duplicate started for the patient Job");
        assertEquals(patientPod.getReplica(), patient.get(0).value().getReplica());
        // The node comes back and reports the pod finished offline: counted once.
        node("u1", "unreach", NodeStatus.Phase.READY, Instant.now());
        report(patientPod, ReplicaStatus.Phase.SUCCEEDED, 0);
        TestApi.await("patient Complete", WAIT, () -> condition(get("patient"), "Complete", ""));
        assertEquals(1, get("patient").getStatus().getSucceeded());
    }
}
