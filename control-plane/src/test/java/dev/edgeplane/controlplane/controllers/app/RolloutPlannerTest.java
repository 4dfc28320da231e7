package dev.edgeplane.controlplane.controllers.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Duration;
import dev.edgeplane.api.RolloutStrategies;
import dev.edgeplane.api.v1.AbortCriteria;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.BatchedRelease;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PoolReplicas;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.RollingUpdate;
import dev.edgeplane.api.v1.RolloutStatus;
import dev.edgeplane.api.v1.RolloutStrategy;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** The rollout arithmetic, step by step on a simulated fleet: no etcd, no agents. */
class RolloutPlannerTest {
    private static final String OLD = "sha256:old";
    private static final String NEW = "sha256:new";
    private static final Instant T0 = Instant.parse("2026-12-05T10:00:00Z");

    /** One replica of the simulation: its template, node, and whether it has come up on it. */
    private static final class Sim {
        String hash;
        final String node;
        boolean ready;
        String reason = "";
        long generation;

        Sim(String hash, String node, boolean ready, long generation) {
            this.hash = hash;
            this.node = node;
            this.ready = ready;
            this.generation = generation;
        }
    }

    private static final class Fleet {
        final App app;
        final Map<String, Sim> replicas = new TreeMap<>();
        RolloutStatus rollout;
        Instant now = T0;
        boolean newImageBroken;
        final List<String> events = new ArrayList<>();
        /** Where the scheduler puts a replica newly named (with pools: a node of its pool). */
        java.util.function.Function<String, String> nodeFor = name -> "n" + (replicas.size() % 4);

        Fleet(App app) {
            this.app = app;
        }

        List<RolloutPlanner.Replica> view() {
            List<RolloutPlanner.Replica> view = new ArrayList<>();
            replicas.forEach((name, r) -> view.add(new RolloutPlanner.Replica(name, r.node, r.hash, r.generation,
                    ReplicaStatus.newBuilder().setName(name).setNode(r.node).setGeneration(r.generation)
                            .setPhase(r.ready ? ReplicaStatus.Phase.RUNNING : ReplicaStatus.Phase.PENDING).setReady(r.ready)
                            .setReason(r.reason).setReadyTransitionTime(RolloutPlanner.timestamp(T0)).build(), true)));
            return view;
        }

        /** The rollout of the new template is complete. */
        boolean done() {
            return rollout.getTemplateHash().equals(NEW) && rollout.getPhase() == RolloutStatus.Phase.COMPLETE;
        }

        int ready() {
            return (int) replicas.values().stream().filter(r -> r.ready).count();
        }

        /** Decides once and applies it as the scheduler and agents would: switched and new replicas start unready. */
        RolloutPlanner.Decision step() {
            RolloutPlanner.Decision d = RolloutPlanner.decide(new RolloutPlanner.Inputs(app, NEW, 2, false, view(), rollout, now));
            rollout = d.status();
            d.events().forEach(e -> events.add(e.reason()));
            for (String name : d.switchable()) {
                Sim r = replicas.get(name);
                r.hash = NEW;
                r.generation = 2;
                r.ready = false;
            }
            d.names().ifPresent(names -> {
                replicas.keySet().retainAll(names);
                for (String name : names) {
                    replicas.computeIfAbsent(name, n -> new Sim(NEW, nodeFor.apply(n), false, 2));
                }
            });
            return d;
        }

        /** The new replicas come up (or fail, with a broken image). */
        void settle() {
            now = now.plusSeconds(5);
            for (Sim r : replicas.values()) {
                if (r.hash.equals(NEW) && !r.ready) {
                    if (newImageBroken) {
                        r.reason = "ErrImagePull";
                    } else {
                        r.ready = true;
                    }
                }
            }
        }
    }

