package dev.edgeplane.controlplane.controllers.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.edgeplane.api.JobPods;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.JobSpec;
import dev.edgeplane.api.v1.JobStatus;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.scheduler.NodeIndex;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.Write;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The Job's decisions, pure: counting once, parallelism, back-off, deadline, suspend, ttl, unreachable nodes. */
class JobPlannerTest {
    private static final Instant NOW = Instant.parse("2026-12-05T12:00:00Z");
    private static final JobPlanner.Settings SETTINGS = new JobPlanner.Settings(Duration.ofSeconds(10), Duration.ofMinutes(6), 50);
    private static final String NS = "default";

    static Node node(String name, NodeStatus.Phase phase, Instant lastHeartbeat) {
        return Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setStatus(NodeStatus.newBuilder().setPhase(phase).setLastHeartbeat(Joiner.timestamp(lastHeartbeat))).build();
    }

    static JobSpec.Builder spec(int completions, int parallelism) {
        return JobSpec.newBuilder().setCompletions(completions).setParallelism(parallelism)
                .setTemplate(PodTemplate.newBuilder().setRestartPolicy(PodTemplate.RestartPolicy.NEVER)
                        .addContainers(Container.newBuilder().setName("main").setImage("busybox")));
    }

    static Entry<Job> job(JobSpec.Builder spec, JobStatus status) {
        Job job = Job.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace(NS).setName("pi").setGeneration(1))
                .setSpec(spec).setStatus(status).build();
        return new Entry<>(Keys.job(NS, "pi"), job, 100, 10);
    }

    static JobPlanner.Pod pod(String name, String node, ReplicaStatus.Phase phase, boolean counted, long revision) {
        Assignment a = Assignment.newBuilder().setNode(node).setNamespace(NS).setApp(JobPods.appOf("pi")).setReplica(name)
                .setJobPodCounted(counted).build();
        ReplicaStatus status = phase == null ? null : ReplicaStatus.newBuilder().setName(name).setNamespace(NS).setNode(node)
                .setApp(JobPods.appOf("pi")).setPhase(phase).setUpdateTime(Joiner.timestamp(NOW.minusSeconds(1))).build();
        return new JobPlanner.Pod(new Entry<>(Keys.assignment(node, NS, name), a, revision, revision), status);
    }

    static JobPlanner.Plan plan(Entry<Job> job, List<JobPlanner.Pod> pods, NodeIndex nodes, Instant now) {
        AtomicInteger n = new AtomicInteger();
        return JobPlanner.plan(new JobPlanner.Inputs(job, NS, "pi", pods, Set.of(), List.of(), nodes, Map.of(), now, SETTINGS,
                () -> "x" + "bcdfg".charAt(n.get() / 5 % 5) + "bcdfg".charAt(n.getAndIncrement() % 5) + "zz"));
    }

    static NodeIndex ready(String... names) {
        NodeIndex index = new NodeIndex();
        for (String name : names) {
            index.put(node(name, NodeStatus.Phase.READY, NOW));
        }
        return index;
    }

    static Job written(JobPlanner.Plan plan) {
        for (Write w : plan.writes()) {
            if (w.key().equals(Keys.job(NS, "pi")) && !w.isDelete()) {
                try {
                    return Job.parseFrom(w.value());
                } catch (InvalidProtocolBufferException e) {
                    throw new AssertionError(e);
                }
            }
        }
        return null;
    }

    static List<Assignment> created(JobPlanner.Plan plan) {
        List<Assignment> out = new ArrayList<>();
        for (int i = 0; i < plan.writes().size(); i++) {
            Write w = plan.writes().get(i);
            if (w.key().startsWith(Keys.ASSIGNMENTS) && !w.isDelete() && plan.guards().stream()
                    .anyMatch(g -> g.key().equals(w.key()) && g.modRevision() == 0)) {
                try {
                    out.add(Assignment.parseFrom(w.value()));
                } catch (InvalidProtocolBufferException e) {
                    throw new AssertionError(e);
                }
            }
        }
        return out;
    }

    static long deletes(JobPlanner.Plan plan) {
        return plan.writes().stream().filter(w -> w.isDelete() && w.key().startsWith(Keys.ASSIGNMENTS)).count();
    }

    @Test
    void startsParallelismPodsWithTheTemplateStoredOnceAndTheJobsAppName() {
        JobPlanner.Plan plan = plan(job(spec(3, 2), JobStatus.getDefaultInstance()), List.of(), ready("a", "b"), NOW);
        List<Assignment> pods = created(plan);
        assertEquals(2, pods.size());
        assertTrue(pods.stream().allMatch(a -> a.getApp().equals("job.pi") && a.getReplica().startsWith("pi-")));
        assertTrue(plan.writes().get(0).key().startsWith(Keys.templatesOf(NS, "job.pi")), "the template first, in the same plan");
        Job job = written(plan);
        assertEquals(2, job.getStatus().getActive());
        assertTrue(job.getStatus().hasStartTime());
        assertEquals(2, plan.events().stream().filter(e -> e.reason().equals("SuccessfulCreate")).count());
        assertTrue(plan.guards().contains(new JobPlanner.Guard(Keys.job(NS, "pi"), 100)), "guarded on the Job's revision");
    }

    @Test
    void neverRunsMoreThanTheCompletionsLeft() {
        JobStatus status = JobStatus.newBuilder().setSucceeded(2).setActive(0).setStartTime(Joiner.timestamp(NOW)).build();
        JobPlanner.Plan plan = plan(job(spec(3, 2), status), List.of(), ready("a"), NOW);
        assertEquals(1, created(plan).size());
    }

    @Test
    void countsAnEndedPodOnceMarkingItsAssignmentInTheSamePlan() {
        JobStatus status = JobStatus.newBuilder().setActive(2).setStartTime(Joiner.timestamp(NOW)).build();
        List<JobPlanner.Pod> pods = List.of(pod("pi-a", "a", ReplicaStatus.Phase.SUCCEEDED, false, 50),
                pod("pi-b", "a", ReplicaStatus.Phase.RUNNING, false, 51));
        JobPlanner.Plan plan = plan(job(spec(3, 2), status), pods, ready("a"), NOW);
        Job job = written(plan);
        assertEquals(1, job.getStatus().getSucceeded());
        Write mark = plan.writes().stream().filter(w -> w.key().equals(Keys.assignment("a", NS, "pi-a"))).findFirst().orElseThrow();
        assertFalse(mark.isDelete(), "kept for its logs");
        assertTrue(plan.guards().contains(new JobPlanner.Guard(Keys.assignment("a", NS, "pi-a"), 50)));
        assertEquals(1, created(plan).size(), "a replacement: 2 active, 1 succeeded of 3");

        // The same report again, after the mark landed: nothing counted twice.
        JobPlanner.Plan again = plan(new Entry<>(Keys.job(NS, "pi"), job, 200, 10),
                List.of(pod("pi-a", "a", ReplicaStatus.Phase.SUCCEEDED, true, 150), pod("pi-b", "a", ReplicaStatus.Phase.RUNNING, false, 51),
                        pod("pi-c", "a", ReplicaStatus.Phase.PENDING, false, 151)), ready("a"), NOW);
        Job after = written(again);
        assertEquals(1, (after == null ? job : after).getStatus().getSucceeded());
        assertTrue(created(again).isEmpty());
    }

    @Test
    void completesWhenTheSucceededReachCompletions() {
        JobStatus status = JobStatus.newBuilder().setSucceeded(2).setActive(1).setStartTime(Joiner.timestamp(NOW)).build();
        JobPlanner.Plan plan = plan(job(spec(3, 2), status), List.of(pod("pi-c", "a", ReplicaStatus.Phase.SUCCEEDED, false, 60)),
                ready("a"), NOW);
        Job job = written(plan);
        assertEquals(3, job.getStatus().getSucceeded());
        assertTrue(JobPlanner.condition(job.getStatus(), "Complete").orElseThrow().getStatus());
        assertTrue(job.getStatus().hasCompletionTime());
        assertEquals(0, job.getStatus().getActive());
        assertTrue(created(plan).isEmpty());
        assertTrue(plan.events().stream().anyMatch(e -> e.reason().equals("Completed")));
    }

    @Test
    void failsWithBackoffLimitExceededPastTheLimit() {
        JobStatus status = JobStatus.newBuilder().setFailed(2).setActive(1).setStartTime(Joiner.timestamp(NOW)).build();
        JobPlanner.Plan plan = plan(job(spec(1, 1).setBackoffLimit(2), status),
                List.of(pod("pi-c", "a", ReplicaStatus.Phase.FAILED, false, 60)), ready("a"), NOW);
        Job job = written(plan);
        assertEquals(3, job.getStatus().getFailed(), "backoff_limit + 1 failed pods");
        assertEquals("BackoffLimitExceeded", JobPlanner.condition(job.getStatus(), "Failed").orElseThrow().getReason());
        assertTrue(created(plan).isEmpty());
    }

    @Test
    void onFailureRestartsCountTowardTheBackoffLimit() {
        JobSpec.Builder spec = spec(1, 1).setBackoffLimit(2);
        spec.getTemplateBuilder().setRestartPolicy(PodTemplate.RestartPolicy.ON_FAILURE);
        JobPlanner.Pod restarting = pod("pi-a", "a", ReplicaStatus.Phase.RUNNING, false, 60);
        restarting = new JobPlanner.Pod(restarting.assignment(), restarting.status().toBuilder().setRestartCount(3).build());
        JobPlanner.Plan plan = plan(job(spec, JobStatus.newBuilder().setActive(1).setStartTime(Joiner.timestamp(NOW)).build()),
                List.of(restarting), ready("a"), NOW);
        Job job = written(plan);
        assertEquals("BackoffLimitExceeded", JobPlanner.condition(job.getStatus(), "Failed").orElseThrow().getReason());
        assertEquals(1, deletes(plan), "the restarting pod is stopped");
    }

    @Test
    void waitsOutTheBackOffBeforeReplacingAFailedPod() {
        JobStatus status = JobStatus.newBuilder().setActive(1).setStartTime(Joiner.timestamp(NOW)).build();
        JobPlanner.Plan plan = plan(job(spec(1, 1), status), List.of(pod("pi-a", "a", ReplicaStatus.Phase.FAILED, false, 60)),
                ready("a"), NOW);
        assertEquals(1, written(plan).getStatus().getFailed());
        assertTrue(created(plan).isEmpty(), "10 s back-off after the first failure");
        assertEquals(Duration.ofSeconds(9), plan.recheckAfter().orElseThrow(), "failed 1 s before NOW");
        assertEquals(Duration.ofSeconds(40), JobPlanner.backoff(3, SETTINGS));
        assertEquals(Duration.ofMinutes(6), JobPlanner.backoff(30, SETTINGS));
    }

    @Test
    void deadlineExceededStopsTheActivePods() {
        JobStatus status = JobStatus.newBuilder().setActive(1).setStartTime(Joiner.timestamp(NOW.minusSeconds(31))).build();
        JobPlanner.Plan plan = plan(job(spec(2, 1).setActiveDeadlineSeconds(30), status),
                List.of(pod("pi-a", "a", ReplicaStatus.Phase.RUNNING, false, 60)), ready("a"), NOW);
        Job job = written(plan);
        assertEquals("DeadlineExceeded", JobPlanner.condition(job.getStatus(), "Failed").orElseThrow().getReason());
        assertEquals(1, deletes(plan));
        assertEquals(0, job.getStatus().getActive());
    }

    @Test
    void beforeItsDeadlineAJobComesBackWhenItFallsDue() {
        JobStatus status = JobStatus.newBuilder().setActive(1).setStartTime(Joiner.timestamp(NOW.minusSeconds(10))).build();
        JobPlanner.Plan plan = plan(job(spec(2, 1).setActiveDeadlineSeconds(30), status),
                List.of(pod("pi-a", "a", ReplicaStatus.Phase.RUNNING, false, 60)), ready("a"), NOW);
        assertEquals(Duration.ofSeconds(20), plan.recheckAfter().orElseThrow());
    }

    @Test
    void suspendStopsTheActivePodsAndResumeStartsThemAgain() {
        JobStatus status = JobStatus.newBuilder().setActive(1).setStartTime(Joiner.timestamp(NOW)).build();
        JobPlanner.Plan plan = plan(job(spec(2, 1).setSuspend(true), status),
                List.of(pod("pi-a", "a", ReplicaStatus.Phase.RUNNING, false, 60)), ready("a"), NOW);
        Job job = written(plan);
        assertTrue(JobPlanner.condition(job.getStatus(), "Suspended").orElseThrow().getStatus());
        assertEquals(1, deletes(plan));
        JobPlanner.Plan resumed = plan(new Entry<>(Keys.job(NS, "pi"), job.toBuilder().setSpec(spec(2, 1)).build(), 200, 10), List.of(),
                ready("a"), NOW);
        assertFalse(JobPlanner.condition(written(resumed).getStatus(), "Suspended").orElseThrow().getStatus());
        assertEquals(1, created(resumed).size());
    }

    @Test
    void ttlDeletesTheFinishedJobWhenDueAndComesBackBefore() {
        JobStatus status = JobStatus.newBuilder().setSucceeded(1).setCompletionTime(Joiner.timestamp(NOW.minusSeconds(5)))
                .addConditions(dev.edgeplane.api.v1.JobCondition.newBuilder().setType("Complete").setStatus(true)).build();
        JobPlanner.Plan early = plan(job(spec(1, 1).setTtlSecondsAfterFinished(60), status), List.of(), ready("a"), NOW);
        assertFalse(early.deleteJob());
        assertEquals(Duration.ofSeconds(55), early.recheckAfter().orElseThrow());
        JobPlanner.Plan due = plan(job(spec(1, 1).setTtlSecondsAfterFinished(60), status), List.of(), ready("a"), NOW.plusSeconds(55));
        assertTrue(due.deleteJob());
        assertEquals(List.of(Write.delete(Keys.job(NS, "pi"))).get(0).key(), due.writes().get(0).key());
        assertTrue(due.writes().get(0).isDelete());
    }

    @Test
    void aPodOnAnUnreachableNodeIsWaitedForWithoutAToleration() {
        NodeIndex nodes = new NodeIndex();
        nodes.put(node("a", NodeStatus.Phase.UNREACHABLE, NOW.minusSeconds(3600)));
        nodes.put(node("b", NodeStatus.Phase.READY, NOW));
        JobStatus status = JobStatus.newBuilder().setActive(1).setStartTime(Joiner.timestamp(NOW)).build();
        JobPlanner.Plan plan = plan(job(spec(1, 1), status), List.of(pod("pi-a", "a", ReplicaStatus.Phase.RUNNING, false, 60)), nodes, NOW);
        assertEquals(0, deletes(plan));
        assertTrue(created(plan).isEmpty(), "nothing duplicate is started");
    }

    @Test
    void aPodOnAnUnreachableNodeIsGivenUpAfterRescheduleAfterUnreachableAndReplaced() {
        NodeIndex nodes = new NodeIndex();
        nodes.put(node("a", NodeStatus.Phase.UNREACHABLE, NOW.minusSeconds(60)));
        nodes.put(node("b", NodeStatus.Phase.READY, NOW));
        JobSpec.Builder spec = spec(1, 1).setRescheduleAfterUnreachable(com.google.protobuf.Duration.newBuilder().setSeconds(30));
        JobStatus status = JobStatus.newBuilder().setActive(1).setStartTime(Joiner.timestamp(NOW)).build();
        JobPlanner.Plan plan = plan(job(spec, status), List.of(pod("pi-a", "a", ReplicaStatus.Phase.RUNNING, false, 60)), nodes, NOW);
        assertEquals(1, deletes(plan), "given up");
        List<Assignment> replacement = created(plan);
        assertEquals(1, replacement.size());
        assertEquals("b", replacement.get(0).getNode());
        Job job = written(plan);
        assertEquals(0, job.getStatus().getFailed(), "a given-up pod is not counted");

        JobPlanner.Plan before = plan(job(spec, status), List.of(pod("pi-a", "a", ReplicaStatus.Phase.RUNNING, false, 60)), nodes,
                NOW.minusSeconds(40));
        assertEquals(0, deletes(before));
        assertEquals(Duration.ofSeconds(10), before.recheckAfter().orElseThrow(), "back when the toleration runs out");
    }

    @Test
    void aGoneJobRemovesItsPodsAndThenItsTemplates() {
        JobPlanner.Plan plan = JobPlanner.plan(new JobPlanner.Inputs(null, NS, "pi",
                List.of(pod("pi-a", "a", ReplicaStatus.Phase.SUCCEEDED, true, 60)), Set.of("sha256:00"), List.of(), ready("a"),
                Map.of(), NOW, SETTINGS, () -> "bbbbb"));
        assertEquals(1, deletes(plan));
        assertTrue(plan.writes().stream().anyMatch(w -> w.isDelete() && w.key().equals(Keys.template(NS, "job.pi", "sha256:00"))));
    }

    @Test
    void theShownPodsAreBoundedAndACountedPodFallingOutLeavesItsNode() {
        JobStatus.Builder status = JobStatus.newBuilder().setSucceeded(100).setStartTime(Joiner.timestamp(NOW));
        List<JobPlanner.Pod> pods = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            String name = "pi-" + i + "x";
            status.addPods(dev.edgeplane.api.v1.JobPod.newBuilder().setName(name).setNode("a").setPhase(ReplicaStatus.Phase.SUCCEEDED));
            pods.add(pod(name, "a", ReplicaStatus.Phase.SUCCEEDED, true, 10 + i));
        }
        JobPlanner.Plan plan = plan(job(spec(200, 1), status.build()), pods, ready("a"), NOW);
        Job job = written(plan);
        assertEquals(JobPlanner.MAX_SHOWN_PODS, job.getStatus().getPodsCount());
        assertEquals(1, deletes(plan), "the oldest counted pod leaves its node");
        assertTrue(plan.writes().stream().anyMatch(w -> w.isDelete() && w.key().equals(Keys.assignment("a", NS, "pi-0x"))));
    }

    @Test
    void podNameSuffixesAreKubernetesCharactersWithALetter() {
        java.util.Random random = new java.util.Random(1);
        for (int i = 0; i < 1000; i++) {
            String s = JobPlanner.suffix(random);
            assertEquals(5, s.length());
            assertTrue(s.chars().anyMatch(Character::isLetter), s);
            assertTrue(s.chars().allMatch(c -> JobPlanner.SUFFIX_ALPHABET.indexOf(c) >= 0), s);
        }
    }
}
