package dev.edgeplane.controlplane.controllers.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.AppPools;
import dev.edgeplane.api.TemplateHashes;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppPoolStatus;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.PoolReplicas;
import dev.edgeplane.api.v1.ReplicaStatus;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * An App spread over two node pools, through AppService and the App controller against a real etcd:
 * nodes of pools site-a and site-b written straight to etcd with the pool label; the agents are a
 * loop that reports each assignment's replica running and ready one pass after it is written.
 */
@QuarkusTest
@TestProfile(AppControllerTest.OneWorker.class)
@QuarkusTestResource(EtcdTestResource.class)
class PoolAppControllerTest {
    private static final String APP = "spread";

    @Inject
    StateCaches caches;
    @Inject
    EtcdStore store;
    @Inject
    LeaderLock leader;

    private TestApi api;
    private ScheduledExecutorService agents;
    /** The template hash being rolled out pool by pool (null: none yet). */
    private volatile String rolling;
    /** What the agents saw that breaks "pool site-a first": a site-b replica updated while site-a was not done. */
    private final List<String> outOfOrder = new java.util.concurrent.CopyOnWriteArrayList<>();

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

    private void report() {
        try {
            Map<String, Assignment> mine = new TreeMap<>();
            for (Entry<Assignment> e : caches.assignments().all()) {
                if (e.value().getApp().equals(APP)) {
                    mine.put(e.value().getReplica(), e.value());
                }
            }
            String target = rolling;
            if (target != null) {
                boolean siteADone = mine.values().stream().filter(a -> a.getReplica().startsWith(APP + "-site-a-"))
                        .allMatch(a -> a.getTemplateHash().equals(target) && ready(a));
                mine.values().stream().filter(a -> a.getReplica().startsWith(APP + "-site-b-") && a.getTemplateHash().equals(target))
                        .filter(a -> !siteADone).forEach(a -> outOfOrder.add(a.getReplica() + " while site-a: " + mine.keySet()));
            }
            for (Assignment a : mine.values()) {
                Entry<ReplicaStatus> current = caches.replicaStatuses().get(Keys.replicaStatus(a.getNamespace(), a.getReplica()));
                if (current != null && current.value().getGeneration() == a.getGeneration() && current.value().getNode().equals(a.getNode())) {
                    continue;
                }
                store.put(Keys.replicaStatus(a.getNamespace(), a.getReplica()), ReplicaStatus.newBuilder().setName(a.getReplica())
                        .setNamespace(a.getNamespace()).setApp(a.getApp()).setNode(a.getNode()).setGeneration(a.getGeneration())
                        .setPhase(ReplicaStatus.Phase.RUNNING).setReady(true).setReadyTransitionTime(Joiner.timestamp(Instant.now()))
                        .build().toByteArray());
            }
        } catch (RuntimeException e) {
            // the next pass tries again
        }
    }

    private boolean ready(Assignment a) {
        Entry<ReplicaStatus> s = caches.replicaStatuses().get(Keys.replicaStatus(a.getNamespace(), a.getReplica()));
        return s != null && s.value().getGeneration() == a.getGeneration() && s.value().getReady();
    }

    private static Node poolNode(String name, String pool) {
        Node n = AppControllerTest.node(name, APP);
        return n.toBuilder().setMetadata(n.getMetadata().toBuilder().putLabels(AppPools.POOL_LABEL, pool)).build();
    }

    private static App spread(String name, int replicas, PoolReplicas... pools) {
        App app = AppControllerTest.app(name, replicas, APP, "img:1");
        return app.toBuilder().setSpec(app.getSpec().toBuilder().addAllPools(List.of(pools))).build();
    }

    private static PoolReplicas pool(String name) {
        return PoolReplicas.newBuilder().setName(name).build();
    }

    private App get(String name) {
        return api.apps().getApp(GetAppRequest.newBuilder().setNamespace("default").setName(name).build());
    }

