package dev.edgeplane.agent.cronjobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.Await;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.journal.JournalStore;
import dev.edgeplane.agent.pods.Pods;
import dev.edgeplane.agent.pods.Reconciler;
import dev.edgeplane.agent.pods.ReconcilerSettings;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.agent.status.StatusManager;
import dev.edgeplane.api.CronJobNames;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.CronJobRunReport;
import dev.edgeplane.api.v1.EdgeCronJobTask;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.testkit.Containerd;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * run_on_edge CronJobs on a node against a real containerd (CRI, runc): fired from the journal alone
 * (no control plane at all), on time, as local pods of the reconciler; never twice for one time
 * across a restart of the agent's parts; FORBID keeps one run at a time.
 */
class EdgeCronJobsTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    static Containerd containerd;
    static CriRuntime cri;

    @TempDir
    Path tmp;
    private DesiredStateStore desired;
    private StatusManager status;
    private Reconciler reconciler;
    private EdgeCronJobs cronJobs;
    /** The latest report of each run, as the control plane would get them. */
    private final Map<String, CronJobRunReport> reported = new ConcurrentHashMap<>();

    @BeforeAll
    static void startContainerd() {
        containerd = Containerd.start();
        cri = CriRuntime.connect(containerd.endpoint());
    }

    @AfterAll
    static void stopContainerd() {
        if (cri != null) {
            Pods.removeAll(cri);
            cri.close();
        }
        if (containerd != null) {
            containerd.close();
        }
    }

    @AfterEach
    void stop() {
        stopAgentParts();
        Pods.removeAll(cri);
    }

    static final class MovableClock extends Clock {
        volatile Instant now;

        MovableClock(Instant now) {
            this.now = now;
        }

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

    private static Assignment entry(String name, String schedule, EdgeCronJobTask.ConcurrencyPolicy policy, String... command) {
        return Assignment.newBuilder().setNode("node-1").setNamespace("default").setReplica(CronJobNames.ENTRY_PREFIX + name)
                .setCronJob(EdgeCronJobTask.newBuilder().setName(name).setUid("uid-" + name).setGeneration(1).setSchedule(schedule)
                        .setConcurrencyPolicy(policy).setSuccessfulJobsHistoryLimit(20).setFailedJobsHistoryLimit(5).setBackoffLimit(2)
                        .setTemplate(Pods.template(PodTemplate.RestartPolicy.NEVER, Pods.container("work", Pods.BUSYBOX, command))))
                .build();
    }

    /** The node's agent parts on the journal in {@code tmp} (opened again after a "restart"). */
    private void startAgentParts(Clock clock, boolean thread) {
        desired = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
        status = new StatusManager(Clock.systemUTC());
        ReconcilerSettings settings = ReconcilerSettings.defaults("node-1", tmp.resolve("logs")).withSyncPeriod(Duration.ofMillis(300));
        reconciler = new Reconciler(cri, desired, status, settings, Clock.systemUTC());
        cronJobs = new EdgeCronJobs(desired, r -> reported.put(r.getReplica(), r), r -> reported.remove(r.getReplica()),
                reconciler::trigger, "node-1", tmp.resolve("cronjobs"), clock);
        reconciler.setLocalPods(cronJobs);
        reconciler.start();
        if (thread) {
            cronJobs.start();
        }
    }

    private void stopAgentParts() {
        if (cronJobs != null) {
            cronJobs.close();
            cronJobs = null;
        }
        if (reconciler != null) {
            reconciler.close();
            reconciler = null;
        }
    }

    private List<CronJobRunReport> finished() {
        return cronJobs.runs().stream().filter(r -> r.getPhase() == ReplicaStatus.Phase.SUCCEEDED || r.getPhase() == ReplicaStatus.Phase.FAILED)
                .toList();
    }

    @Test
    void firesFromTheJournalOnTimeWithNoControlPlane() throws Exception {
        startAgentParts(Clock.systemUTC(), true);
        desired.applySnapshot(Snapshot.newBuilder().setRevision(1)
                .addAssignments(entry("tick", "*/2 * * * * *", EdgeCronJobTask.ConcurrencyPolicy.ALLOW, "sh", "-c", "echo ran; exit 0")).build());
        Await.until(WAIT, "three runs succeeded", () -> finished().size() >= 3, () -> cronJobs.runs().toString());
        for (CronJobRunReport run : finished().subList(0, 3)) {
            assertEquals(ReplicaStatus.Phase.SUCCEEDED, run.getPhase(), run.toString());
            assertEquals(0, run.getExitCode());
            assertEquals(0, run.getScheduledTime().getSeconds() % 2, "on the schedule's times");
            assertEquals(CronJobNames.runReplica("tick", Instant.ofEpochSecond(run.getScheduledTime().getSeconds())), run.getReplica());
            long lateMs = (run.getStartTime().getSeconds() - run.getScheduledTime().getSeconds()) * 1000
                    + run.getStartTime().getNanos() / 1_000_000;
            assertTrue(lateMs < 5000, "the container started " + lateMs + " ms after its time");
            assertEquals(run, reported.get(run.getReplica()), "each run is reported");
        }
        assertTrue(status.all().isEmpty(), "runs are not reported as replicas: " + status.all());
    }

    @Test
    void aTimeIsNeverFiredTwiceAcrossARestart() throws Exception {
        Instant slot = Instant.parse("2026-03-01T10:00:00Z");
        MovableClock clock = new MovableClock(slot.minusSeconds(30));
        startAgentParts(clock, false);
        desired.applySnapshot(Snapshot.newBuilder().setRevision(1)
                .addAssignments(entry("once", "* * * * *", EdgeCronJobTask.ConcurrencyPolicy.ALLOW, "true")).build());
        cronJobs.passOnce(); // first seen: from the next time on
        assertTrue(cronJobs.runs().isEmpty());
        clock.now = slot.plusMillis(200);
        cronJobs.passOnce();
        assertEquals(1, cronJobs.runs().size());
        Await.until(WAIT, "the run finished", () -> finished().size() == 1, () -> cronJobs.runs().toString());

        // The agent restarts within the same minute: the ledger says the time was handled.
        stopAgentParts();
        clock.now = slot.plusSeconds(20);
        startAgentParts(clock, false);
        cronJobs.passOnce();
        cronJobs.passOnce();
        assertEquals(1, cronJobs.runs().size(), "not fired again: " + cronJobs.runs());
        assertEquals(ReplicaStatus.Phase.SUCCEEDED, cronJobs.runs().get(0).getPhase(), "its state survived the restart");

        // Down over two times: on return only the latest is caught up, and only while the next has not come.
        stopAgentParts();
        clock.now = slot.plus(Duration.ofMinutes(2)).plusSeconds(10);
        startAgentParts(clock, false);
        cronJobs.passOnce();
        assertEquals(List.of(slot.getEpochSecond(), slot.plusSeconds(120).getEpochSecond()),
                cronJobs.runs().stream().map(r -> r.getScheduledTime().getSeconds()).toList(), "10:01 missed, 10:02 caught up");
    }

    @Test
    void forbidKeepsOneRunAtATime() throws Exception {
        startAgentParts(Clock.systemUTC(), true);
        desired.applySnapshot(Snapshot.newBuilder().setRevision(1)
                .addAssignments(entry("slow", "* * * * * *", EdgeCronJobTask.ConcurrencyPolicy.FORBID, "sleep", "3")).build());
        Await.until(WAIT, "three runs finished", () -> finished().size() >= 3, () -> cronJobs.runs().toString());
        List<CronJobRunReport> runs = cronJobs.runs();
        for (int i = 1; i < runs.size(); i++) {
            CronJobRunReport before = runs.get(i - 1);
            CronJobRunReport after = runs.get(i);
            assertTrue(after.getScheduledTime().getSeconds() >= before.getCompletionTime().getSeconds(),
                    "run " + after.getReplica() + " scheduled before " + before.getReplica() + " finished: times were skipped meanwhile");
            assertTrue(after.getScheduledTime().getSeconds() - before.getScheduledTime().getSeconds() >= 3, "every-second times were skipped");
        }
        long activeNow = cronJobs.runs().stream().filter(r -> r.getPhase() == ReplicaStatus.Phase.RUNNING || r.getPhase() == ReplicaStatus.Phase.PENDING).count();
        assertTrue(activeNow <= 1, "at most one active: " + activeNow);
    }
}
