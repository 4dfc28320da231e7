package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.ListNodesResponse;
import dev.edgeplane.api.v1.Node;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 10's fleet test (correctness, not timing): ~2,000 simulated agents (fleet module, one JVM of
 * their own, each agent with its own certificate from Join and its own mutual-TLS connection) against
 * the packaged control plane and a real etcd. Every agent converges to exactly what etcd says, every
 * ack arrives, and nothing is lost across a kill -9 of the control plane or a partition of half of
 * the fleet. {@code -Dfleet.agents=N} changes the size.
 */
class FleetE2ETest {
    static final int AGENTS = Integer.getInteger("fleet.agents", 2000);
    static final Duration CONVERGE = Duration.ofMinutes(4);

    @TempDir Path dir;

    @Test
    void everyAgentConvergesAndNothingIsLostAcrossARestartAndAPartitionOfHalfTheFleet() throws Exception {
        long started = System.nanoTime();
        try (FleetCluster fleet = FleetCluster.start(dir, new FleetCluster.Options(AGENTS, 10_000, "1g", 8, false, Map.of(), List.of()))) {
            fleet.joinAndConnect(Duration.ofSeconds(120 + AGENTS / 10));
            log(started, AGENTS + " agents joined and connected");

            fleet.createEveryNodeApp("everywhere", "example/app:1");
            fleet.createReplicatedApp("spread", AGENTS, "example/web:1");
            Await.until("every App placed", CONVERGE, fleet::diagnostics,
                    () -> fleet.countKeys("/edgeplane/assignments/") == 2L * AGENTS);
            fleet.awaitConverged("every agent holds what etcd says and acked it", CONVERGE);
            awaitControlPlaneKnowsEveryAck(fleet);
            assertEquals(0, fleet.sum("protocol_errors"), fleet.diagnostics());
            log(started, "converged on " + 2 * AGENTS + " assignments");

            // kill -9 and restart: every agent resumes; nothing changed for any of them, so no Snapshot.
            fleet.broadcast("mark");
            fleet.killAndRestartControlPlane();
            fleet.awaitSum("every agent resumed after the restart", "established_since_mark", AGENTS, CONVERGE);
            assertEquals(0, fleet.sum("snapshots_since_mark"),
                    "an agent whose state did not change got a Snapshot on resuming\n" + fleet.diagnostics());
            fleet.awaitConverged("the same state after the restart", CONVERGE);
            awaitControlPlaneKnowsEveryAck(fleet);
            log(started, "all resumed after a kill -9, no snapshot");

            // Half of the fleet loses its link (TCP reset) and stays away while the Apps change.
            int cut = 0;
            for (var sim : fleet.simulators()) {
                cut += Integer.parseInt(sim.command("partition 0 " + sim.agents() / 2).replace("partitioned=", ""));
            }
            int offline = cut;
            Await.until("the partitioned agents offline", Duration.ofSeconds(60), fleet::diagnostics,
                    () -> fleet.sum("established") == AGENTS - offline);
            fleet.setImage("everywhere", "example/app:2");
            fleet.updateApp("spread", spec -> spec.toBuilder().setReplicas(AGENTS / 2)
                    .setTemplate(FleetCluster.template("example/web:2")).build());
            Await.until("the changed Apps placed", CONVERGE, fleet::diagnostics,
                    () -> fleet.countKeys("/edgeplane/assignments/") == AGENTS + AGENTS / 2L);
            fleet.broadcast("heal");
            fleet.awaitSum("every agent back", "established", AGENTS, CONVERGE);
            fleet.awaitConverged("every agent converged after the partition healed", CONVERGE);
            awaitControlPlaneKnowsEveryAck(fleet);
            assertEquals(0, fleet.sum("protocol_errors"), fleet.diagnostics());
            log(started, "converged after a partition of " + offline + " agents");
        }
    }

    /** Every ack arrived: the control plane's applied revision of each node is the one its agent acked. */
    private static void awaitControlPlaneKnowsEveryAck(FleetCluster fleet) {
        List<String> differ = new ArrayList<>();
        Await.until("the control plane has every agent's ack", Duration.ofSeconds(90),
                () -> differ.size() + " nodes differ, e.g. " + differ.subList(0, Math.min(5, differ.size())) + "\n" + fleet.diagnostics(),
                () -> {
                    Map<String, Long> acked = new HashMap<>();
                    for (var sim : fleet.simulators()) {
                        sim.digest().forEach((node, digest) -> acked.put(node, Long.parseLong(digest.substring(0, digest.indexOf(':')))));
                    }
                    Map<String, Long> applied = appliedRevisions(fleet);
                    differ.clear();
                    acked.forEach((node, revision) -> {
                        if (!revision.equals(applied.get(node))) {
                            differ.add(node + " acked " + revision + ", control plane has " + applied.get(node));
                        }
                    });
                    return differ.isEmpty();
                });
    }

    private static Map<String, Long> appliedRevisions(FleetCluster fleet) {
        Map<String, Long> applied = new HashMap<>();
        String token = "";
        do {
            ListNodesResponse page = fleet.controlPlane().nodes().listNodes(ListNodesRequest.newBuilder().setPageSize(500)
                    .setPageToken(token).build());
            for (Node n : page.getNodesList()) {
                applied.put(n.getMetadata().getName(), n.getStatus().getAppliedRevision());
            }
            token = page.getNextPageToken();
        } while (!token.isEmpty());
        return applied;
    }

    private static void log(long started, String what) {
        System.out.printf("fleet test: %s after %.0f s%n", what, (System.nanoTime() - started) / 1e9);
    }
}