    private static App app(int replicas, RolloutStrategy strategy) {
        return App.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName("web").setGeneration(2))
                .setSpec(AppSpec.newBuilder().setReplicas(replicas).setStrategy(strategy)).build();
    }

    private static Fleet running(App app, int replicas, int nodes) {
        Fleet fleet = new Fleet(app);
        for (int i = 0; i < replicas; i++) {
            fleet.replicas.put("web-" + i, new Sim(OLD, "n" + (i % nodes), true, 1));
        }
        // The rollout of revision 1 is long complete.
        fleet.rollout = RolloutStatus.newBuilder().setRevision(1).setTemplateHash(OLD).setPhase(RolloutStatus.Phase.COMPLETE).build();
        return fleet;
    }

    @Test
    void aRollingUpdateOfFourReplicasNeverHasFewerThanThreeReady() {
        Fleet fleet = running(app(4, RolloutStrategy.getDefaultInstance()), 4, 4);
        int lowest = 4;
        for (int i = 0; i < 20 && !fleet.done(); i++) {
            fleet.step();
            lowest = Math.min(lowest, fleet.ready());
            assertTrue(fleet.replicas.size() <= 5, "at most 4 + 25% surge (rounded up) replicas: " + fleet.replicas.keySet());
            fleet.settle();
        }
        assertEquals(RolloutStatus.Phase.COMPLETE, fleet.rollout.getPhase());
        assertEquals(3, lowest, "max_unavailable 25% of 4 rounds down to 1");
        assertEquals(4, fleet.replicas.size());
        assertTrue(fleet.replicas.values().stream().allMatch(r -> r.hash.equals(NEW) && r.ready));
        assertTrue(fleet.events.contains("RolloutStarted") && fleet.events.contains("RolloutCompleted"), fleet.events.toString());
    }

    @Test
    void oneReplicaSurgesFirstSoThereIsNoGapWithoutAReadyReplica() {
        Fleet fleet = running(app(1, RolloutStrategy.getDefaultInstance()), 1, 1);
        RolloutPlanner.Decision first = fleet.step();
        assertTrue(first.switchable().isEmpty(), "25% of 1 unavailable rounds down to 0: the old one stays");
        assertEquals(List.of("web-0", "web-1"), first.names().orElseThrow());
        assertEquals(1, fleet.ready());
        fleet.settle();
        fleet.step(); // web-1 available: web-0 goes
        assertEquals(List.of("web-1"), List.copyOf(fleet.replicas.keySet()));
        assertEquals(1, fleet.ready());
        fleet.step();
        assertEquals(RolloutStatus.Phase.COMPLETE, fleet.rollout.getPhase());
    }

    @Test
    void maxUnavailableAloneReplacesInPlaceWithoutExtraReplicas() {
        Fleet fleet = running(app(4, RolloutStrategy.newBuilder().setRollingUpdate(RollingUpdate.newBuilder()
                .setMaxSurge("0").setMaxUnavailable("2")).build()), 4, 4);
        RolloutPlanner.Decision d = fleet.step();
        assertEquals(2, d.switchable().size());
        assertEquals(4, fleet.replicas.size());
    }

    @Test
    void recreateSwitchesEveryReplicaAtOnce() {
        Fleet fleet = running(app(3, RolloutStrategy.newBuilder().setType(RolloutStrategy.Type.RECREATE).build()), 3, 3);
        assertEquals(3, fleet.step().switchable().size());
    }

    @Test
    void aBatchedReleaseOverFourNodesGoesOneTwoOneWithManualPauses() {
        RolloutStrategy batched = RolloutStrategy.newBuilder().setType(RolloutStrategy.Type.BATCHED)
                .setBatched(BatchedRelease.newBuilder().setMaxBatchPercent(50).setManualPause(true)).build();
        Fleet fleet = running(app(4, batched), 4, 4);
        List<Integer> batches = new ArrayList<>();
        int updatedBefore = 0;
        for (int i = 0; i < 30 && !fleet.done(); i++) {
            fleet.step();
            int updated = (int) fleet.replicas.values().stream().filter(r -> r.hash.equals(NEW)).count();
            if (updated > updatedBefore) {
                batches.add(updated - updatedBefore);
                updatedBefore = updated;
            }
            if (fleet.rollout.getPhase() == RolloutStatus.Phase.PAUSED) {
                assertTrue(fleet.step().switchable().isEmpty(), "nothing moves while paused");
                fleet.rollout = fleet.rollout.toBuilder().setPaused(false).build(); // ResumeAppRollout
            }
            fleet.settle();
        }
        assertEquals(List.of(1, 2, 1), batches);
        assertEquals(RolloutStatus.Phase.COMPLETE, fleet.rollout.getPhase());
        assertEquals(3, fleet.rollout.getBatchesTotal());
        assertTrue(fleet.events.contains("BatchCompleted") && fleet.events.contains("RolloutPaused")
                && fleet.events.contains("RolloutResumed"), fleet.events.toString());
    }

    @Test
    void aPauseBetweenBatchesWaitsItsTime() {
        RolloutStrategy batched = RolloutStrategy.newBuilder().setType(RolloutStrategy.Type.BATCHED)
                .setBatched(BatchedRelease.newBuilder().setMaxBatchPercent(50).setPauseBetweenBatches(Duration.newBuilder().setSeconds(60)))
                .build();
        Fleet fleet = running(app(4, batched), 4, 4);
        fleet.step();
        fleet.settle();
        RolloutPlanner.Decision done = fleet.step();
        assertTrue(done.switchable().isEmpty());
        assertEquals(fleet.now.plusSeconds(60), done.recheckAt().orElseThrow());
        fleet.now = fleet.now.plusSeconds(61);
        assertEquals(2, fleet.step().switchable().size());
    }

    @Test
    void failuresPastTheThresholdRollBackToThePreviousRevision() {
        RolloutStrategy strategy = RolloutStrategy.newBuilder().setAbortCriteria(AbortCriteria.newBuilder()
                .setFailureThresholdPercent(50).setMinCompleted(1)).build();
        Fleet fleet = running(app(4, strategy), 4, 4);
        fleet.newImageBroken = true;
        fleet.step();
        fleet.settle();
        RolloutPlanner.Decision d = fleet.step();
        assertEquals(1, d.rollbackTo().orElseThrow());
        assertEquals(RolloutStatus.Phase.ROLLING_BACK, d.status().getPhase());
        assertTrue(d.status().getAbortReason().contains("ErrImagePull"), d.status().getAbortReason());
        assertTrue(d.switchable().isEmpty(), "nothing more is switched to the failing revision");
        assertTrue(fleet.events.contains("RolloutAborted"));
    }

    @Test
    void withoutAnEarlierRevisionTheAbortCriteriaPause() {
        RolloutStrategy strategy = RolloutStrategy.newBuilder().setAbortCriteria(AbortCriteria.newBuilder()
                .setFailureThresholdPercent(50)).build();
        Fleet fleet = running(app(2, strategy), 2, 2);
        fleet.rollout = null; // no earlier rollout known
        fleet.newImageBroken = true;
        fleet.step();
        fleet.settle();
        RolloutPlanner.Decision d = fleet.step();
        assertTrue(d.rollbackTo().isEmpty());
        assertEquals(RolloutStatus.Phase.PAUSED, d.status().getPhase());
        assertTrue(d.status().getPaused());
    }

    @Test
    void aReplicaThatNeverComesUpTimesOutAtTheProgressDeadlineAndTheBatchMovesOn() {
        RolloutStrategy batched = RolloutStrategy.newBuilder().setType(RolloutStrategy.Type.BATCHED)
                .setBatched(BatchedRelease.newBuilder().setMaxBatchPercent(50)).build();
        App app = app(4, batched);
        app = app.toBuilder().setSpec(app.getSpec().toBuilder().setProgressDeadlineSeconds(30)).build();
        Fleet fleet = running(app, 4, 4);
        fleet.newImageBroken = true; // the first node's replica never becomes ready: its node is away
        fleet.step();
        fleet.replicas.values().stream().filter(r -> r.hash.equals(NEW)).forEach(r -> r.reason = "");
        RolloutPlanner.Decision waiting = fleet.step();
        assertTrue(waiting.switchable().isEmpty(), "the batch waits for its replica");
        assertEquals(T0.plusSeconds(30), waiting.recheckAt().orElseThrow());
        fleet.now = T0.plusSeconds(31);
        RolloutPlanner.Decision next = fleet.step();
        assertEquals(1, next.status().getTimedOut());
        assertEquals(2, next.switchable().size(), "batch 2 starts: the timed-out replica counts as finished, not as a success");
        assertEquals(0, next.status().getSucceeded());
    }

    @Test
    void minReadySecondsHoldsAReadyReplicaBackUntilItHasBeenReadyLongEnough() {
        App app = app(1, RolloutStrategy.getDefaultInstance());
        app = app.toBuilder().setSpec(app.getSpec().toBuilder().setMinReadySeconds(30)).build();
        Fleet fleet = running(app, 1, 1);
        fleet.now = T0.plusSeconds(10); // the old replica became ready at T0: 10 s ago
        RolloutPlanner.Decision d = fleet.step();
        assertEquals(T0.plusSeconds(30), d.recheckAt().orElseThrow());
    }

    @Test
    void aPausedRolloutSwitchesNothing() {
        Fleet fleet = running(app(4, RolloutStrategy.getDefaultInstance()), 4, 4);
        fleet.step();
        fleet.settle();
        fleet.rollout = fleet.rollout.toBuilder().setPaused(true).build();
        RolloutPlanner.Decision d = fleet.step();
        assertTrue(d.switchable().isEmpty());
        assertEquals(RolloutStatus.Phase.PAUSED, d.status().getPhase());
        assertFalse(fleet.events.isEmpty());
    }

    @Test
    void withPrefetchNothingSwitchesUntilTheNewImagesAreOnTheNodes() {
        Fleet fleet = running(app(4, RolloutStrategy.newBuilder().setPrefetchImages(true).build()), 4, 4);
        java.util.function.Function<java.util.Optional<RolloutPlanner.Prefetch>, RolloutPlanner.Decision> decide = prefetch ->
                RolloutPlanner.decide(new RolloutPlanner.Inputs(fleet.app, NEW, 2, false, fleet.view(), fleet.rollout, fleet.now, prefetch));
        RolloutPlanner.Decision none = decide.apply(java.util.Optional.empty());
        assertTrue(none.prefetchWanted(), "no prefetch yet: make one");
        assertTrue(none.switchable().isEmpty());
        assertEquals(List.of("web-0", "web-1", "web-2", "web-3"), none.names().orElseThrow(), "no surge either");
        fleet.rollout = none.status();
        RolloutPlanner.Decision pulling = decide.apply(java.util.Optional.of(new RolloutPlanner.Prefetch(false, 1, 4)));
        assertFalse(pulling.prefetchWanted());
        assertTrue(pulling.switchable().isEmpty());
        assertEquals("pulling the new images: 1/4 nodes done", pulling.status().getMessage());
        fleet.rollout = pulling.status();
        RolloutPlanner.Decision pulled = decide.apply(java.util.Optional.of(new RolloutPlanner.Prefetch(true, 4, 4)));
        assertEquals(1, pulled.switchable().size(), "then the rolling update goes on as usual");
        assertEquals("", pulled.status().getMessage());
    }

    @Test
    void batchSizesDoubleUpToTheirShareOfTheFleet() {
        RolloutStrategies.Batches defaults = RolloutStrategies.Batches.of(AppSpec.getDefaultInstance());
        List<Integer> sizes = new ArrayList<>();
        for (int b = 1; b <= defaults.count(1000); b++) {
            sizes.add(defaults.released(b, 1000) - defaults.released(b - 1, 1000));
        }
        assertEquals(List.of(1, 2, 4, 8, 16, 32, 64, 100, 100, 100, 100, 100, 100, 100, 100, 73), sizes);
        assertEquals(1, defaults.released(5, 1), "one node: one batch");
    }

    // ---- pools ----

    /** web over pools "a" and "b" ({@code perPool} replicas each, on {@code nodesPerPool} nodes each: a0, a1, b0, ...). */
    private static Fleet spread(RolloutStrategy strategy, int perPool, int nodesPerPool) {
        App app = app(perPool, strategy);
        app = app.toBuilder().setSpec(app.getSpec().toBuilder().addPools(PoolReplicas.newBuilder().setName("a"))
                .addPools(PoolReplicas.newBuilder().setName("b"))).build();
        Fleet fleet = new Fleet(app);
        for (String pool : List.of("a", "b")) {
            for (int i = 0; i < perPool; i++) {
                fleet.replicas.put("web-" + pool + "-" + i, new Sim(OLD, pool + (i % nodesPerPool), true, 1));
            }
        }
        // A new replica goes to the first node of its pool ("web-b-2" -> "b0").
        fleet.nodeFor = name -> name.substring(4, 5) + "0";
        fleet.rollout = RolloutStatus.newBuilder().setRevision(1).setTemplateHash(OLD).setPhase(RolloutStatus.Phase.COMPLETE).build();
        return fleet;
    }

    private static long updated(Fleet fleet, String pool) {
        return fleet.replicas.entrySet().stream().filter(e -> e.getKey().startsWith("web-" + pool + "-") && e.getValue().hash.equals(NEW))
                .count();
    }

    private static boolean poolFinished(Fleet fleet, String pool) {
        return fleet.replicas.entrySet().stream().filter(e -> e.getKey().startsWith("web-" + pool + "-"))
                .allMatch(e -> e.getValue().hash.equals(NEW) && (e.getValue().ready || !e.getValue().reason.isEmpty()));
    }

    @Test
    void poolByPoolRollsPoolAToTheEndBeforePoolBMoves() {
        Fleet fleet = spread(RolloutStrategy.newBuilder().setPoolByPool(true).build(), 4, 4);
        List<String> pools = new ArrayList<>();
        for (int i = 0; i < 40 && !fleet.done(); i++) {
            fleet.step();
            if (!fleet.rollout.getPool().isEmpty() && (pools.isEmpty() || !pools.get(pools.size() - 1).equals(fleet.rollout.getPool()))) {
                pools.add(fleet.rollout.getPool());
            }
            if (updated(fleet, "b") > 0) {
                assertTrue(poolFinished(fleet, "a"), "pool b moves only once pool a is done: " + fleet.replicas.keySet());
            }
            assertTrue(fleet.replicas.keySet().stream().filter(n -> n.startsWith("web-a-")).count() <= 5,
                    "ROLLING's surge counts within the pool: 25% of 4");
            fleet.settle();
        }
        assertEquals(RolloutStatus.Phase.COMPLETE, fleet.rollout.getPhase());
        assertEquals(List.of("a", "b"), pools);
        assertEquals("", fleet.rollout.getPool(), "a complete rollout is in no pool");
        assertEquals(4, updated(fleet, "a"));
        assertEquals(4, updated(fleet, "b"));
        assertEquals(8, fleet.replicas.size());
        assertEquals(2, fleet.events.stream().filter(e -> e.equals("PoolRolloutStarted")).count(), fleet.events.toString());
    }

    @Test
    void poolByPoolBatchesEachPoolsNodesInTurn() {
        RolloutStrategy batched = RolloutStrategy.newBuilder().setType(RolloutStrategy.Type.BATCHED).setPoolByPool(true)
                .setBatched(BatchedRelease.newBuilder().setMaxBatchPercent(50)).build();
        Fleet fleet = spread(batched, 4, 4);
        List<String> steps = new ArrayList<>();
        long a = 0;
        long b = 0;
        for (int i = 0; i < 40 && !fleet.done(); i++) {
            fleet.step();
            long a2 = updated(fleet, "a");
            long b2 = updated(fleet, "b");
            if (a2 > a) {
                steps.add("a+" + (a2 - a) + " (" + fleet.rollout.getBatch() + "/" + fleet.rollout.getBatchesTotal() + ")");
            }
            if (b2 > b) {
                assertTrue(poolFinished(fleet, "a"), "pool b waits for pool a");
                steps.add("b+" + (b2 - b) + " (" + fleet.rollout.getBatch() + "/" + fleet.rollout.getBatchesTotal() + ")");
            }
            a = a2;
            b = b2;
            fleet.settle();
        }
        assertEquals(RolloutStatus.Phase.COMPLETE, fleet.rollout.getPhase());
        assertEquals(List.of("a+1 (1/3)", "a+2 (2/3)", "a+1 (3/3)", "b+1 (1/3)", "b+2 (2/3)", "b+1 (3/3)"), steps,
                "each pool's 4 nodes in batches 1, 2, 1 (at most 50% of the pool's nodes)");
    }

    @Test
    void aPoolWhoseReplicasFailedIsDoneAndTheNextPoolGoes() {
        Fleet fleet = spread(RolloutStrategy.newBuilder().setType(RolloutStrategy.Type.RECREATE).setPoolByPool(true).build(), 2, 2);
        fleet.newImageBroken = true;
        assertEquals(Set.of("web-a-0", "web-a-1"), fleet.step().switchable(), "RECREATE within pool a only");
        fleet.settle(); // pool a's new replicas fail to pull
        assertEquals(Set.of("web-b-0", "web-b-1"), fleet.step().switchable(), "pool a finished (failed): pool b goes");
        assertEquals("b", fleet.rollout.getPool());
        assertEquals(2, fleet.rollout.getFailed());
    }

    @Test
    void withoutPoolByPoolEveryPoolRollsAtOnceWithinItsOwnLimits() {
        Fleet fleet = spread(RolloutStrategy.newBuilder().setRollingUpdate(RollingUpdate.newBuilder().setMaxSurge("0")
                .setMaxUnavailable("1")).build(), 4, 4);
        RolloutPlanner.Decision d = fleet.step();
        assertEquals(Set.of("web-a-0", "web-b-0"), d.switchable(), "max_unavailable 1 in each pool");
        assertEquals("", d.status().getPool());
    }
}
