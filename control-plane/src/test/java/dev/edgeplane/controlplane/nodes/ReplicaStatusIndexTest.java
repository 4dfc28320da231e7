package dev.edgeplane.controlplane.nodes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** Status by node: a full report costs that node's replicas, not every status of the cluster. */
class ReplicaStatusIndexTest {
    private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");

    private static Entry<ReplicaStatus> status(String node, String replica, long revision) {
        return new Entry<>(Keys.replicaStatus("default", replica),
                ReplicaStatus.newBuilder().setNamespace("default").setName(replica).setNode(node).setApp("web").build(), revision, revision);
    }

    /** 1,000 nodes with 10 statuses each, as the replicaStatuses watch delivers them. */
    private static ReplicaStatusIndex fleet() {
        Map<String, Entry<ReplicaStatus>> state = new HashMap<>();
        long revision = 1;
        for (int n = 0; n < 1000; n++) {
            for (int r = 0; r < 10; r++) {
                Entry<ReplicaStatus> e = status("node-" + n, "web-" + n + "-" + r, revision++);
                state.put(e.key(), e);
            }
        }
        ReplicaStatusIndex index = new ReplicaStatusIndex();
        index.onReset(state, revision);
        return index;
    }

    @Test
    void theIndexFollowsTheWatchIncludingAReplicaMovingToAnotherNode() {
        ReplicaStatusIndex index = fleet();
        assertEquals(10, index.keysOf("node-7").size());
        Entry<ReplicaStatus> before = status("node-7", "web-7-0", 5);
        Entry<ReplicaStatus> moved = status("node-8", "web-7-0", 20_000);
        index.onEvents(List.<PrefixCache.Event<ReplicaStatus>>of(new PrefixCache.Put<>(moved, before)), 20_000);
        assertEquals(9, index.keysOf("node-7").size());
        assertTrue(index.keysOf("node-8").contains(moved.key()));
        index.onEvents(List.<PrefixCache.Event<ReplicaStatus>>of(new PrefixCache.Delete<>(moved.key(), 20_001, moved)), 20_001);
        assertEquals(10, index.keysOf("node-8").size());
    }

    @Test
    void aFullReportAfterAReconnectTouchesOnlyThatNodesStatuses() {
        ReplicaStatusIndex index = fleet();
        AtomicInteger lookups = new AtomicInteger();
        Function<String, Entry<Assignment>> assignments = key -> {
            lookups.incrementAndGet();
            return key.startsWith(Keys.ASSIGNMENTS + "node-42/default/web-42-")
                    ? new Entry<>(key, Assignment.newBuilder().setApp("web").build(), 1, 1) : null;
        };
        // The node still runs 3 of its 10 replicas, plus one it says is someone else's.
        StatusReport report = StatusReport.newBuilder().setFull(true)
                .addReplicas(ReplicaStatus.newBuilder().setName("web-42-0").setNode("liar").setApp("liar").setPhase(ReplicaStatus.Phase.RUNNING))
                .addReplicas(ReplicaStatus.newBuilder().setName("web-42-1").setPhase(ReplicaStatus.Phase.RUNNING))
                .addReplicas(ReplicaStatus.newBuilder().setNamespace("default").setName("web-42-2").setPhase(ReplicaStatus.Phase.PENDING))
                .addReplicas(ReplicaStatus.newBuilder().setName("web-1-0").setPhase(ReplicaStatus.Phase.RUNNING))
                .build();
        Set<String> nodeKeys = index.keysOf("node-42");
        Map<String, ReplicaStatusWriter.StatusChange> plan = ReplicaStatusWriter.plan("node-42", report, assignments, nodeKeys, NOW);

        assertEquals(4, lookups.get(), "one assignment lookup per reported replica, nothing per status of the cluster");
        assertEquals(10, plan.size(), "3 puts + 7 deletes, all of node-42's");
        List<String> puts = new ArrayList<>();
        for (Map.Entry<String, ReplicaStatusWriter.StatusChange> change : plan.entrySet()) {
            assertTrue(nodeKeys.contains(change.getKey()), "only node-42's statuses: " + change.getKey());
            assertEquals("node-42", change.getValue().node());
            if (change.getValue() instanceof ReplicaStatusWriter.Put put) {
                puts.add(put.status().getName());
                assertEquals("node-42", put.status().getNode(), "the node comes from the caller");
                assertEquals("web", put.status().getApp(), "the app comes from the assignment");
                assertEquals("default", put.status().getNamespace());
                assertTrue(put.status().hasUpdateTime());
            }
        }
        assertEquals(List.of("web-42-0", "web-42-1", "web-42-2"), puts);
    }

    @Test
    void aStatusWhoseReasonIsNotAShortWordIsRefusedAndChangesNothing() {
        Function<String, Entry<Assignment>> assignments = key -> new Entry<>(key, Assignment.newBuilder().setApp("web").build(), 1, 1);
        StatusReport report = StatusReport.newBuilder()
                .addReplicas(ReplicaStatus.newBuilder().setName("web-0").setPhase(ReplicaStatus.Phase.PENDING).setReason("ErrImagePull"))
                .addReplicas(ReplicaStatus.newBuilder().setName("web-1").setPhase(ReplicaStatus.Phase.PENDING).setReason("x".repeat(65)))
                .addReplicas(ReplicaStatus.newBuilder().setName("web-2").setPhase(ReplicaStatus.Phase.PENDING).setReason("two words"))
                .build();
        Map<String, ReplicaStatusWriter.StatusChange> plan = ReplicaStatusWriter.plan("n", report, assignments, Set.of(), NOW);
        assertEquals(Set.of(Keys.replicaStatus("default", "web-0")), plan.keySet());
    }

    @Test
    void removedDeletesAndAPartialReportLeavesTheOthers() {
        Function<String, Entry<Assignment>> assignments = key -> new Entry<>(key, Assignment.newBuilder().setApp("web").build(), 1, 1);
        StatusReport report = StatusReport.newBuilder()
                .addReplicas(ReplicaStatus.newBuilder().setName("web-0").setPhase(ReplicaStatus.Phase.RUNNING))
                .addRemoved("web-1").addRemoved("other/web-2").build();
        Map<String, ReplicaStatusWriter.StatusChange> plan = ReplicaStatusWriter.plan("n", report, assignments, Set.of(), NOW);
        assertEquals(Set.of(Keys.replicaStatus("default", "web-0"), Keys.replicaStatus("default", "web-1"),
                Keys.replicaStatus("other", "web-2")), plan.keySet());
        assertTrue(plan.get(Keys.replicaStatus("default", "web-1")) instanceof ReplicaStatusWriter.Delete);
    }
}
