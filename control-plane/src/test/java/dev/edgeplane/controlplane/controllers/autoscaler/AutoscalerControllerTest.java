package dev.edgeplane.controlplane.controllers.autoscaler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Autoscaler;
import dev.edgeplane.api.v1.AutoscalerBehavior;
import dev.edgeplane.api.v1.AutoscalerCondition;
import dev.edgeplane.api.v1.AutoscalerServiceGrpc;
import dev.edgeplane.api.v1.AutoscalerSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateAutoscalerRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.Event;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.GetAutoscalerRequest;
import dev.edgeplane.api.v1.MetricKind;
import dev.edgeplane.api.v1.MetricTarget;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PoolReplicas;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.Resources;
import dev.edgeplane.api.v1.ScalingRules;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.events.EventStore;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.metrics.AgentMetrics;
import dev.edgeplane.controlplane.metrics.MetricsStore;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The AutoscalerController against real etcd and the real App controller: nodes are written straight to
 * etcd; a loop stands in for the agents, reporting each assigned replica running and ready and feeding
 * its container's CPU into the metrics store as an agent's stream would, at a per-replica load the test
 * sets. It scales an App up under load (at the HPA's rate), down after a shortened stabilisation window
 * once idle, never down through a metrics gap (node UNREACHABLE, no metrics), each pool on its own, and
 * says so when its App is deleted.
 */
@QuarkusTest
@TestProfile(AutoscalerTestProfile.class)
@QuarkusTestResource(EtcdTestResource.class)
class AutoscalerControllerTest {
    private static final String NS = "hpa";
    private static final Duration WAIT = Duration.ofSeconds(30);

    @Inject
    StateCaches caches;
    @Inject
    EtcdStore store;
    @Inject
    LeaderLock leader;
    @Inject
    AgentMetrics metrics;
    @Inject
    EventStore events;

    private TestApi api;
    private AutoscalerServiceGrpc.AutoscalerServiceBlockingStub autoscalers;
    private ScheduledExecutorService agents;
    /** App -> CPU cores each of its replicas uses now. */
    private final Map<String, Double> load = new ConcurrentHashMap<>();
    /** Nodes whose agents are silent (no statuses, no metrics). */
    private final Set<String> silent = ConcurrentHashMap.newKeySet();

    @BeforeEach
    void start() {
        TestApi.await("leadership", WAIT, () -> leader.isLeader());
        api = new TestApi();
        autoscalers = api.withToken(AutoscalerServiceGrpc.newBlockingStub(api.channel), api.adminToken);
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
            long now = System.currentTimeMillis();
            for (Entry<Assignment> e : caches.assignments().all()) {
                Assignment a = e.value();
                Double cores = load.get(a.getApp());
                String ns = a.getNamespace();
                if (!ns.startsWith(NS) || cores == null || a.getReplica().isEmpty() || silent.contains(a.getNode())) {
                    continue;
                }
                Entry<ReplicaStatus> current = caches.replicaStatuses().get(Keys.replicaStatus(ns, a.getReplica()));
                if (current == null || current.value().getGeneration() != a.getGeneration() || !current.value().getNode().equals(a.getNode())) {
                    store.put(Keys.replicaStatus(ns, a.getReplica()), ReplicaStatus.newBuilder().setName(a.getReplica()).setNamespace(ns)
                            .setApp(a.getApp()).setNode(a.getNode()).setGeneration(a.getGeneration()).setPhase(ReplicaStatus.Phase.RUNNING)
                            .setReady(true).setReadyTransitionTime(Joiner.timestamp(Instant.now())).build().toByteArray());
                }
                MetricsStore m = metrics.store();
                m.add(m.seriesFor(m.key(AutoscalerController.CPU_SERIES, Map.of("namespace", ns, "app", a.getApp(), "replica", a.getReplica(),
                        "container", "main"), a.getNode()), MetricKind.GAUGE), now, cores, false);
            }
        } catch (RuntimeException e) {
            // the next pass tries again
        }
    }

    private void node(String name, String pool, NodeStatus.Phase phase) {
        store.put(Keys.node(name), Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).putLabels("group", pool)
                        .putLabels("edgeplane.dev/pool", pool))
                .setStatus(NodeStatus.newBuilder().setPhase(phase).setLastHeartbeat(Joiner.timestamp(Instant.now()))).build().toByteArray());
    }

    private void app(String name, int replicas, String group, PoolReplicas... pools) {
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(App.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(NS).setName(name))
                .setSpec(AppSpec.newBuilder().setReplicas(replicas).putNodeSelector("group", group).addAllPools(java.util.List.of(pools))
                        .setTemplate(PodTemplate.newBuilder().addContainers(Container.newBuilder().setName("main").setImage("busybox:1")
                                .setRequests(Resources.newBuilder().setCpuMillis(500))))))
                .build());
    }

    private Autoscaler autoscaler(String name, String app, int min, int max, int downWindowSeconds) {
        return autoscalers.createAutoscaler(CreateAutoscalerRequest.newBuilder().setAutoscaler(Autoscaler.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(NS).setName(name))
                .setSpec(AutoscalerSpec.newBuilder().setTargetApp(app).setMinReplicas(min).setMaxReplicas(max)
                        .addMetrics(MetricTarget.newBuilder().setResource(MetricTarget.Resource.CPU).setTargetAverageUtilization(50))
                        .setBehavior(AutoscalerBehavior.newBuilder().setScaleDown(ScalingRules.newBuilder()
                                .setStabilizationWindowSeconds(downWindowSeconds))))).build());
    }

    private App app(String name) {
        return api.apps().getApp(GetAppRequest.newBuilder().setNamespace(NS).setName(name).build());
    }

    private Autoscaler get(String name) {
        return autoscalers.getAutoscaler(GetAutoscalerRequest.newBuilder().setNamespace(NS).setName(name).build());
    }

    private static AutoscalerCondition condition(Autoscaler a, String type) {
        return a.getStatus().getConditionsList().stream().filter(c -> c.getType().equals(type)).findFirst()
                .orElse(AutoscalerCondition.getDefaultInstance());
    }

    @Test
    void scalesUpUnderLoadAtTheHpaRateAndDownOnceIdleAfterTheWindow() {
        node("up-1", "up", NodeStatus.Phase.READY);
        node("up-2", "up", NodeStatus.Phase.READY);
        app("busy", 1, "up");
        load.put("busy", 0.5); // 100% of the 500m request against a 50% target: double
        autoscaler("busy-hpa", "busy", 1, 5, 3);
        TestApi.await("busy scaled to its max", WAIT, () -> app("busy").getSpec().getReplicas() == 5);
        Autoscaler scaled = get("busy-hpa");
        assertTrue(scaled.getStatus().getHistoryCount() >= 2, "1 -> 2 -> 4 -> 5: " + scaled.getStatus().getHistoryList());
        assertEquals(1, scaled.getStatus().getHistory(scaled.getStatus().getHistoryCount() - 1).getFromReplicas());
        assertEquals(2, scaled.getStatus().getHistory(scaled.getStatus().getHistoryCount() - 1).getToReplicas(),
                "the first step doubles 1 (the metric of one replica: ceil(1 * 100/50))");
        assertEquals("cpu resource utilization (percentage of request) above target", scaled.getStatus().getHistory(0).getReason());
        assertTrue(scaled.getStatus().hasLastScaleTime());
        TestApi.await("ScalingLimited TooManyReplicas at 5", WAIT, () -> condition(get("busy-hpa"), "ScalingLimited").getReason()
                .equals("TooManyReplicas") && get("busy-hpa").getStatus().getCurrentReplicas() == 5);
        Autoscaler limited = get("busy-hpa");
        assertEquals(100, limited.getStatus().getCurrentMetrics(0).getCurrentAverageUtilization(), limited.getStatus().toString());
        assertEquals(5, limited.getStatus().getCurrentReplicas());
        events.awaitOwnWrites(Duration.ofSeconds(5));
        TestApi.await("a SuccessfulRescale event", WAIT, () -> events.loadedCache(WAIT).all().stream().map(Entry::value)
                .anyMatch((Event e) -> e.getReason().equals("SuccessfulRescale") && e.getInvolvedObject().getName().equals("busy-hpa")));

        load.put("busy", 0.05); // 10%: one replica is enough
        long idleAt = System.nanoTime();
        TestApi.await("busy scaled down", WAIT, () -> app("busy").getSpec().getReplicas() == 1);
        // The window runs from the last busy recommendation, which an evaluation may make up to a period before the drop.
        assertTrue(System.nanoTime() - idleAt >= Duration.ofMillis(3000 - 300).toNanos(), "not before the 3 s window");
        assertEquals("cpu resource utilization (percentage of request) below target", get("busy-hpa").getStatus().getHistory(0).getReason());
    }

    @Test
    void aMetricsGapNeverScalesDown() throws Exception {
        node("gap-1", "gap", NodeStatus.Phase.READY);
        app("quiet", 3, "gap");
        load.put("quiet", 0.05);
        TestApi.await("quiet's replicas reported", WAIT, () -> caches.replicaStatuses().list(Keys.REPLICA_STATUS + NS + "/quiet-").size() == 3);
        // The node goes away: no statuses, no metrics from it any more.
        silent.add("gap-1");
        node("gap-1", "gap", NodeStatus.Phase.UNREACHABLE);
        autoscaler("quiet-hpa", "quiet", 1, 5, 1);
        TestApi.await("ScalingActive false for the gap", WAIT, () -> condition(get("quiet-hpa"), "ScalingActive").getReason()
                .equals("MetricsGap"));
        Thread.sleep(4000); // several evaluations and windows
        assertEquals(3, app("quiet").getSpec().getReplicas(), "idle but silent: kept");
        Autoscaler a = get("quiet-hpa");
        assertEquals("False", condition(a, "ScalingActive").getStatus());
        assertEquals(0, a.getStatus().getHistoryCount());

        // Back, metrics flowing again (fresh ones): idle, so it goes down.
        node("gap-1", "gap", NodeStatus.Phase.READY);
        silent.remove("gap-1");
        TestApi.await("quiet scaled down after the gap", WAIT, () -> app("quiet").getSpec().getReplicas() == 1);
    }

    @Test
    void eachPoolScalesOnItsOwnReplicas() {
        node("pool-a-1", "site-a", NodeStatus.Phase.READY);
        node("pool-b-1", "site-b", NodeStatus.Phase.READY);
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(App.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(NS).setName("pooled"))
                .setSpec(AppSpec.newBuilder().setReplicas(2)
                        .addPools(PoolReplicas.newBuilder().setName("site-a")).addPools(PoolReplicas.newBuilder().setName("site-b"))
                        .setTemplate(PodTemplate.newBuilder().addContainers(Container.newBuilder().setName("main").setImage("busybox:1")
                                .setRequests(Resources.newBuilder().setCpuMillis(500))))))
                .build());
        // site-a's replicas are busy, site-b's idle: the agents' loop feeds per App, so split by node here.
        load.put("pooled", 0.05);
        silent.add("pool-a-1");
        ScheduledExecutorService busyA = Executors.newSingleThreadScheduledExecutor();
        busyA.scheduleWithFixedDelay(() -> {
            long now = System.currentTimeMillis();
            for (Entry<Assignment> e : caches.assignments().list(Keys.assignmentsOf("pool-a-1"))) {
                Assignment a = e.value();
                if (!a.getApp().equals("pooled")) {
                    continue;
                }
                store.put(Keys.replicaStatus(NS, a.getReplica()), ReplicaStatus.newBuilder().setName(a.getReplica()).setNamespace(NS)
                        .setApp(a.getApp()).setNode(a.getNode()).setGeneration(a.getGeneration()).setPhase(ReplicaStatus.Phase.RUNNING)
                        .setReady(true).build().toByteArray());
                MetricsStore m = metrics.store();
                m.add(m.seriesFor(m.key(AutoscalerController.CPU_SERIES, Map.of("namespace", NS, "app", a.getApp(), "replica",
                        a.getReplica(), "container", "main"), a.getNode()), MetricKind.GAUGE), now, 0.5, false);
            }
        }, 0, 200, TimeUnit.MILLISECONDS);
        try {
            autoscaler("pooled-hpa", "pooled", 2, 6, 3);
            TestApi.await("site-a grown, site-b kept", WAIT, () -> app("pooled").getSpec().getPools(0).getReplicas() == 6);
            App pooled = app("pooled");
            assertTrue(!pooled.getSpec().getPools(1).hasReplicas() || pooled.getSpec().getPools(1).getReplicas() == 2,
                    "site-b is at its min: " + pooled.getSpec());
            Autoscaler a = get("pooled-hpa");
            assertEquals("site-a", a.getStatus().getHistory(0).getPool());
            assertEquals(java.util.List.of("site-a", "site-b"), a.getStatus().getPoolsList().stream().map(p -> p.getName()).toList());
        } finally {
            busyA.shutdownNow();
        }
    }

    @Test
    void aQuotaStopsTheScaleUpAndTheStatusSaysWhy() {
        String ns = NS + "-quota";
        api.withToken(dev.edgeplane.api.v1.QuotaServiceGrpc.newBlockingStub(api.channel), api.adminToken)
                .createQuota(dev.edgeplane.api.v1.CreateQuotaRequest.newBuilder().setQuota(dev.edgeplane.api.v1.Quota.newBuilder()
                        .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName("small"))
                        .setSpec(dev.edgeplane.api.v1.QuotaSpec.newBuilder().setHard(dev.edgeplane.api.v1.QuotaAmounts.newBuilder()
                                .setReplicas(3)))).build());
        node("quota-1", "quota", NodeStatus.Phase.READY);
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(App.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName("capped"))
                .setSpec(AppSpec.newBuilder().setReplicas(1).putNodeSelector("group", "quota")
                        .setTemplate(PodTemplate.newBuilder().addContainers(Container.newBuilder().setName("main").setImage("busybox:1")
                                .setRequests(Resources.newBuilder().setCpuMillis(500)))))).build());
        load.put("capped", 0.5);
        autoscalers.createAutoscaler(CreateAutoscalerRequest.newBuilder().setAutoscaler(Autoscaler.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName("capped-hpa"))
                .setSpec(AutoscalerSpec.newBuilder().setTargetApp("capped").setMaxReplicas(8)
                        .addMetrics(MetricTarget.newBuilder().setResource(MetricTarget.Resource.CPU).setTargetAverageUtilization(50))))
                .build());
        TestApi.await("AbleToScale False (FailedUpdateScale)", WAIT, () -> condition(autoscalers.getAutoscaler(GetAutoscalerRequest
                .newBuilder().setNamespace(ns).setName("capped-hpa").build()), "AbleToScale").getReason().equals("FailedUpdateScale"));
        Autoscaler a = autoscalers.getAutoscaler(GetAutoscalerRequest.newBuilder().setNamespace(ns).setName("capped-hpa").build());
        assertTrue(condition(a, "AbleToScale").getMessage().contains("quota " + ns + "/small"), condition(a, "AbleToScale").getMessage());
        int replicas = api.apps().getApp(GetAppRequest.newBuilder().setNamespace(ns).setName("capped").build()).getSpec().getReplicas();
        assertTrue(replicas <= 3, "within the quota: " + replicas);
    }

    @Test
    void anAutoscalerWhoseAppIsDeletedSaysSo() {
        node("gone-1", "gone", NodeStatus.Phase.READY);
        app("ephemeral", 1, "gone");
        autoscaler("ephemeral-hpa", "ephemeral", 1, 3, 300);
        api.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace(NS).setName("ephemeral").build());
        TestApi.await("AbleToScale false", WAIT, () -> condition(get("ephemeral-hpa"), "AbleToScale").getReason().equals("FailedGetScale"));
        AutoscalerCondition c = condition(get("ephemeral-hpa"), "AbleToScale");
        assertEquals("False", c.getStatus());
        assertTrue(c.getMessage().contains("does not exist"), c.getMessage());
    }
}