    private void awaitApp(String name, String what, java.util.function.Predicate<App> done) {
        try {
            AppControllerTest.await(what, () -> done.test(get(name)));
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "; the app is now " + get(name).getStatus(), e);
        }
    }

    private Map<String, String> placed(String app) {
        Map<String, String> placed = new TreeMap<>();
        for (Entry<Assignment> e : caches.assignments().all()) {
            if (e.value().getApp().equals(app)) {
                placed.put(e.value().getReplica(), e.value().getNode());
            }
        }
        return placed;
    }

    @Test
    void anAppSpreadOverTwoPoolsRunsInEachAndRollsPoolAThenPoolB() {
        for (String node : List.of("spread-a1", "spread-a2")) {
            store.put(Keys.node(node), poolNode(node, "site-a").toByteArray());
        }
        store.put(Keys.node("spread-b1"), poolNode("spread-b1", "site-b").toByteArray());
        store.put(Keys.node("spread-x1"), AppControllerTest.node("spread-x1", APP).toByteArray()); // in no pool
        App app = spread(APP, 2, PoolReplicas.newBuilder().setName("site-a").setReplicas(3).build(), pool("site-b"));
        app = app.toBuilder().setSpec(app.getSpec().toBuilder().setStrategy(RolloutStrategy.newBuilder().setPoolByPool(true)
                .setRollingUpdate(RollingUpdate.newBuilder().setMaxSurge("1").setMaxUnavailable("0")))).build();
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app).build());
        awaitApp(APP, "5 replicas ready", a -> a.getStatus().getReadyReplicas() == 5);

        Map<String, String> placed = placed(APP);
        assertEquals(List.of("spread-site-a-0", "spread-site-a-1", "spread-site-a-2", "spread-site-b-0", "spread-site-b-1"),
                new ArrayList<>(placed.keySet()));
        placed.forEach((replica, node) -> assertTrue(node.startsWith(replica.contains("-site-a-") ? "spread-a" : "spread-b"),
                replica + " on " + node));
        App running = get(APP);
        assertEquals(5, running.getStatus().getDesiredReplicas(), "the sum over the pools");
        assertEquals(List.of(
                AppPoolStatus.newBuilder().setName("site-a").setDesiredReplicas(3).setReadyReplicas(3).setAvailableReplicas(3)
                        .setUpdatedReplicas(3).build(),
                AppPoolStatus.newBuilder().setName("site-b").setDesiredReplicas(2).setReadyReplicas(2).setAvailableReplicas(2)
                        .setUpdatedReplicas(2).build()), running.getStatus().getPoolsList());

        App v2 = running.toBuilder().clearStatus().setSpec(running.getSpec().toBuilder().setTemplate(running.getSpec().getTemplate()
                .toBuilder().setContainers(0, running.getSpec().getTemplate().getContainers(0).toBuilder().setImage("img:2")))).build();
        rolling = TemplateHashes.of(v2.getSpec().getTemplate());
        api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(v2).build());
        awaitApp(APP, "revision 2 complete", a -> a.getStatus().getRollout().getRevision() == 2
                && a.getStatus().getRollout().getPhase() == RolloutStatus.Phase.COMPLETE && a.getStatus().getUpdatedReplicas() == 5
                && a.getStatus().getReadyReplicas() == 5);
        assertTrue(outOfOrder.isEmpty(), "site-b waited for site-a: " + outOfOrder);
        assertEquals(5, placed(APP).size());
        placed(APP).forEach((replica, node) -> assertTrue(node.startsWith(replica.contains("-site-a-") ? "spread-a" : "spread-b"),
                replica + " on " + node + " after the rollout"));

        store.delete(Keys.app("default", APP));
        AppControllerTest.await("replicas gone", () -> placed(APP).isEmpty());
    }

    @Test
    void aPoolWithNoNodesKeepsItsReplicasPendingWithAMessage() {
        store.put(Keys.node("spread-c1"), poolNode("spread-c1", "site-c").toByteArray());
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(spread("spread-empty", 1, pool("site-c"), pool("site-nowhere")))
                .build());
        awaitApp("spread-empty", "site-c placed, site-nowhere pending", a -> placed("spread-empty").equals(
                Map.of("spread-empty-site-c-0", "spread-c1")) && a.getStatus().getMessage().equals("pool site-nowhere: 0 nodes"));
        assertEquals(2, get("spread-empty").getStatus().getDesiredReplicas());
        store.delete(Keys.app("default", "spread-empty"));
        AppControllerTest.await("replicas gone", () -> placed("spread-empty").isEmpty());
    }

    @Test
    void poolsAreCheckedNamingTheField() {
        App base = spread("badpools", 1);
        Map<String, AppSpec> bad = Map.of(
                "app.spec.pools[1].name", base.getSpec().toBuilder().addPools(pool("a")).addPools(pool("a")).build(),
                "app.spec.pools[0].name", base.getSpec().toBuilder().addPools(pool("Not_A_Label")).build(),
                "app.spec.pools[0].replicas", base.getSpec().toBuilder().addPools(PoolReplicas.newBuilder().setName("a").setReplicas(-1))
                        .build(),
                "app.spec.pools", base.getSpec().toBuilder().setMode(AppSpec.Mode.EVERY_NODE).addPools(pool("a")).build(),
                "app.spec.strategy.pool_by_pool", base.getSpec().toBuilder().setStrategy(RolloutStrategy.newBuilder().setPoolByPool(true))
                        .build());
        bad.forEach((field, spec) -> {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> api.apps().createApp(
                    CreateAppRequest.newBuilder().setApp(base.toBuilder().setSpec(spec)).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().contains(field), field + ": " + e.getStatus().getDescription());
        });
        AppSpec.Builder many = base.getSpec().toBuilder();
        for (int i = 0; i < 65; i++) {
            many.addPools(pool("p" + i));
        }
        StatusRuntimeException tooMany = assertThrows(StatusRuntimeException.class, () -> api.apps().createApp(
                CreateAppRequest.newBuilder().setApp(base.toBuilder().setSpec(many)).build()));
        assertTrue(tooMany.getStatus().getDescription().contains("at most 64 pools"), tooMany.getStatus().getDescription());
        assertTrue(store.get(Keys.app("default", "badpools")).isEmpty(), "nothing written");
    }
}
