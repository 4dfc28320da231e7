package dev.edgeplane.controlplane.controllers.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.AppPools;
import dev.edgeplane.api.TemplateHashes;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeSpec;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PoolReplicas;
import dev.edgeplane.api.v1.VolumeSnapshotTask;
import dev.edgeplane.controlplane.events.Occurrence;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.scheduler.NodeIndex;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.Write;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The plan for one App (pure): templates by hash, budgets, repairs, removal, time-based rechecks. */
class AppPlannerTest {
    private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");

    static Node node(String name, NodeStatus.Phase phase) {
        return Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(NodeSpec.getDefaultInstance())
                .setStatus(NodeStatus.newBuilder().setPhase(phase).setLastHeartbeat(Joiner.timestamp(NOW.minusSeconds(60))))
                .build();
    }

    static App app(String name, int replicas, String image) {
        return App.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).setNamespace("default").setGeneration(1))
                .setSpec(AppSpec.newBuilder().setReplicas(replicas)
                        .setTemplate(PodTemplate.newBuilder().addContainers(Container.newBuilder().setName("main").setImage(image))))
                .build();
    }

    /** A world of nodes and the assignments in etcd, fed back with each plan's writes as the informer would. */
    private static final class World {
        final NodeIndex nodes = new NodeIndex();
        final AssignmentsByApp index = new AssignmentsByApp(nodes);
        final Map<String, Entry<Assignment>> etcd = new HashMap<>();
        final Set<String> templates = new HashSet<>();
        List<dev.edgeplane.api.v1.ConfigRef> configs = List.of();
        long revision = 10;

        World(Node... nodes) {
            for (Node n : nodes) {
                this.nodes.put(n);
            }
        }

        AppPlanner.Plan plan(App app, AppPlanner.Budget budget) {
            return AppPlanner.plan(new AppPlanner.Inputs("default", app.getMetadata().getName(), app, index.of("default/" + app.getMetadata().getName()),
                    nodes, Map.of(), configs, Set.copyOf(templates), NOW, false), budget);
        }

        AppPlanner.Plan planDeleted(String name) {
            return AppPlanner.plan(new AppPlanner.Inputs("default", name, null, index.of("default/" + name),
                    nodes, Map.of(), List.of(), Set.copyOf(templates), NOW, false), AppPlanner.Budget.UNLIMITED);
        }

        void apply(AppPlanner.Plan plan) {
            for (Write w : plan.templates()) {
                templates.add(w.key().substring(w.key().lastIndexOf('/') + 1));
            }
            for (Write w : plan.writes()) {
                if (!w.key().startsWith(Keys.ASSIGNMENTS)) {
                    continue; // replica status
                }
                Entry<Assignment> before = etcd.remove(w.key());
                if (before != null) {
                    index.remove(before);
                }
                if (!w.isDelete()) {
                    Entry<Assignment> e = new Entry<>(w.key(), parse(w.value()), ++revision, revision);
                    etcd.put(w.key(), e);
                    index.add(e);
                }
            }
            plan.templatesDeleted().forEach(templates::remove);
        }

        void put(Assignment a) {
            Entry<Assignment> e = new Entry<>(Keys.assignment(a.getNode(), a.getNamespace(), a.getReplica()), a, ++revision, revision);
            etcd.put(e.key(), e);
            index.add(e);
        }

        Map<String, String> placed(String app) {
            return index.of("default/" + app).stream().collect(Collectors.toMap(e -> e.value().getReplica(), e -> e.value().getNode()));
        }
    }

    static Assignment parse(byte[] bytes) {
        try {
            return Assignment.parseFrom(bytes);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
    }

    private static List<Assignment> puts(AppPlanner.Plan plan) {
        return plan.writes().stream().filter(w -> !w.isDelete()).map(w -> parse(w.value())).toList();
    }

    @Test
    void aNewAppStoresItsTemplateOnceAndItsAssignmentsReferenceItByHash() {
        World world = new World(node("a", NodeStatus.Phase.READY), node("b", NodeStatus.Phase.READY));
        App web = app("web", 4, "img:1");
        String hash = TemplateHashes.of(web.getSpec().getTemplate());
        AppPlanner.Plan plan = world.plan(web, AppPlanner.Budget.UNLIMITED);
        assertEquals(List.of(Keys.template("default", "web", hash)), plan.templates().stream().map(Write::key).toList());
        assertEquals(web.getSpec().getTemplate().toByteString(), com.google.protobuf.ByteString.copyFrom(plan.templates().get(0).value()));
        assertEquals(4, puts(plan).size());
        for (Assignment a : puts(plan)) {
            assertEquals(hash, a.getTemplateHash());
            assertFalse(a.hasTemplate(), "the template travels once, by hash");
        }
        assertEquals(4, plan.events().stream().filter(e -> e.reason().equals("Scheduled")).count());
        world.apply(plan);
        assertEquals(Map.of("a", 2L, "b", 2L), world.placed("web").values().stream()
                .collect(Collectors.groupingBy(n -> n, Collectors.counting())), "spread");

        AppPlanner.Plan again = world.plan(web, AppPlanner.Budget.UNLIMITED);
        assertTrue(again.isEmpty(), "nothing changed, nothing written: " + again);
        AppPlanner.Plan scaled = world.plan(web.toBuilder().setMetadata(web.getMetadata().toBuilder().setGeneration(2)).build(),
                AppPlanner.Budget.UNLIMITED);
        assertTrue(scaled.isEmpty(), "a new generation with the same template rewrites nothing");
    }

    @Test
    void aSettledAppWithAHostPathAndAPrivilegedContainerRewritesNothing() {
        // The policy facts of a template (privileged, host paths) are not in its assignments: comparing
        // them once made every pass rewrite the same assignment, and each write woke the App again.
        World world = new World(node("a", NodeStatus.Phase.READY));
        App base = app("agentish", 1, "img:1");
        PodTemplate template = base.getSpec().getTemplate().toBuilder()
                .setContainers(0, base.getSpec().getTemplate().getContainers(0).toBuilder()
                        .setSecurityContext(dev.edgeplane.api.v1.SecurityContext.newBuilder().setPrivileged(true)))
                .addVolumes(dev.edgeplane.api.v1.PodVolume.newBuilder().setName("logs")
                        .setHostPath(dev.edgeplane.api.v1.HostPathSource.newBuilder().setPath("/var/log")))
                .build();
        App app = base.toBuilder().setSpec(base.getSpec().toBuilder().setTemplate(template)).build();
        world.apply(world.plan(app, AppPlanner.Budget.UNLIMITED));
        assertEquals(Map.of("agentish-0", "a"), world.placed("agentish"));
        AppPlanner.Plan again = world.plan(app, AppPlanner.Budget.UNLIMITED);
        assertTrue(again.isEmpty(), "nothing changed, nothing written: " + again);
    }

    @Test
    void aConfigMapChangeRewritesTheAssignmentsThatUseItAndNothingElseDoes() {
        World world = new World(node("a", NodeStatus.Phase.READY), node("b", NodeStatus.Phase.READY));
        App web = app("web", 3, "img:1");
        var v1 = dev.edgeplane.api.v1.ConfigRef.newBuilder().setKind(dev.edgeplane.api.v1.ConfigRef.Kind.CONFIG_MAP)
                .setName("web-config").setVersion(41).build();
        world.configs = List.of(v1);
        world.apply(world.plan(web, AppPlanner.Budget.UNLIMITED));
        for (Entry<Assignment> e : world.index.of("default/web")) {
            assertEquals(List.of(v1), e.value().getConfigsList(), "each assignment names the version it runs with");
        }
        assertTrue(world.plan(web, AppPlanner.Budget.UNLIMITED).isEmpty(), "same versions: nothing written");

        var v2 = v1.toBuilder().setVersion(57).build();
        world.configs = List.of(v2);
        AppPlanner.Plan changed = world.plan(web, AppPlanner.Budget.UNLIMITED);
        assertEquals(3, puts(changed).size(), "every replica learns the new version");
        assertTrue(puts(changed).stream().allMatch(a -> a.getConfigsList().equals(List.of(v2))));
        assertTrue(changed.templates().isEmpty(), "the template is the same: only the version moved");
        assertTrue(changed.events().stream().noneMatch(e -> e.reason().equals("Rescheduled")), "nothing moves");
    }

    @Test
    void inlineTemplatesAreStillCopiedWhileAgentsNeedThem() {
        World world = new World(node("a", NodeStatus.Phase.READY));
        App web = app("web", 1, "img:1");
        AppPlanner.Plan plan = AppPlanner.plan(new AppPlanner.Inputs("default", "web", web, List.of(), world.nodes, Map.of(),
                List.of(), Set.of(), NOW, true), AppPlanner.Budget.UNLIMITED);
        Assignment a = puts(plan).get(0);
        assertEquals(web.getSpec().getTemplate(), a.getTemplate());
        assertEquals(TemplateHashes.of(web.getSpec().getTemplate()), a.getTemplateHash());
    }

    @Test
    void anImageChangeWritesOneTemplateAndCollectsTheOldOneOnceNoAssignmentNamesIt() {
        World world = new World(node("a", NodeStatus.Phase.READY), node("b", NodeStatus.Phase.READY));
        App v1 = app("web", 3, "img:1");
        world.apply(world.plan(v1, AppPlanner.Budget.UNLIMITED));
        String oldHash = TemplateHashes.of(v1.getSpec().getTemplate());
        App v2 = app("web", 3, "img:2");
        String newHash = TemplateHashes.of(v2.getSpec().getTemplate());

        AppPlanner.Plan change = world.plan(v2, new AppPlanner.Budget(1000, 2));
        assertEquals(List.of(Keys.template("default", "web", newHash)), change.templates().stream().map(Write::key).toList());
        assertEquals(2, change.writes().size(), "bounded by the write budget");
        assertTrue(change.more());
        assertTrue(change.templateDeletes().isEmpty(), "the old template is still referenced");
        assertTrue(puts(change).stream().allMatch(a -> a.getTemplateHash().equals(newHash)));
        assertTrue(change.events().isEmpty(), "a rewrite in place is not a (re)scheduling");
        world.apply(change);

        AppPlanner.Plan rest = world.plan(v2, new AppPlanner.Budget(1000, 2));
        assertTrue(rest.templates().isEmpty(), "stored once");
        assertEquals(1, rest.writes().size());
        assertTrue(rest.templateDeletes().isEmpty(), "one assignment still names it (as seen when planning)");
        world.apply(rest);

        AppPlanner.Plan gc = world.plan(v2, AppPlanner.Budget.UNLIMITED);
        assertTrue(gc.writes().isEmpty());
        assertEquals(List.of(Keys.template("default", "web", oldHash)), gc.templateDeletes().stream().map(Write::key).toList());
        assertTrue(gc.templateDeletes().get(0).isDelete());
        world.apply(gc);
        assertEquals(Set.of(newHash), world.templates);
    }

    @Test
    void theBudgetBoundsNewPlacementsAndTheRestFollowsWithoutTouchingWhatIsPlaced() {
        World world = new World(node("a", NodeStatus.Phase.READY), node("b", NodeStatus.Phase.READY), node("c", NodeStatus.Phase.READY));
        App big = app("big", 50, "img:1");
        AppPlanner.Budget budget = new AppPlanner.Budget(20, 1000);
        int rounds = 0;
        AppPlanner.Plan plan;
        do {
            plan = world.plan(big, budget);
            assertTrue(puts(plan).size() <= 20, "at most the budget of new placements");
            assertTrue(plan.writes().stream().allMatch(w -> !w.isDelete()), "nothing placed is removed while the rest waits");
            assertFalse(plan.pending(), "deferred is not pending");
            world.apply(plan);
            rounds++;
        } while (plan.more());
        assertEquals(3, rounds);
        assertEquals(50, world.placed("big").size());
        Map<String, Long> perNode = world.placed("big").values().stream().collect(Collectors.groupingBy(n -> n, Collectors.counting()));
        assertTrue(perNode.values().stream().allMatch(n -> n == 16 || n == 17), "spread evenly across rounds: " + perNode);
    }

    @Test
    void replicasWithNoFeasibleNodeArePendingAndRemovedReplicasGo() {
        World world = new World(node("a", NodeStatus.Phase.NOT_READY));
        AppPlanner.Plan none = world.plan(app("web", 2, "img:1"), AppPlanner.Budget.UNLIMITED);
        assertTrue(none.pending());
        assertTrue(puts(none).isEmpty());

        world.nodes.put(node("a", NodeStatus.Phase.READY));
        world.apply(world.plan(app("web", 2, "img:1"), AppPlanner.Budget.UNLIMITED));
        AppPlanner.Plan down = world.plan(app("web", 1, "img:1"), AppPlanner.Budget.UNLIMITED);
        assertEquals(List.of(Keys.assignment("a", "default", "web-1"), Keys.replicaStatus("default", "web-1")),
                down.writes().stream().map(Write::key).toList(), "scaled down: the assignment and its status go");
        assertFalse(down.pending());
    }

    @Test
    void aReplicaAssignedTwiceKeepsTheNewerPlacement() {
        World world = new World(node("a", NodeStatus.Phase.READY), node("b", NodeStatus.Phase.READY));
        App web = app("web", 1, "img:1");
        world.apply(world.plan(web, AppPlanner.Budget.UNLIMITED));
        String at = world.placed("web").get("web-0");
        String other = at.equals("a") ? "b" : "a";
        world.put(puts(world.plan(app("web", 1, "img:0"), AppPlanner.Budget.UNLIMITED)).get(0).toBuilder().setNode(other)
                .setTemplateHash(TemplateHashes.of(web.getSpec().getTemplate())).build());
        AppPlanner.Plan repair = world.plan(web, AppPlanner.Budget.UNLIMITED);
        assertEquals(List.of(Write.delete(Keys.assignment(at, "default", "web-0")).key()), repair.writes().stream().map(Write::key).toList());
        assertTrue(repair.writes().get(0).isDelete());
    }

    @Test
    void aDeletedAppLosesItsAssignmentsThenItsTemplates() {
        World world = new World(node("a", NodeStatus.Phase.READY));
        world.apply(world.plan(app("web", 2, "img:1"), AppPlanner.Budget.UNLIMITED));
        AppPlanner.Plan orphans = world.planDeleted("web");
        assertEquals(4, orphans.writes().size(), "two assignments and their statuses");
        assertTrue(orphans.writes().stream().allMatch(Write::isDelete));
        assertTrue(orphans.templateDeletes().isEmpty(), "templates only after the assignments are gone");
        world.apply(orphans);
        AppPlanner.Plan templates = world.planDeleted("web");
        assertTrue(templates.writes().isEmpty());
        assertEquals(1, templates.templateDeletes().size());
        world.apply(templates);
        assertTrue(world.planDeleted("web").isEmpty());
    }

    @Test
    void aDrainedNodesReplicasMoveWithRescheduledAndNodeDrainedEvents() {
        World world = new World(node("a", NodeStatus.Phase.READY));
        App web = app("web", 1, "img:1");
        world.apply(world.plan(web, AppPlanner.Budget.UNLIMITED));
        Node a = node("a", NodeStatus.Phase.READY);
        world.nodes.put(a.toBuilder().setSpec(a.getSpec().toBuilder().setUnschedulable(true).setDrained(true)).build());
        world.nodes.put(node("b", NodeStatus.Phase.READY));
        AppPlanner.Plan move = world.plan(web, AppPlanner.Budget.UNLIMITED);
        assertEquals(List.of(Keys.assignment("a", "default", "web-0"), Keys.replicaStatus("default", "web-0"),
                Keys.assignment("b", "default", "web-0")), move.writes().stream().map(Write::key).toList());
        assertEquals(List.of("Rescheduled", "NodeDrained"), move.events().stream().map(Occurrence::reason).toList());
    }

    @Test
    void aReplicaToleratedOnAnUnreachableNodeForAWhileIsRecheckedWhenTheToleranceEnds() {
        World world = new World(node("a", NodeStatus.Phase.READY), node("b", NodeStatus.Phase.NOT_READY));
        App web = app("web", 1, "img:1");
        web = web.toBuilder().setSpec(web.getSpec().toBuilder()
                .setRescheduleAfterUnreachable(com.google.protobuf.Duration.newBuilder().setSeconds(300))).build();
        world.apply(world.plan(web, AppPlanner.Budget.UNLIMITED));
        assertEquals("a", world.placed("web").get("web-0"));
        world.nodes.put(node("a", NodeStatus.Phase.UNREACHABLE)); // last heartbeat a minute ago
        AppPlanner.Plan kept = world.plan(web, AppPlanner.Budget.UNLIMITED);
        assertTrue(kept.isEmpty(), "still tolerated");
        assertEquals(NOW.minusSeconds(60).plusSeconds(300), kept.recheckAt().orElseThrow());
        AppPlanner.Plan autonomous = world.plan(app("web", 1, "img:1"), AppPlanner.Budget.UNLIMITED);
        assertTrue(autonomous.recheckAt().isEmpty(), "autonomy: kept with no time limit");
    }

    @Test
    void snapshotAndVolumeTasksInANodesPrefixAreNotReplicas() {
        NodeIndex nodes = new NodeIndex();
        AssignmentsByApp index = new AssignmentsByApp(nodes);
        Assignment task = Assignment.newBuilder().setNode("b").setNamespace("default").setApp("cam").setReplica("snapshot.s1")
                .setVolumeSnapshot(VolumeSnapshotTask.newBuilder().setName("s1").setUid("u9").setVolume("rec")).build();
        assertNull(index.add(new Entry<>(Keys.assignment("b", "default", "snapshot.s1"), task, 3, 3)));
        assertEquals(List.of(), index.of("default/cam"));
        assertEquals(0, nodes.replicas("b"));
        Assignment replica = Assignment.newBuilder().setNode("b").setNamespace("default").setApp("cam").setReplica("cam-0").build();
        Entry<Assignment> e = new Entry<>(Keys.assignment("b", "default", "cam-0"), replica, 4, 4);
        assertEquals("default/cam", index.add(e));
        assertEquals(1, nodes.replicas("b"));
        assertEquals(Set.of("default/cam"), index.appsOn("b"));
        index.remove(e);
        assertEquals(0, nodes.replicas("b"));
        assertEquals(Set.of(), index.appsOn("b"));
        assertTrue(new ArrayList<>(index.apps()).isEmpty());
    }

    // ---- pools (AppSpec.pools) ----

    static Node inPool(String name, String pool) {
        Node n = node(name, NodeStatus.Phase.READY);
        return n.toBuilder().setMetadata(n.getMetadata().toBuilder().putLabels(AppPools.POOL_LABEL, pool)).build();
    }

    /** web over pools, each entry "pool" (the App's count) or "pool=N". */
    static App spread(int replicas, String... pools) {
        App web = app("web", replicas, "img:1");
        AppSpec.Builder spec = web.getSpec().toBuilder();
        for (String p : pools) {
            String[] parts = p.split("=");
            PoolReplicas.Builder pool = PoolReplicas.newBuilder().setName(parts[0]);
            if (parts.length > 1) {
                pool.setReplicas(Integer.parseInt(parts[1]));
            }
            spec.addPools(pool);
        }
        return web.toBuilder().setSpec(spec).build();
    }

    @Test
    void eachPoolGetsItsOwnReplicasOnItsOwnNodesOnly() {
        World world = new World(inPool("a1", "site-a"), inPool("a2", "site-a"), inPool("b1", "site-b"),
                node("x1", NodeStatus.Phase.READY));
        App web = spread(2, "site-a=3", "site-b"); // site-b: 2, the App's count
        AppPlanner.Plan plan = world.plan(web, AppPlanner.Budget.UNLIMITED);
        assertTrue(plan.unschedulable().isEmpty(), plan.unschedulable().toString());
        assertFalse(plan.pending());
        world.apply(plan);
        Map<String, String> placed = world.placed("web");
        assertEquals(Set.of("web-site-a-0", "web-site-a-1", "web-site-a-2", "web-site-b-0", "web-site-b-1"), placed.keySet());
        placed.forEach((replica, node) -> assertEquals(replica.startsWith("web-site-a-") ? "a" : "b", node.substring(0, 1),
                replica + " on " + node + ": a pool's replicas stay on its nodes"));
        assertEquals(2, placed.values().stream().distinct().filter(n -> n.startsWith("a")).count(), "spread over the pool's nodes");
        assertTrue(world.plan(web, AppPlanner.Budget.UNLIMITED).isEmpty(), "settled: nothing to write");
    }

    @Test
    void aPoolWithoutNodesKeepsItsReplicasPendingAndSaysSo() {
        World world = new World(inPool("a1", "site-a"));
        App web = spread(1, "site-a", "site-b");
        AppPlanner.Plan plan = world.plan(web, AppPlanner.Budget.UNLIMITED);
        world.apply(plan);
        assertEquals(Map.of("web-site-a-0", "a1"), world.placed("web"));
        assertTrue(plan.pending());
        assertEquals("pool site-b: 0 nodes", plan.unschedulable().orElseThrow());

        world.nodes.put(inPool("b1", "site-b")); // the pool's first node joins
        AppPlanner.Plan later = world.plan(web, AppPlanner.Budget.UNLIMITED);
        world.apply(later);
        assertEquals("b1", world.placed("web").get("web-site-b-0"));
        assertFalse(later.pending());
    }

    @Test
    void scalingOnePoolLeavesTheOthersAlone() {
        World world = new World(inPool("a1", "site-a"), inPool("b1", "site-b"));
        world.apply(world.plan(spread(2, "site-a", "site-b"), AppPlanner.Budget.UNLIMITED));
        AppPlanner.Plan scaled = world.plan(spread(2, "site-a=3", "site-b=1"), AppPlanner.Budget.UNLIMITED);
        assertTrue(scaled.writes().stream().noneMatch(w -> w.key().contains("web-site-a-0") || w.key().contains("web-site-a-1")
                || w.key().contains("web-site-b-0")), "replicas that stay are not rewritten: " + scaled.writes());
        world.apply(scaled);
        assertEquals(Map.of("web-site-a-0", "a1", "web-site-a-1", "a1", "web-site-a-2", "a1", "web-site-b-0", "b1"), world.placed("web"));
    }

    @Test
    void aReplicaOnANodeThatLeftItsPoolMovesAndNamesNoPoolOwnsGo() {
        World world = new World(node("x1", NodeStatus.Phase.READY), inPool("a1", "site-a"), inPool("a2", "site-a"));
        world.apply(world.plan(app("web", 1, "img:1"), AppPlanner.Budget.UNLIMITED));
        assertEquals(Set.of("web-0"), world.placed("web").keySet());
        world.apply(world.plan(spread(2, "site-a"), AppPlanner.Budget.UNLIMITED));
        Map<String, String> placed = world.placed("web");
        assertEquals(Set.of("web-site-a-0", "web-site-a-1"), placed.keySet(), "web-0 is no pool's replica: it goes");
        String moved = placed.get("web-site-a-0");
        world.nodes.put(inPool(moved, "site-z")); // its node is now in another pool
        world.apply(world.plan(spread(2, "site-a"), AppPlanner.Budget.UNLIMITED));
        assertFalse(world.placed("web").containsValue(moved), "nothing of site-a stays on a node of site-z: " + world.placed("web"));
    }
}
