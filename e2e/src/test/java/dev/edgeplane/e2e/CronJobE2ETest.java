package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.CronJobNames;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateCronJobRequest;
import dev.edgeplane.api.v1.CronJob;
import dev.edgeplane.api.v1.CronJobRunReport;
import dev.edgeplane.api.v1.CronJobSpec;
import dev.edgeplane.api.v1.EdgeCronJobLedger;
import dev.edgeplane.api.v1.EdgeCronJobRun;
import dev.edgeplane.api.v1.GetCronJobRequest;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.JobSpec;
import dev.edgeplane.api.v1.JobTemplate;
import dev.edgeplane.api.v1.ListJobsRequest;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.UpdateCronJobRequest;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CronJobs through the whole platform. A run_on_edge CronJob ("*&#47;5 * * * * *": the optional
 * seconds field, a real schedule, just a fast one) fires on the node while the control plane is
 * stopped, and its runs appear as Jobs (spec.edge_node) after it returns, each once. A cloud CronJob
 * whose Job sleeps longer than its period runs with Forbid: never two Jobs active, slots skipped
 * (this one needs the JobController to run the Jobs).
 */
class CronJobE2ETest {
    static final Duration CONVERGE = EdgeCluster.CONVERGE;
    static final String NODE = "edge-cron";

    @TempDir static Path dir;
    static EdgeCluster cluster;

    @BeforeAll
    static void startEverything() throws Exception {
        cluster = EdgeCluster.start(dir, NODE, List.of("--backoff-initial", "1s", "--backoff-max", "2s", "--sync-period", "1s"));
    }

    @AfterAll
    static void stopEverything() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    static CronJob cronJob(String name, String schedule, CronJobSpec.ConcurrencyPolicy policy, boolean edge, String script) {
        return CronJob.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(CronJobSpec.newBuilder().setSchedule(schedule).setConcurrencyPolicy(policy).setRunOnEdge(edge)
                        .setSuccessfulJobsHistoryLimit(50).setFailedJobsHistoryLimit(5)
                        .setJobTemplate(JobTemplate.newBuilder().setSpec(JobSpec.newBuilder().setBackoffLimit(0)
                                .setTemplate(PodTemplate.newBuilder().setRestartPolicy(PodTemplate.RestartPolicy.NEVER).setTerminationGraceSeconds(1)
                                        .addContainers(Container.newBuilder().setName("work").setImage(cluster.image)
                                                .addAllCommand(List.of("sh", "-c", script)))))))
                .build();
    }

    /** The node's own record of its cron job runs, read from its disk. */
    static EdgeCronJobLedger ledger() {
        Path file = cluster.host.stateDir().resolve("cronjobs/ledger.pb");
        if (!Files.exists(file)) {
            return EdgeCronJobLedger.getDefaultInstance();
        }
        try (InputStream in = Files.newInputStream(file)) {
            return EdgeCronJobLedger.parseFrom(in);
        } catch (IOException e) {
            return EdgeCronJobLedger.getDefaultInstance(); // being replaced: read again
        }
    }

    static List<Job> jobsOf(String cronJob) {
        List<Job> jobs = new ArrayList<>();
        String page = "";
        do {
            var r = cluster.cloud.jobs().listJobs(ListJobsRequest.newBuilder().setLabelSelector(CronJobNames.CRON_JOB_LABEL + "=" + cronJob)
                    .setPageToken(page).build());
            jobs.addAll(r.getJobsList());
            page = r.getNextPageToken();
        } while (!page.isEmpty());
        return jobs;
    }

    static boolean condition(Job job, String type) {
        return job.getStatus().getConditionsList().stream().anyMatch(c -> c.getType().equals(type) && c.getStatus());
    }

    static boolean finishedRun(CronJobRunReport r) {
        return r.getPhase() == ReplicaStatus.Phase.SUCCEEDED || r.getPhase() == ReplicaStatus.Phase.FAILED;
    }

