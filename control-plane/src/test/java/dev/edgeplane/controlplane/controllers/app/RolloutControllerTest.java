package dev.edgeplane.controlplane.controllers.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.AbortCriteria;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppRolloutRequest;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.ListAppRevisionsRequest;
import dev.edgeplane.api.v1.ListAppRevisionsResponse;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.RollbackAppRequest;
import dev.edgeplane.api.v1.RollingUpdate;
import dev.edgeplane.api.v1.RolloutStatus;
import dev.edgeplane.api.v1.RolloutStrategy;
import dev.edgeplane.api.v1.UpdateAppRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Rollouts through the App controller and AppService against a real etcd. The agents are played by
 * a loop that reports every assignment's replica as its agent would: RUNNING and ready a moment
 * after it is written, or waiting with ErrImagePull when its image is "bad".
 */
@QuarkusTest
@TestProfile(AppControllerTest.OneWorker.class)
@QuarkusTestResource(EtcdTestResource.class)
class RolloutControllerTest {
    @Inject
    StateCaches caches;
    @Inject
    EtcdStore store;
    @Inject
    LeaderLock leader;

    private TestApi api;
    private ScheduledExecutorService agents;
    /** The fewest ready replicas of the App the fake agents saw while it rolled. */
    private final AtomicInteger fewestReady = new AtomicInteger(Integer.MAX_VALUE);

    @BeforeEach
    void start() {
        AppControllerTest.await("leadership", () -> leader.isLeader());
        api = new TestApi();
        agents = Executors.newSingleThreadScheduledExecutor();
        agents.scheduleWithFixedDelay(this::report, 0, 200, TimeUnit.MILLISECONDS);
    }

    @AfterEach
    void stop() throws Exception {
        agents.shutdownNow();
        agents.awaitTermination(10, TimeUnit.SECONDS);
        api.close();
    }

    /** Plays every node's agent: each assignment gets a status for its generation, one pass after it appears. */
    private void report() {
        try {
            int ready = 0;
            for (Entry<Assignment> e : caches.assignments().all()) {
                Assignment a = e.value();
                if (!a.getApp().equals("roll")) {
                    continue;
                }
                Entry<ReplicaStatus> current = caches.replicaStatuses().get(Keys.replicaStatus(a.getNamespace(), a.getReplica()));
                boolean reported = current != null && current.value().getGeneration() == a.getGeneration()
                        && current.value().getNode().equals(a.getNode());
                if (reported && !current.value().getMessage().equals("replacing")) {
                    ready += current.value().getReady() ? 1 : 0;
                    continue;
                }
                boolean bad = caches.templates().get(Keys.template(a.getNamespace(), a.getApp(), a.getTemplateHash())) != null
                        && caches.templates().get(Keys.template(a.getNamespace(), a.getApp(), a.getTemplateHash())).value()
                        .getContainers(0).getImage().equals("bad");
                ReplicaStatus.Builder status = ReplicaStatus.newBuilder().setName(a.getReplica()).setNamespace(a.getNamespace())
                        .setApp(a.getApp()).setNode(a.getNode()).setGeneration(a.getGeneration());
                if (bad) {
                    status.setPhase(ReplicaStatus.Phase.PENDING).setReason("ErrImagePull").setMessage("pull bad: not found");
                } else if (current == null || reported) {
                    // A new pod (or a replaced one, one report later): running and ready.
                    status.setPhase(ReplicaStatus.Phase.RUNNING).setReady(true).setReadyTransitionTime(Joiner.timestamp(Instant.now()));
                } else {
                    // The pod is being replaced: not ready for one report first, as a real one would be.
                    status.setPhase(ReplicaStatus.Phase.PENDING).setMessage("replacing");
                }
                store.put(Keys.replicaStatus(a.getNamespace(), a.getReplica()), status.build().toByteArray());
                ready += status.getReady() ? 1 : 0;
            }
            if (caches.rollouts().get(Keys.rollout("default", "roll")) != null
                    && caches.rollouts().get(Keys.rollout("default", "roll")).value().getRevision() > 1) {
                fewestReady.accumulateAndGet(ready, Math::min);
            }
        } catch (RuntimeException e) {
            // the next pass tries again
        }
    }

    private App get() {
        return api.apps().getApp(GetAppRequest.newBuilder().setNamespace("default").setName("roll").build());
    }

