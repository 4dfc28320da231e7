package dev.edgeplane.controlplane.controllers.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.ContainerStatus;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.controlplane.store.Write;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What a replica status change costs the App controller: which changes wake a rollout, how often, and how a large plan is written. */
class StatusWakesTest {
    private static final ReplicaStatus RUNNING = ReplicaStatus.newBuilder().setName("web-n1").setNamespace("default").setApp("web")
            .setNode("n1").setGeneration(3).setPhase(ReplicaStatus.Phase.RUNNING).setReady(true)
            .setReadyTransitionTime(Timestamp.newBuilder().setSeconds(100)).setUpdateTime(Timestamp.newBuilder().setSeconds(100)).build();

    @Test
    void aStatusChangeTheRolloutDoesNotReadIsAlikeForTheRollout() {
        ReplicaStatus later = RUNNING.toBuilder().setUpdateTime(Timestamp.newBuilder().setSeconds(160)).setRestartCount(2)
                .setLastExitCode(1).setMessage("probe flapped").addContainers(ContainerStatus.newBuilder().setName("web")).build();
        assertTrue(RolloutPlanner.sameForRollout(RUNNING, later), "update time, restarts, messages and containers are not read");
        assertTrue(RolloutPlanner.sameForRollout(null, null));
    }

    @Test
    void whatTheRolloutReadsChangingWakesIt() {
        assertFalse(RolloutPlanner.sameForRollout(RUNNING, RUNNING.toBuilder().setGeneration(4).build()), "a new generation reported");
        assertFalse(RolloutPlanner.sameForRollout(RUNNING, RUNNING.toBuilder().setNode("n2").build()), "another node");
        assertFalse(RolloutPlanner.sameForRollout(RUNNING, RUNNING.toBuilder().setPhase(ReplicaStatus.Phase.FAILED).build()), "phase");
        assertFalse(RolloutPlanner.sameForRollout(RUNNING, RUNNING.toBuilder().setReady(false).build()), "readiness");
        assertFalse(RolloutPlanner.sameForRollout(RUNNING, RUNNING.toBuilder()
                .setReadyTransitionTime(Timestamp.newBuilder().setSeconds(150)).build()), "ready since when (min_ready_seconds)");
        assertFalse(RolloutPlanner.sameForRollout(RUNNING, RUNNING.toBuilder().setReason("CrashLoopBackOff").build()), "a failure reason");
        assertFalse(RolloutPlanner.sameForRollout(null, RUNNING), "a first report");
        assertFalse(RolloutPlanner.sameForRollout(RUNNING, null), "a report removed");
    }

    @Test
    void nodeAndStatusChangesWaitAMultipleOfWhatTheAppsLastPlanTookWithinBounds() {
        WakeBatch batch = new WakeBatch(Duration.ofSeconds(1), Duration.ofSeconds(5), 4);
        assertEquals(Duration.ofSeconds(1), batch.window(0), "not planned yet: the shortest window");
        assertEquals(Duration.ofSeconds(1), batch.window(Duration.ofMillis(20).toNanos()), "a small App reacts within the shortest window");
        assertEquals(Duration.ofMillis(2400), batch.window(Duration.ofMillis(600).toNanos()), "a 600 ms plan: at most one in 2.4 s");
        assertEquals(Duration.ofSeconds(5), batch.window(Duration.ofSeconds(30).toNanos()), "never longer than the longest");
        assertEquals(Duration.ofSeconds(5), batch.window(Long.MAX_VALUE), "no overflow");
        assertEquals(Duration.ofSeconds(1), new WakeBatch(Duration.ofSeconds(1), Duration.ofSeconds(5), 0)
                .window(Duration.ofSeconds(3).toNanos()), "multiple 0: the fixed window of node changes");
        assertEquals(Duration.ofSeconds(1), new WakeBatch(Duration.ofSeconds(1), Duration.ofMillis(10), 4)
                .window(Duration.ofSeconds(3).toNanos()), "a longest window under the shortest is the shortest");
    }

    @Test
    void aLargePlanIsWrittenInChunksOfTheBudgetInOrder() {
        List<Write> writes = new ArrayList<>();
        for (int i = 0; i < 4500; i++) {
            writes.add(Write.delete("/k/" + i));
        }
        List<List<Write>> chunks = AppController.chunks(writes, 2000);
        assertEquals(List.of(2000, 2000, 500), chunks.stream().map(List::size).toList());
        assertEquals(writes, chunks.stream().flatMap(List::stream).toList(), "every write once, in plan order");
        assertEquals(List.of(), AppController.chunks(List.of(), 2000));
    }
}
