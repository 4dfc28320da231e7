package dev.edgeplane.controlplane.controllers.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.TemplateHashes;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.PutOption;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The App controller against a real etcd: fairness under a large App, what wakes it, templates by hash. */
@QuarkusTest
@TestProfile(AppControllerTest.OneWorker.class)
@QuarkusTestResource(EtcdTestResource.class)
class AppControllerTest {
    private static final Duration WAIT = Duration.ofSeconds(120);
    static final int BUDGET = 1000;

    /** One worker makes the queue's interleaving exact; nodes without agents stay as written. */
    public static class OneWorker implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("edgeplane.scheduler.workers", "1",
                    "edgeplane.scheduler.max-placements-per-reconcile", String.valueOf(BUDGET),
                    "edgeplane.scheduler.inline-templates", "false",
                    "edgeplane.node.unreachable-after", "1h");
        }
    }

    @Inject
    AppController controller;
    @Inject
    StateCaches caches;
    @Inject
    EtcdStore store;
    @Inject
    LeaderLock leader;

    @BeforeEach
    void leading() {
        await("leadership", () -> leader.isLeader());
    }

    static void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    static Node node(String name, String pool) {
        return Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).putLabels("pool", pool))
                .setStatus(NodeStatus.newBuilder().setPhase(NodeStatus.Phase.READY).setLastHeartbeat(Joiner.timestamp(Instant.now())))
                .build();
    }

    static App app(String name, int replicas, String pool, String image) {
        return App.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).setNamespace("default").setUid(name + "-uid").setGeneration(1))
                .setSpec(AppPlannerTest.app(name, replicas, image).getSpec().toBuilder().putNodeSelector("pool", pool))
                .build();
    }

    /** Writes straight to etcd, up to 100 keys per transaction. */
    private long putAll(Map<String, byte[]> values) {
        long revision = 0;
        List<Op> ops = new ArrayList<>();
        for (Map.Entry<String, byte[]> e : values.entrySet()) {
            ops.add(Op.put(EtcdStore.bytes(e.getKey()), EtcdStore.bytes(e.getValue()), PutOption.DEFAULT));
            if (ops.size() == 100) {
                revision = commit(ops);
                ops.clear();
            }
        }
        return ops.isEmpty() ? revision : commit(ops);
    }

    private long commit(List<Op> ops) {
        return store.await(store.client().getKVClient().txn().Then(ops.toArray(Op[]::new)).commit(), "txn").getHeader().getRevision();
    }

    private List<Entry<Assignment>> assignmentsOf(String app) {
        return caches.assignments().all().stream().filter(e -> e.value().getApp().equals(app)).toList();
    }

    private Set<String> templateKeys(String app) {
        return store.listAll(Keys.templatesOf("default", app)).entries().stream().map(Entry::key).collect(Collectors.toSet());
    }

    private void deleteApp(String app) {
        store.delete(Keys.app("default", app));
        await(app + " gone", () -> assignmentsOf(app).isEmpty() && templateKeys(app).isEmpty());
    }

    @Test
    void otherAppsKeepBeingScheduledWhileOneLargeAppIsPlaced() {
        Map<String, byte[]> nodes = new java.util.TreeMap<>();
        for (int i = 0; i < 300; i++) {
            nodes.put(Keys.node("fleet-" + i), node("fleet-" + i, "fleet").toByteArray());
        }
        putAll(nodes);
        await("nodes seen", () -> caches.nodes().all().size() >= 300);
        int large = 20_000;
        // Both in one transaction, the large one first: they are queued together, large ahead.
        Map<String, byte[]> apps = new java.util.LinkedHashMap<>();
        apps.put(Keys.app("default", "large"), app("large", large, "fleet", "img:1").toByteArray());
        apps.put(Keys.app("default", "small"), app("small", 3, "fleet", "img:1").toByteArray());
        putAll(apps);

        await("small placed", () -> assignmentsOf("small").size() == 3);
        long smallDone = assignmentsOf("small").stream().mapToLong(Entry::modRevision).max().orElseThrow();
        await("large placed", () -> assignmentsOf("large").size() == large);
        long largeWhenSmallDone = assignmentsOf("large").stream().filter(e -> e.createRevision() < smallDone).count();
        System.out.printf("large app: %d of %d replicas placed when the small one was complete%n", largeWhenSmallDone, large);
        assertTrue(largeWhenSmallDone < large, "the small App did not wait for the large one");
        assertTrue(largeWhenSmallDone <= 2L * BUDGET, "at most a budget or two ahead of it: " + largeWhenSmallDone);

        Map<String, Long> perNode = assignmentsOf("large").stream().collect(Collectors.groupingBy(e -> e.value().getNode(), Collectors.counting()));
        assertEquals(300, perNode.size());
        assertTrue(perNode.values().stream().allMatch(n -> n >= 66 && n <= 67), "spread evenly: " + perNode.values().stream().distinct().toList());
        deleteApp("large");
        deleteApp("small");
    }

    @Test
    void aConfigMapChangeRewritesTheAssignmentsOfTheAppsUsingItAndWakesNoOther() {
        App uses = app("configured", 2, "cfg", "img:1");
        uses = uses.toBuilder().setSpec(uses.getSpec().toBuilder().setTemplate(uses.getSpec().getTemplate().toBuilder()
                .addVolumes(dev.edgeplane.api.v1.PodVolume.newBuilder().setName("cfg")
                        .setConfigMap(dev.edgeplane.api.v1.ConfigMapVolumeSource.newBuilder().setName("site-config"))))).build();
        long written = putAll(Map.of(Keys.node("cfg-1"), node("cfg-1", "cfg").toByteArray(), Keys.app("default", "configured"),
                uses.toByteArray(), Keys.app("default", "bystander"), app("bystander", 1, "cfg", "img:1").toByteArray()));
        await("both placed, the ConfigMap missing", () -> assignmentsOf("configured").size() == 2 && assignmentsOf("bystander").size() == 1
                && controller.quiet() && caches.apps().revision() >= written);
        for (Entry<Assignment> e : assignmentsOf("configured")) {
            assertEquals(0, e.value().getConfigs(0).getVersion(), "missing when placed: version 0");
        }
        long bystanderWakes = controller.wakes("default", "bystander");

        long created = store.put(Keys.configMap("default", "site-config"), dev.edgeplane.api.v1.ConfigMap.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName("site-config")).putData("k", "v1").build().toByteArray());
        await("the new version in every assignment of the App using it", () -> assignmentsOf("configured").stream()
                .allMatch(e -> e.value().getConfigs(0).getVersion() == created));
        long updated = store.put(Keys.configMap("default", "site-config"), dev.edgeplane.api.v1.ConfigMap.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName("site-config")).putData("k", "v2").build().toByteArray());
        await("and again", () -> assignmentsOf("configured").stream().allMatch(e -> e.value().getConfigs(0).getVersion() == updated));
        await("quiet", controller::quiet);
        assertEquals(bystanderWakes, controller.wakes("default", "bystander"), "an App not using it is not woken");
        deleteApp("configured");
        deleteApp("bystander");
    }

    @Test
    void aNodeStatusOnlyChangeWakesNoAppButAPlacementChangeDoes() {
        Node quiet = node("quiet-1", "quiet");
        long written = putAll(Map.of(Keys.node("quiet-1"), quiet.toByteArray(), Keys.app("default", "calm"),
                app("calm", 2, "quiet", "img:1").toByteArray()));
        // Quiet too: the reconcile that placed it may requeue itself once to see its own writes.
        await("calm placed", () -> assignmentsOf("calm").size() == 2 && caches.nodes().revision() >= written && controller.quiet());
        long wakes = controller.wakes("default", "calm");
        long reconciles = controller.reconciles("default", "calm");

        Node heartbeat = quiet.toBuilder().setStatus(quiet.getStatus().toBuilder().setLastHeartbeat(Joiner.timestamp(Instant.now().plusSeconds(30)))
                .setAppliedRevision(written).setRunningReplicas(2).setDesiredReplicas(2)).build();
        long status = store.put(Keys.node("quiet-1"), heartbeat.toByteArray());
        await("status seen", () -> caches.nodes().revision() >= status);
        assertEquals(wakes, controller.wakes("default", "calm"), "a heartbeat wakes nothing");
        assertEquals(reconciles, controller.reconciles("default", "calm"), "so nothing is reconciled");

        long labelled = store.put(Keys.node("quiet-1"), heartbeat.toBuilder().setMetadata(heartbeat.getMetadata().toBuilder()
                .putLabels("zone", "x")).build().toByteArray());
        await("label seen", () -> caches.nodes().revision() >= labelled);
        assertTrue(controller.wakes("default", "calm") > wakes, "a label change wakes the Apps placed there");
        await("reconciled", () -> controller.reconciles("default", "calm") > reconciles);
        deleteApp("calm");
    }

    @Test
    void aPhaseChangeWakesOnlyTheAppsThatMayGiveTheNodeUp() {
        Node node = node("phase-1", "phase");
        App strict = app("strict", 1, "phase", "img:1");
        strict = strict.toBuilder().setSpec(strict.getSpec().toBuilder()
                .setRescheduleAfterUnreachable(com.google.protobuf.Duration.newBuilder().setSeconds(3600))).build();
        long written = putAll(Map.of(Keys.node("phase-1"), node.toByteArray(),
                Keys.app("default", "steady"), app("steady", 2, "phase", "img:1").toByteArray(),
                Keys.app("default", "strict"), strict.toByteArray()));
        // Quiet too: a reconcile still under way (or queued by its own writes' events) would count as a wake below.
        await("both placed", () -> assignmentsOf("steady").size() == 2 && assignmentsOf("strict").size() == 1
                && caches.nodes().revision() >= written && controller.quiet());
        long steadyWakes = controller.wakes("default", "steady");
        long strictWakes = controller.wakes("default", "strict");

        // From the node as stored now, so that the phase is all that changes: a field written meanwhile by
        // another controller and put back here would be a change that concerns every App on the node.
        Node current = store.get(Keys.node("phase-1"), Node.parser()).orElseThrow().value();
        assertEquals(NodeStatus.Phase.READY, current.getStatus().getPhase(), current.toString());
        long unreachable = store.put(Keys.node("phase-1"), current.toBuilder()
                .setStatus(current.getStatus().toBuilder().setPhase(NodeStatus.Phase.UNREACHABLE)).build().toByteArray());
        await("the phase seen", () -> caches.nodes().revision() >= unreachable);
        assertTrue(controller.wakes("default", "strict") > strictWakes, "reschedule_after_unreachable depends on the phase");
        assertEquals(steadyWakes, controller.wakes("default", "steady"), "an autonomous App stays whatever the phase");
        deleteApp("steady");
        deleteApp("strict");
    }

    @Test
    void replicasThatFitNowhereWaitSayingWhyAndAreCountedAgainstTheirNode() {
        Node small = node("fit-1", "fit");
        small = small.toBuilder().setStatus(small.getStatus().toBuilder()
                .setCapacity(dev.edgeplane.api.v1.Resources.newBuilder().setCpuMillis(1000).setMemoryBytes(512L << 20))).build();
        Node other = small.toBuilder().setMetadata(small.getMetadata().toBuilder().setName("fit-2")).build();
        App ported = app("ported", 3, "fit", "img:1");
        dev.edgeplane.api.v1.Container c = ported.getSpec().getTemplate().getContainers(0).toBuilder()
                .setRequests(dev.edgeplane.api.v1.Resources.newBuilder().setMemoryBytes(128L << 20))
                .addPorts(dev.edgeplane.api.v1.ContainerPort.newBuilder().setContainerPort(8088).setHostPort(8088)).build();
        ported = ported.toBuilder().setSpec(ported.getSpec().toBuilder().setTemplate(ported.getSpec().getTemplate().toBuilder().setContainers(0, c))).build();
        putAll(Map.of(Keys.node("fit-1"), small.toByteArray(), Keys.node("fit-2"), other.toByteArray(),
                Keys.app("default", "ported"), ported.toByteArray()));
        await("two placed, one per node", () -> assignmentsOf("ported").size() == 2
                && controller.unschedulable("default", "ported").isPresent());
        assertEquals(Set.of("fit-1", "fit-2"), assignmentsOf("ported").stream().map(e -> e.value().getNode()).collect(Collectors.toSet()));
        String why = controller.unschedulable("default", "ported").get();
        // Other tests' nodes share this etcd: they count as not matching the selector.
        assertTrue(why.startsWith("0/") && why.contains("2 host port 8088/tcp in use"), why);
        Assignment one = assignmentsOf("ported").get(0).value();
        assertEquals(128L << 20, one.getRequests().getMemoryBytes(), "the assignment carries what it reserves");
        assertEquals(List.of("8088/tcp"), one.getHostPortsList());

        // Scaled to what fits: the reason goes.
        store.put(Keys.app("default", "ported"), ported.toBuilder().setSpec(ported.getSpec().toBuilder().setReplicas(2))
                .setMetadata(ported.getMetadata().toBuilder().setGeneration(2)).build().toByteArray());
        await("nothing left to place", () -> controller.unschedulable("default", "ported").isEmpty());
        deleteApp("ported");
    }

    @Test
    void anImageChangeWritesOneTemplateAndCollectsTheOldOne() throws Exception {
        putAll(Map.of(Keys.node("img-1"), node("img-1", "img").toByteArray(), Keys.node("img-2"), node("img-2", "img").toByteArray()));
        App v1 = app("web", 4, "img", "img:1");
        String h1 = TemplateHashes.of(v1.getSpec().getTemplate());
        store.put(Keys.app("default", "web"), v1.toByteArray());
        await("v1 placed", () -> assignmentsOf("web").size() == 4);
        assertEquals(Set.of(Keys.template("default", "web", h1)), templateKeys("web"));
        for (Entry<Assignment> e : assignmentsOf("web")) {
            assertEquals(h1, e.value().getTemplateHash());
            assertFalse(e.value().hasTemplate(), "the template is stored once, not in each assignment");
        }

        App v2 = v1.toBuilder().setSpec(app("web", 4, "img", "img:2").getSpec()).setMetadata(v1.getMetadata().toBuilder().setGeneration(2)).build();
        String h2 = TemplateHashes.of(v2.getSpec().getTemplate());
        store.put(Keys.app("default", "web"), v2.toByteArray());
        await("v2 everywhere", () -> assignmentsOf("web").stream().allMatch(e -> e.value().getTemplateHash().equals(h2)));
        Entry<byte[]> template = store.get(Keys.template("default", "web", h2)).orElseThrow();
        assertEquals(v2.getSpec().getTemplate(), PodTemplate.parseFrom(template.value()));
        long firstAssignment = assignmentsOf("web").stream().mapToLong(Entry::modRevision).min().orElseThrow();
        assertTrue(template.modRevision() < firstAssignment, "the template landed before any assignment naming it");
        await("old template collected", () -> templateKeys("web").equals(Set.of(Keys.template("default", "web", h2))));
        assertEquals(4, assignmentsOf("web").size(), "the same four replicas, rewritten in place");
        deleteApp("web");
    }

    @Test
    void anImageChangeOfALargeAppIsPlannedOnceWhenNoOtherAppWaits() {
        putAll(Map.of(Keys.node("big-1"), node("big-1", "big").toByteArray(), Keys.node("big-2"), node("big-2", "big").toByteArray()));
        App v1 = app("large", 2500, "big", "img:1"); // more than max-writes-per-reconcile (2000)
        store.put(Keys.app("default", "large"), v1.toByteArray());
        await("v1 placed", () -> assignmentsOf("large").size() == 2500 && controller.quiet());
        long plans = controller.writtenPlans("default", "large");

        App v2 = v1.toBuilder().setSpec(app("large", 2500, "big", "img:2").getSpec())
                .setMetadata(v1.getMetadata().toBuilder().setGeneration(2)).build();
        String h2 = TemplateHashes.of(v2.getSpec().getTemplate());
        store.put(Keys.app("default", "large"), v2.toByteArray());
        await("v2 everywhere", () -> assignmentsOf("large").stream().allMatch(e -> e.value().getTemplateHash().equals(h2))
                && controller.quiet());
        assertEquals(plans + 1, controller.writtenPlans("default", "large"),
                "2,500 writes from one plan (in chunks), not a re-plan per 2,000 after waiting to see them");
        deleteApp("large");
    }

    @Test
    void aReplicaStatusChangeTheRolloutDoesNotReadWakesNoApp() {
        putAll(Map.of(Keys.node("st-1"), node("st-1", "st").toByteArray(), Keys.app("default", "reporting"),
                app("reporting", 1, "st", "img:1").toByteArray()));
        await("placed", () -> assignmentsOf("reporting").size() == 1 && controller.quiet());
        Assignment a = assignmentsOf("reporting").get(0).value();
        dev.edgeplane.api.v1.ReplicaStatus pending = dev.edgeplane.api.v1.ReplicaStatus.newBuilder().setName(a.getReplica())
                .setNamespace("default").setApp("reporting").setNode(a.getNode()).setGeneration(a.getGeneration())
                .setPhase(dev.edgeplane.api.v1.ReplicaStatus.Phase.PENDING).setUpdateTime(Joiner.timestamp(Instant.now())).build();
        long wakes = controller.wakes("default", "reporting");
        long first = store.put(Keys.replicaStatus("default", a.getReplica()), pending.toByteArray());
        await("the first report seen", () -> caches.replicaStatuses().revision() >= first && controller.wakes("default", "reporting") > wakes
                && controller.quiet());
        long seen = controller.wakes("default", "reporting");

        long again = store.put(Keys.replicaStatus("default", a.getReplica()), pending.toBuilder().setRestartCount(1).setMessage("pulling")
                .setUpdateTime(Joiner.timestamp(Instant.now().plusSeconds(10))).build().toByteArray());
        await("the repeat seen", () -> caches.replicaStatuses().revision() >= again);
        assertEquals(seen, controller.wakes("default", "reporting"), "update time, restarts and messages are not the rollout's");

        long ready = store.put(Keys.replicaStatus("default", a.getReplica()), pending.toBuilder()
                .setPhase(dev.edgeplane.api.v1.ReplicaStatus.Phase.RUNNING).setReady(true).build().toByteArray());
        await("running seen", () -> caches.replicaStatuses().revision() >= ready);
        assertTrue(controller.wakes("default", "reporting") > seen, "readiness moves the rollout on");
        deleteApp("reporting");
    }
}
