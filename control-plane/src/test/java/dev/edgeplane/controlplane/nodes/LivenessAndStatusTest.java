package dev.edgeplane.controlplane.nodes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.Heartbeat;
import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.TxnWriter;
import dev.edgeplane.controlplane.sync.UnreachableNodeTest;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.options.GetOption;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Liveness is not a resource write: against the real etcd, with nodes connected through the tracker
 * (what AgentApi calls on Hello, Ack, Heartbeat and the end of a stream).
 */
@QuarkusTest
@TestProfile(UnreachableNodeTest.ShortUnreachable.class) // unreachable-after 2s; shares its Quarkus start
@QuarkusTestResource(EtcdTestResource.class)
class LivenessAndStatusTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int NODES = 50;

    @Inject
    NodeTracker tracker;
    @Inject
    NodeLiveness liveness;
    @Inject
    EtcdStore store;
    @Inject
    LeaderLock leader;

    private static NodeInfo info(String name) {
        return NodeInfo.newBuilder().setHostname(name + ".example").setOs("linux").setArch("amd64").setAgentVersion("1.0").build();
    }

    /** A Node as Join leaves it: NOT_READY until its agent connects. */
    private static void joined(TestApi api, String name, String pool) throws Exception {
        Node node = Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).putLabels("pool", pool))
                .setStatus(NodeStatus.newBuilder().setPhase(NodeStatus.Phase.NOT_READY)).build();
        api.etcd.getKVClient().put(bytes(Keys.node(name)), ByteSequence.from(node.toByteArray())).get(10, TimeUnit.SECONDS);
    }

    private static ByteSequence bytes(String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }

    private static Node stored(TestApi api, String name) {
        try {
            return Node.parseFrom(api.etcdGet(Keys.node(name)));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** key -> mod_revision under {@code prefix}, straight from etcd. */
    private static Map<String, Long> modRevisions(TestApi api, String prefix) throws Exception {
        Map<String, Long> out = new TreeMap<>();
        for (KeyValue kv : api.etcd.getKVClient().get(bytes(prefix), GetOption.builder().isPrefix(true).build())
                .get(10, TimeUnit.SECONDS).getKvs()) {
            out.put(kv.getKey().toString(StandardCharsets.UTF_8), kv.getModRevision());
        }
        return out;
    }

    @Test
    void aConnectStormIsBatchedHeartbeatsWriteNothingAndTheApiShowsLiveValues() throws Exception {
        try (TestApi api = new TestApi()) {
            for (int i = 0; i < NODES; i++) {
                joined(api, "storm-" + i, "storm");
            }
            NodeTracker.Counts before = tracker.counts();
            for (int i = 0; i < NODES; i++) {
                tracker.connected("storm-" + i, info("storm-" + i), 0);
            }
            TestApi.await("all READY in etcd", WAIT, () -> {
                for (int i = 0; i < NODES; i++) {
                    if (stored(api, "storm-" + i).getStatus().getPhase() != NodeStatus.Phase.READY) {
                        return false;
                    }
                }
                return true;
            });
            TestApi.await("status writer idle", WAIT, tracker::idle);
            NodeTracker.Counts after = tracker.counts();
            long txns = after.nodeStatusTxns() - before.nodeStatusTxns();
            assertEquals(NODES, after.nodeStatusWrites() - before.nodeStatusWrites(), "one write per node");
            assertTrue(txns * 5 <= NODES, NODES + " connects written in " + txns + " transactions");
            assertEquals("storm-3.example", stored(api, "storm-3").getStatus().getHostname());

            // Heartbeats, acks and reconnects of READY nodes with the same host info: memory only.
            Map<String, Long> revisions = modRevisions(api, Keys.NODES + "storm-");
            Instant beforeHeartbeats = Instant.now();
            for (int round = 1; round <= 3; round++) {
                for (int i = 0; i < NODES; i++) {
                    tracker.heartbeat("storm-" + i, Heartbeat.newBuilder().setRunningReplicas(round).setDesiredReplicas(3).build());
                    tracker.acked("storm-" + i, 100 + round);
                    tracker.connected("storm-" + i, info("storm-" + i), 100 + round); // a second stream
                    tracker.disconnected("storm-" + i); // ...that ends: the first is still open
                }
            }
            // A sentinel change queued after all of that: once it is written, anything queued before it was too.
            joined(api, "storm-sentinel", "sentinel");
            tracker.connected("storm-sentinel", info("storm-sentinel"), 0);
            TestApi.await("sentinel READY", WAIT, () -> stored(api, "storm-sentinel").getStatus().getPhase() == NodeStatus.Phase.READY);
            TestApi.await("status writer idle", WAIT, tracker::idle);
            Map<String, Long> now = modRevisions(api, Keys.NODES + "storm-");
            now.remove(Keys.node("storm-sentinel"));
            assertEquals(revisions, now, "no node key was written by heartbeats, acks or reconnects of READY nodes");

            // The API lays the live values over what etcd holds.
            assertEquals(0, stored(api, "storm-7").getStatus().getRunningReplicas(), "etcd has no replica counts");
            Node live = api.nodes().getNode(GetNodeRequest.newBuilder().setName("storm-7").build());
            assertEquals(3, live.getStatus().getRunningReplicas());
            assertEquals(3, live.getStatus().getDesiredReplicas());
            assertEquals(103, live.getStatus().getAppliedRevision());
            assertTrue(!Joiner.toInstant(live.getStatus().getLastHeartbeat()).isBefore(beforeHeartbeats),
                    "the last heartbeat, live: " + live.getStatus().getLastHeartbeat());
            assertTrue(live.getMetadata().getResourceVersion() > 0);
            var listed = api.nodes().listNodes(ListNodesRequest.newBuilder().setLabelSelector("pool=storm").build()).getNodesList();
            assertEquals(NODES, listed.size());
            assertTrue(listed.stream().allMatch(n -> n.getStatus().getRunningReplicas() == 3 && n.getStatus().getAppliedRevision() == 103),
                    "ListNodes shows the live values too");
        } finally {
            for (int i = 0; i < NODES; i++) {
                tracker.disconnected("storm-" + i);
            }
            tracker.disconnected("storm-sentinel");
        }
    }

    @Test
    void aLostNodeIsMarkedUnreachableOnceAfterTheGracePeriodAndReadyOnItsReturn() throws Exception {
        try (TestApi api = new TestApi()) {
            joined(api, "lost-1", "lost");
            tracker.connected("lost-1", info("lost-1"), 0);
            tracker.heartbeat("lost-1", Heartbeat.newBuilder().setRunningReplicas(2).setDesiredReplicas(2).build());
            TestApi.await("READY", WAIT, () -> stored(api, "lost-1").getStatus().getPhase() == NodeStatus.Phase.READY);
            Instant gone = Instant.now();
            tracker.disconnected("lost-1");
            TestApi.await("UNREACHABLE", WAIT, () -> stored(api, "lost-1").getStatus().getPhase() == NodeStatus.Phase.UNREACHABLE);
            NodeStatus status = stored(api, "lost-1").getStatus();
            assertTrue(!Joiner.toInstant(status.getLastHeartbeat()).isBefore(gone), "last seen is persisted: " + status.getLastHeartbeat());
            assertEquals(2, status.getRunningReplicas(), "the last counts are kept with the phase change");
            long written = modRevisions(api, Keys.node("lost-1")).get(Keys.node("lost-1"));
            // Several unreachable checks (every second here) later, still that one write.
            Thread.sleep(3_500);
            TestApi.await("status writer idle", WAIT, tracker::idle);
            assertEquals(written, modRevisions(api, Keys.node("lost-1")).get(Keys.node("lost-1")), "UNREACHABLE is written once");

            tracker.connected("lost-1", info("lost-1"), 0);
            TestApi.await("READY again", WAIT, () -> stored(api, "lost-1").getStatus().getPhase() == NodeStatus.Phase.READY);
        } finally {
            tracker.disconnected("lost-1");
        }
    }

    @Test
    void aLabelEditRacingAStatusWriteIsKept() throws Exception {
        ScheduledExecutorService retries = Executors.newSingleThreadScheduledExecutor();
        try (TestApi api = new TestApi();
             PrefixCache<Node> frozen = new PrefixCache<>(store, Keys.NODES, b -> EtcdStore.decode(Node.parser(), b), retries)) {
            joined(api, "race-1", "race");
            // A writer whose view of the node is behind etcd: its cache saw the node, then stopped watching.
            frozen.start();
            frozen.close();
            Node edited = stored(api, "race-1").toBuilder().setMetadata(stored(api, "race-1").getMetadata().toBuilder()
                    .putLabels("edited", "yes")).build();
            api.etcd.getKVClient().put(bytes(Keys.node("race-1")), ByteSequence.from(edited.toByteArray())).get(10, TimeUnit.SECONDS);

            NodeStatusWriter writer = new NodeStatusWriter(store, frozen, new TxnWriter(store, 2), leader, liveness,
                    EventRecorder.NONE, 64, 2);
            Instant seen = Instant.parse("2026-01-01T00:00:00Z");
            writer.enqueue("race-1", NodeChange.disconnected(seen));
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (!writer.idle() && System.nanoTime() < deadline) {
                writer.flush();
                Thread.sleep(50);
            }
            Node result = stored(api, "race-1");
            assertEquals("yes", result.getMetadata().getLabelsOrDefault("edited", ""), "the label edit is kept");
            assertEquals(seen, Joiner.toInstant(result.getStatus().getLastHeartbeat()), "and the status was written");
            assertEquals(1, writer.conflicts(), "through one lost guard and a re-read");
            assertEquals(1, writer.writes());
        } finally {
            retries.shutdownNow();
        }
    }

    @Test
    void aNodeNotBackSinceTheStartIsNotJudgedWhileAdmissionHasABacklog() throws Exception {
        try (TestApi api = new TestApi()) {
            // READY in etcd, as a control plane before this one left it; this process never heard from it.
            Node node = Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("in-line"))
                    .setStatus(NodeStatus.newBuilder().setPhase(NodeStatus.Phase.READY)).build();
            api.etcd.getKVClient().put(bytes(Keys.node("in-line")), ByteSequence.from(node.toByteArray())).get(10, TimeUnit.SECONDS);
            // The agent endpoint told agents to come back in 4 s (or had connections waiting till now).
            Instant backlogEnds = Instant.now().plusSeconds(4);
            tracker.admissionBacklog(Duration.ofSeconds(4));
            // Past unreachable-after (2 s) from the start and from the write, but not from the backlog's end.
            Thread.sleep(3_000);
            assertEquals(NodeStatus.Phase.READY, stored(api, "in-line").getStatus().getPhase(), "may still be waiting in line");
            TestApi.await("UNREACHABLE once the backlog is through", WAIT,
                    () -> stored(api, "in-line").getStatus().getPhase() == NodeStatus.Phase.UNREACHABLE);
            assertTrue(!Instant.now().isBefore(backlogEnds.plusSeconds(2)), "judged unreachable-after past the backlog's end");
        }
    }
}
