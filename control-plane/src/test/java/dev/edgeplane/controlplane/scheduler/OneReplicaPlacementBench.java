package dev.edgeplane.controlplane.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * What placing one new replica costs in a large fleet (a one-replica App's rolling update places its
 * surge replica): the same App placed without a node selector (the least loaded nodes read off the
 * index) and with a selector every node matches (a pass over every node, as all placements did
 * before). Prints {@code BENCH placement nodes=N one_replica_us=... one_replica_every_node_us=...}
 * (medians). Not in CI (name ends in Bench):
 * {@code mvn -pl control-plane test -Dtest=OneReplicaPlacementBench -Dsurefire.failIfNoSpecifiedTests=false}.
 */
class OneReplicaPlacementBench {
    static final int NODES = Integer.getInteger("bench.nodes", 19_000);
    static final int ROUNDS = 200;
    private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");

    @Test
    void placesOneReplica() {
        NodeIndex index = new NodeIndex();
        for (int i = 0; i < NODES; i++) {
            String name = "sim-" + i;
            Node node = PlacementTest.node(name, NodeStatus.Phase.READY, Map.of("fleet", "all"));
            index.put(node);
            index.count(name, PodRequests.NONE, 1); // an EVERY_NODE App's replica on every node, as in the fleet bench
        }
        App anywhere = PlacementTest.app("single", 2); // single-0 placed, single-1 the surge replica
        App selected = PlacementTest.with(anywhere, s -> s.putNodeSelector("fleet", "all"));
        Map<String, String> current = Map.of("single-0", "sim-7");
        index.count("sim-7", PodRequests.NONE, 1);
        Map<String, Integer> own = new HashMap<>(Map.of("sim-7", 1));
        double viaIndex = medianMicros(anywhere, index, current, own);
        double everyNode = medianMicros(selected, index, current, own);
        System.out.printf("BENCH placement nodes=%d one_replica_us=%.1f one_replica_every_node_us=%.1f ratio=%.1f%n",
                NODES, viaIndex, everyNode, everyNode / viaIndex);
    }

    private static double medianMicros(App app, NodeIndex index, Map<String, String> current, Map<String, Integer> own) {
        long[] nanos = new long[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            long t0 = System.nanoTime();
            Placement.Result result = Placement.place(app, index, current, own, NOW, Optional.empty(), Integer.MAX_VALUE);
            nanos[r] = System.nanoTime() - t0;
            assertEquals(List.of("single-0", "single-1"), List.copyOf(result.desired().keySet()));
        }
        Arrays.sort(nanos);
        return nanos[ROUNDS / 2] / 1000.0;
    }
}