    private App update(java.util.function.UnaryOperator<App> change) {
        App current = get();
        return api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(change.apply(current.toBuilder().clearStatus().build())).build());
    }

    private static App withImage(App app, String image) {
        return app.toBuilder().setSpec(app.getSpec().toBuilder().setTemplate(app.getSpec().getTemplate().toBuilder()
                .setContainers(0, app.getSpec().getTemplate().getContainers(0).toBuilder().setImage(image)))).build();
    }

    private void awaitRollout(String what, java.util.function.Predicate<App> done) {
        try {
            AppControllerTest.await(what, () -> done.test(get()));
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "; the app is now " + get().getStatus(), e);
        }
    }

    @Test
    void aRollingUpdatePausesResumesCompletesAndRollsBack() {
        store.put(Keys.node("roll-a"), AppControllerTest.node("roll-a", "roll").toByteArray());
        store.put(Keys.node("roll-b"), AppControllerTest.node("roll-b", "roll").toByteArray());
        App app = AppControllerTest.app("roll", 4, "roll", "img:1");
        app = app.toBuilder().setSpec(app.getSpec().toBuilder().setStrategy(RolloutStrategy.newBuilder()
                .setRollingUpdate(RollingUpdate.newBuilder().setMaxSurge("1").setMaxUnavailable("1"))
                .setAbortCriteria(AbortCriteria.newBuilder().setFailureThresholdPercent(50)))).build();
        api.apps().createApp(dev.edgeplane.api.v1.CreateAppRequest.newBuilder().setApp(app).build());
        awaitRollout("revision 1 complete", a -> a.getStatus().getRollout().getPhase() == RolloutStatus.Phase.COMPLETE
                && a.getStatus().getReadyReplicas() == 4);
        AppRolloutRequest roll = AppRolloutRequest.newBuilder().setNamespace("default").setName("roll").build();
        StatusRuntimeException none = assertThrows(StatusRuntimeException.class, () -> api.apps().pauseAppRollout(roll));
        assertEquals(Status.Code.FAILED_PRECONDITION, none.getStatus().getCode());
        assertTrue(none.getStatus().getDescription().contains("no rollout in progress"), none.getStatus().getDescription());

        update(a -> withImage(a, "img:2"));
        api.apps().pauseAppRollout(roll);
        awaitRollout("paused", a -> a.getStatus().getRollout().getPhase() == RolloutStatus.Phase.PAUSED);
        int updatedWhenPaused = get().getStatus().getUpdatedReplicas();
        assertTrue(updatedWhenPaused < 4, "paused part way: " + updatedWhenPaused);
        api.apps().resumeAppRollout(roll);
        awaitRollout("revision 2 complete", a -> a.getStatus().getRollout().getRevision() == 2
                && a.getStatus().getRollout().getPhase() == RolloutStatus.Phase.COMPLETE && a.getStatus().getUpdatedReplicas() == 4
                && a.getStatus().getReadyReplicas() == 4);
        assertTrue(fewestReady.get() >= 3, "never fewer than 4 - max_unavailable ready: " + fewestReady.get());
        assertEquals(4, get().getStatus().getDesiredReplicas());

        App rolledBack = api.apps().rollbackApp(RollbackAppRequest.newBuilder().setNamespace("default").setName("roll").build());
        assertEquals("img:1", rolledBack.getSpec().getTemplate().getContainers(0).getImage());
        awaitRollout("rolled back", a -> a.getStatus().getRollout().getRevision() == 3
                && a.getStatus().getRollout().getPhase() == RolloutStatus.Phase.COMPLETE && a.getStatus().getUpdatedReplicas() == 4);
        ListAppRevisionsResponse history = api.apps().listAppRevisions(ListAppRevisionsRequest.newBuilder()
                .setNamespace("default").setName("roll").build());
        assertEquals(3, history.getCurrentRevision());
        assertEquals(java.util.List.of(3L, 2L), history.getRevisionsList().stream().map(r -> r.getRevision()).toList(),
                "revision 1 came back as 3");
        assertEquals("rollback to revision 1", history.getRevisions(0).getChangeCause());

        StatusRuntimeException missing = assertThrows(StatusRuntimeException.class, () -> api.apps().rollbackApp(
                RollbackAppRequest.newBuilder().setNamespace("default").setName("roll").setToRevision(9).build()));
        assertEquals(Status.Code.NOT_FOUND, missing.getStatus().getCode());

        // A bad image trips the abort criteria: the controller puts revision 3's template back by itself.
        update(a -> withImage(a, "bad"));
        awaitRollout("rolled back by the abort criteria", a -> a.getStatus().getRollout().getPhase() == RolloutStatus.Phase.ABORTED
                && a.getSpec().getTemplate().getContainers(0).getImage().equals("img:1") && a.getStatus().getReadyReplicas() == 4
                && a.getStatus().getUpdatedReplicas() == 4);
        RolloutStatus aborted = get().getStatus().getRollout();
        assertTrue(aborted.getAbortReason().contains("ErrImagePull"), aborted.getAbortReason());
        assertEquals("rollback to revision 3", get().getMetadata().getAnnotationsOrThrow(Revisions.CHANGE_CAUSE));

        store.delete(Keys.app("default", "roll"));
        AppControllerTest.await("history gone", () -> store.listAll(Keys.revisionsOf("default", "roll")).entries().isEmpty()
                && store.get(Keys.rollout("default", "roll")).isEmpty());
    }

    @Test
    void strategyFieldsAreCheckedNamingTheField() {
        App app = AppControllerTest.app("badstrategy", 1, "none", "img:1");
        Map<String, RolloutStrategy> bad = Map.of(
                "app.spec.strategy.rolling_update.max_surge", RolloutStrategy.newBuilder()
                        .setRollingUpdate(RollingUpdate.newBuilder().setMaxSurge("120%")).build(),
                "app.spec.strategy.rolling_update", RolloutStrategy.newBuilder()
                        .setRollingUpdate(RollingUpdate.newBuilder().setMaxSurge("0").setMaxUnavailable("0%")).build(),
                "app.spec.strategy.rolling_update.max_unavailable", RolloutStrategy.newBuilder()
                        .setRollingUpdate(RollingUpdate.newBuilder().setMaxUnavailable("lots")).build(),
                "app.spec.strategy.batched.max_batch_percent", RolloutStrategy.newBuilder().setType(RolloutStrategy.Type.BATCHED)
                        .setBatched(dev.edgeplane.api.v1.BatchedRelease.newBuilder().setMaxBatchPercent(101)).build(),
                "app.spec.strategy.abort_criteria.failure_threshold_percent", RolloutStrategy.newBuilder()
                        .setAbortCriteria(AbortCriteria.newBuilder().setFailureThresholdPercent(0)).build());
        bad.forEach((field, strategy) -> {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> api.apps().createApp(
                    dev.edgeplane.api.v1.CreateAppRequest.newBuilder().setApp(app.toBuilder().setSpec(app.getSpec().toBuilder()
                            .setStrategy(strategy))).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().contains(field), field + ": " + e.getStatus().getDescription());
        });
        assertTrue(store.get(Keys.app("default", "badstrategy")).isEmpty(), "nothing written");
    }
}
