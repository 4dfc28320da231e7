package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateJobRequest;
import dev.edgeplane.api.v1.DeleteJobRequest;
import dev.edgeplane.api.v1.GetJobRequest;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.JobCondition;
import dev.edgeplane.api.v1.JobPod;
import dev.edgeplane.api.v1.JobSpec;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.testkit.Commands;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Jobs on a real agent and containerd: 3 completions at parallelism 2 end Complete with exactly 3
 * successful pods (each ran once); a failing Job stops at its back-off limit with exactly
 * backoff_limit + 1 failed pods; `edgectl get jobs`, `describe job` and `logs job/NAME` show them.
 */
class JobE2ETest {
    static final Duration CONVERGE = EdgeCluster.CONVERGE;
    static final String NODE = "edge-jobs";

    @TempDir static Path dir;
    static EdgeCluster cluster;
    static ControlPlane cloud;

    @BeforeAll
    static void startEverything() throws Exception {
        // A short Job back-off so the failing Job's 3 attempts take seconds.
        cluster = EdgeCluster.start(dir, Map.of("EDGEPLANE_JOB_BACKOFF_BASE", "500ms"), EdgeCluster.FAST_AGENT, NODE);
        cloud = cluster.cloud;
    }

    @AfterAll
    static void stopEverything() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    static Job job(String name, int completions, int parallelism, int backoffLimit, String script) {
        return Job.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(JobSpec.newBuilder().setCompletions(completions).setParallelism(parallelism).setBackoffLimit(backoffLimit)
                        .setTemplate(PodTemplate.newBuilder().setRestartPolicy(PodTemplate.RestartPolicy.NEVER).setTerminationGraceSeconds(1)
                                .addContainers(Container.newBuilder().setName("main").setImage(cluster.image)
                                        .addAllCommand(List.of("sh", "-c", script)))))
                .build();
    }

    static Job get(String name) {
        return cloud.jobs().getJob(GetJobRequest.newBuilder().setNamespace("default").setName(name).build());
    }

    static boolean condition(Job job, String type, String reason) {
        for (JobCondition c : job.getStatus().getConditionsList()) {
            if (c.getType().equals(type) && c.getStatus() && c.getReason().equals(reason)) {
                return true;
            }
        }
        return false;
    }

    static String diagnostics(String name) {
        String status;
        try {
            status = get(name).getStatus().toString();
        } catch (RuntimeException e) {
            status = e.toString();
        }
        return status + "\n" + cluster.host.logTail();
    }

    @Test
    void threeCompletionsAtParallelismTwoEndCompleteWithExactlyThreeSuccesses() {
        long started = System.nanoTime();
        cloud.jobs().createJob(CreateJobRequest.newBuilder().setJob(job("count", 3, 2, 6, "echo done-$HOSTNAME; sleep 1; exit 0")).build());
        int[] maxActive = {0};
        Await.until("count Complete", CONVERGE, () -> diagnostics("count"), () -> {
            Job j = get("count");
            maxActive[0] = Math.max(maxActive[0], j.getStatus().getActive());
            return condition(j, "Complete", "");
        });
        double seconds = (System.nanoTime() - started) / 1e9;
        Job done = get("count");
        assertEquals(3, done.getStatus().getSucceeded(), done.getStatus().toString());
        assertEquals(0, done.getStatus().getFailed(), done.getStatus().toString());
        assertEquals(0, done.getStatus().getActive());
        assertTrue(maxActive[0] <= 2, "never more than parallelism active: " + maxActive[0]);
        Set<String> pods = done.getStatus().getPodsList().stream().map(JobPod::getName).collect(Collectors.toSet());
        assertEquals(3, pods.size(), done.getStatus().toString());
        assertTrue(done.getStatus().getPodsList().stream().allMatch(p -> p.getPhase() == ReplicaStatus.Phase.SUCCEEDED));
        // Each pod ran once: one container per pod in containerd, all exited, none restarted.
        for (String pod : pods) {
            assertEquals(1, cluster.cri.containers(Map.of("edgeplane.dev/replica", pod)).size(), pod);
        }
        System.out.printf("BENCH job_complete completions=3 parallelism=2 seconds=%.1f%n", seconds);

        // The agent killed and restarted: the finished pods are adopted, not run again, and their
        // statuses, reported again after the reconnect, are not counted again.
        cluster.host.kill9();
        cluster.host.start();
        cluster.awaitNodeReady();
        try {
            Thread.sleep(5_000); // several reconcile periods and the full status report after the reconnect
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (String pod : pods) {
            assertEquals(1, cluster.cri.containers(Map.of("edgeplane.dev/replica", pod)).size(), "not run again: " + pod);
            assertTrue(cluster.cri.running(Map.of("edgeplane.dev/replica", pod)).isEmpty(), pod);
        }
        Job after = get("count");
        assertEquals(3, after.getStatus().getSucceeded(), after.getStatus().toString());
        assertEquals(3, after.getStatus().getPodsCount());

        String table = edgectl("get", "jobs");
        assertTrue(table.lines().anyMatch(l -> l.contains("count") && l.contains("Complete") && l.contains("3/3")), table);
        String described = edgectl("describe", "job", "count");
        assertTrue(described.contains("Complete=True") && described.contains("3 succeeded"), described);
        String logs = edgectl("logs", "job/count");
        assertTrue(logs.contains("done-"), logs);

        cloud.jobs().deleteJob(DeleteJobRequest.newBuilder().setNamespace("default").setName("count").build());
        Await.until("count's containers removed", CONVERGE, () -> diagnostics("count"),
                () -> pods.stream().allMatch(p -> cluster.cri.containers(Map.of("edgeplane.dev/replica", p)).isEmpty()));
    }

    @Test
    void aFailingJobStopsAtItsBackoffLimitWithLimitPlusOneFailedPods() {
        cloud.jobs().createJob(CreateJobRequest.newBuilder().setJob(job("flaky", 1, 1, 2, "echo failing; exit 1")).build());
        Await.until("flaky Failed", CONVERGE, () -> diagnostics("flaky"), () -> condition(get("flaky"), "Failed", "BackoffLimitExceeded"));
        Job failed = get("flaky");
        assertEquals(3, failed.getStatus().getFailed(), failed.getStatus().toString());
        assertEquals(0, failed.getStatus().getSucceeded());
        List<JobPod> pods = new ArrayList<>(failed.getStatus().getPodsList());
        assertEquals(3, pods.size(), failed.getStatus().toString());
        assertTrue(pods.stream().allMatch(p -> p.getPhase() == ReplicaStatus.Phase.FAILED && p.getExitCode() == 1), pods.toString());
        // Nothing more is started after the Job failed.
        try {
            Thread.sleep(3_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        assertEquals(3, get("flaky").getStatus().getPodsCount());
        assertEquals(3, get("flaky").getStatus().getFailed());
        cloud.jobs().deleteJob(DeleteJobRequest.newBuilder().setNamespace("default").setName("flaky").build());
    }

    static String edgectl(String... args) {
        List<String> cmd = new ArrayList<>(Binaries.edgectl());
        cmd.addAll(List.of("--insecure", "--server", cloud.apiAddress(), "--token-file", cloud.adminTokenFile().toString()));
        cmd.addAll(List.of(args));
        Commands.Result r = Commands.exec(cmd, Map.of(), Duration.ofSeconds(120));
        assertEquals(0, r.exitCode(), String.join(" ", args) + ": " + r.output());
        return r.output();
    }
}