    @Test
    void anEdgeCronJobFiresWhileTheControlPlaneIsDownAndItsRunsAppearAsJobsAfter() throws Exception {
        cluster.cloud.cronJobs().createCronJob(CreateCronJobRequest.newBuilder()
                .setCronJob(cronJob("edge-tick", "*/5 * * * * *", CronJobSpec.ConcurrencyPolicy.FORBID, true, "echo tick; sleep 1")).build());
        Await.until("an edge run is a Complete Job", CONVERGE, cluster::diagnostics,
                () -> jobsOf("edge-tick").stream().anyMatch(j -> condition(j, "Complete")));
        Job online = jobsOf("edge-tick").stream().filter(j -> condition(j, "Complete")).findFirst().orElseThrow();
        assertEquals(NODE, online.getSpec().getEdgeNode());
        assertEquals(NODE, online.getStatus().getPods(0).getNode());

        cluster.killCloud();
        Instant down = Instant.now();
        Await.until("the node ran twice more with no control plane", CONVERGE, cluster.host::logTail,
                () -> ledger().getRunsList().stream().map(EdgeCronJobRun::getReport)
                        .filter(r -> finishedRun(r) && r.getScheduledTime().getSeconds() > down.getEpochSecond()).count() >= 2);
        Instant up = Instant.now();
        cluster.startCloud();
        cluster.awaitPhase(NodeStatus.Phase.READY);

        // Stop the firing to compare both sides at rest.
        CronJob current = cluster.cloud.cronJobs().getCronJob(GetCronJobRequest.newBuilder().setName("edge-tick").build());
        cluster.cloud.cronJobs().updateCronJob(UpdateCronJobRequest.newBuilder().setCronJob(current.toBuilder()
                .setSpec(current.getSpec().toBuilder().setSuspend(true))).build());
        Await.until("every finished run on the node is a finished Job", CONVERGE, cluster::diagnostics, () -> {
            Set<String> runs = ledger().getRunsList().stream().map(EdgeCronJobRun::getReport).filter(CronJobE2ETest::finishedRun)
                    .map(r -> CronJobNames.edgeJob("edge-tick", NODE, Instant.ofEpochSecond(r.getScheduledTime().getSeconds())))
                    .collect(Collectors.toCollection(TreeSet::new));
            Set<String> jobs = jobsOf("edge-tick").stream().filter(j -> condition(j, "Complete") || condition(j, "Failed"))
                    .map(j -> j.getMetadata().getName()).collect(Collectors.toCollection(TreeSet::new));
            return jobs.containsAll(runs) && !runs.isEmpty();
        });
        List<Job> jobs = jobsOf("edge-tick");
        assertTrue(jobs.stream().anyMatch(j -> {
            long t = Long.parseLong(j.getMetadata().getName().substring(j.getMetadata().getName().lastIndexOf('-') + 1));
            return t > down.getEpochSecond() && t < up.getEpochSecond() && condition(j, "Complete");
        }), "a run made while the control plane was down is a Complete Job now");
        assertEquals(jobs.size(), jobs.stream().map(j -> j.getMetadata().getName()).distinct().count());
        for (Job j : jobs) {
            assertEquals(NODE, j.getSpec().getEdgeNode(), j.getMetadata().getName());
        }
    }

    @Test
    void aCloudCronJobFiresOnScheduleWithForbidHonoured() throws Exception {
        cluster.cloud.cronJobs().createCronJob(CreateCronJobRequest.newBuilder()
                .setCronJob(cronJob("forbid", "*/3 * * * * *", CronJobSpec.ConcurrencyPolicy.FORBID, false, "sleep 7")).build());
        Instant until = Instant.now().plusSeconds(40);
        int maxActive = 0;
        while (Instant.now().isBefore(until)) {
            int active = (int) jobsOf("forbid").stream().filter(j -> !condition(j, "Complete") && !condition(j, "Failed")).count();
            maxActive = Math.max(maxActive, active);
            Thread.sleep(250);
        }
        List<Job> jobs = jobsOf("forbid");
        assertTrue(maxActive <= 1, "Forbid: at most one Job active at a time, saw " + maxActive);
        assertTrue(jobs.size() >= 2, "it fired on schedule: " + jobs.size() + " Jobs\n" + cluster.diagnostics());
        assertTrue(jobs.stream().anyMatch(j -> condition(j, "Complete")), "its Jobs ran to completion");
        List<Long> times = jobs.stream().map(j -> Long.parseLong(j.getMetadata().getName().substring("forbid-".length()))).sorted().toList();
        for (int i = 1; i < times.size(); i++) {
            assertTrue(times.get(i) - times.get(i - 1) >= 6, "slots were skipped while one ran: " + times);
        }
        for (long t : times) {
            assertEquals(0, t % 3, "on the schedule's times: " + times);
        }
    }
}
