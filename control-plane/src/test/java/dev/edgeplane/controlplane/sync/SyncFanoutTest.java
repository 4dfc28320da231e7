package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.TemplateHashes;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.DeleteNodeRequest;
import dev.edgeplane.api.v1.Hello;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.SyncRequest;
import dev.edgeplane.api.v1.SyncResponse;
import dev.edgeplane.api.v1.VolumeTask;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.store.Keys;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.PutOption;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * Flow-controlled fan-out on the Sync stream, end to end over mutual TLS against a real etcd: a
 * stream whose agent reads nothing does not make the control plane buffer without bound (the latest
 * change per key waits, past the bound one Snapshot does), it gets the latest state once it reads,
 * and other nodes' streams keep receiving meanwhile. The node's entries here are volume tasks, which
 * the scheduler leaves alone, so the test alone decides what changes.
 */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class SyncFanoutTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    @Inject
    AssignmentIndex index;

    /** A Sync stream with manual flow control: it reads only what the test requests. */
    private static final class SlowReader implements AutoCloseable {
        final LinkedBlockingQueue<SyncResponse> received = new LinkedBlockingQueue<>();
        final AtomicReference<Throwable> error = new AtomicReference<>();
        final ClientCallStreamObserver<SyncRequest> call;
        private final io.grpc.Context.CancellableContext context = io.grpc.Context.current().withCancellation();

        SlowReader(ManagedChannel channel, Hello hello) {
            AtomicReference<ClientCallStreamObserver<SyncRequest>> requests = new AtomicReference<>();
            context.run(() -> AgentServiceGrpc.newStub(channel).sync(new ClientResponseObserver<SyncRequest, SyncResponse>() {
                @Override
                public void beforeStart(ClientCallStreamObserver<SyncRequest> stream) {
                    stream.disableAutoRequestWithInitial(0);
                    requests.set(stream);
                }

                @Override
                public void onNext(SyncResponse value) {
                    received.add(value);
                }

                @Override
                public void onError(Throwable t) {
                    error.set(t);
                }

                @Override
                public void onCompleted() {}
            }));
            call = requests.get();
            call.onNext(SyncRequest.newBuilder().setHello(hello).build());
        }

        /** The next Snapshot or Changes (heartbeat acks skipped), asking for it. */
        SyncResponse next() throws InterruptedException {
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (true) {
                call.request(1);
                long left = deadline - System.nanoTime();
                SyncResponse r = left <= 0 ? null : received.poll(left, TimeUnit.NANOSECONDS);
                if (r == null) {
                    throw new AssertionError("nothing received within " + WAIT + (error.get() == null ? "" : ": " + error.get()));
                }
                if (!r.hasHeartbeatAck()) {
                    return r;
                }
            }
        }

        @Override
        public void close() {
            context.cancel(null);
        }
    }

    /** What the agent would hold: "namespace/replica" -> the volume task's uid. */
    private static final class AgentState {
        final Map<String, String> entries = new TreeMap<>();
        int snapshots;
        int changes;
        long revision;

        void apply(SyncResponse r) {
            if (r.hasSnapshot()) {
                snapshots++;
                entries.clear();
                r.getSnapshot().getAssignmentsList().forEach(a -> entries.put(a.getNamespace() + "/" + a.getReplica(), a.getVolumeTask().getUid()));
                revision = r.getSnapshot().getRevision();
            } else if (r.hasChanges()) {
                changes++;
                for (Change c : r.getChanges().getChangesList()) {
                    if (c.getType() == Change.Type.PUT) {
                        entries.put(c.getKey(), c.getAssignment().getVolumeTask().getUid());
                    } else {
                        entries.remove(c.getKey());
                    }
                }
                assertTrue(r.getChanges().getRevision() >= revision, "revisions never go back");
                revision = r.getChanges().getRevision();
            }
        }
    }

    private static Op put(String node, String name, String uid) {
        Assignment task = Assignment.newBuilder().setNode(node).setNamespace("default").setReplica("volume." + name)
                .setVolumeTask(VolumeTask.newBuilder().setName(name).setUid(uid).setAction(VolumeTask.Action.DELETE)).build();
        return Op.put(bytes(Keys.assignment(node, "default", "volume." + name)), ByteSequence.from(task.toByteArray()), PutOption.DEFAULT);
    }

    private static ByteSequence bytes(String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }

    private static long commit(TestApi api, List<Op> ops) throws Exception {
        return api.etcd.getKVClient().txn().Then(ops.toArray(Op[]::new)).commit().get(20, TimeUnit.SECONDS).getHeader().getRevision();
    }

    private TestAgent joined(TestApi api, String name, List<AutoCloseable> closeables) throws Exception {
        JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder().setToken(JoinToken.newBuilder()
                .setSpec(JoinTokenSpec.newBuilder().putNodeLabels("pool", name))).build());
        TestAgent agent = new TestAgent(name);
        closeables.add(agent);
        agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
        return agent;
    }

    private SyncSession sessionOf(String node) {
        TestApi.await("the Sync stream of " + node + " registered", WAIT, () -> !index.sessionsOf(node).isEmpty());
        return index.sessionsOf(node).get(0);
    }

    /** Writes 40 big entries (320 KiB, more than the 64 KiB window): the stream that reads nothing stops taking data. */
    private void stall(TestApi api, String node, SyncSession session, String generation) throws Exception {
        String payload = generation + "x".repeat(8192);
        for (int i = 0; i < 40; i++) {
            commit(api, List.of(put(node, "big-" + i, payload + i)));
        }
        TestApi.await("the stream of " + node + " stopped taking data", WAIT, () -> !session.ready());
    }

    @Test
    void aStreamThatReadsNothingKeepsTheLatestChangePerKeyThenOneSnapshotAndOthersKeepReceiving() throws Exception {
        String stalled = "fan-stalled";
        String live = "fan-live";
        List<AutoCloseable> closeables = new ArrayList<>();
        try (TestApi api = new TestApi()) {
            TestAgent slowAgent = joined(api, stalled, closeables);
            TestAgent liveAgent = joined(api, live, closeables);
            TestAgent.Stream liveStream = new TestAgent.Stream(liveAgent.syncChannel(TestApi.agentPort()));
            closeables.add(0, liveStream);
            liveStream.send(SyncRequest.newBuilder().setHello(Hello.newBuilder()).build());
            assertTrue(liveStream.next(WAIT).hasSnapshot());

            SlowReader slow = new SlowReader(slowAgent.smallWindowChannel(TestApi.agentPort()), Hello.getDefaultInstance());
            closeables.add(0, slow);
            AgentState agent = new AgentState();
            agent.apply(slow.next()); // the (empty) Snapshot; from now on it reads nothing
            SyncSession session = sessionOf(stalled);
            stall(api, stalled, session, "g1-");

            // 2,000 updates of its entries (10 keys x 200) while it reads nothing: the latest per key waits.
            int maxWaiting = 0;
            for (int round = 0; round < 200; round++) {
                int r = round;
                commit(api, IntStream.range(0, 10).mapToObj(k -> put(stalled, "hot-" + k, "v" + r)).toList());
                maxWaiting = Math.max(maxWaiting, session.backlogKeys());
            }
            commit(api, List.of(Op.delete(bytes(Keys.assignment(stalled, "default", "volume.hot-9")), DeleteOption.DEFAULT)));
            maxWaiting = Math.max(maxWaiting, session.backlogKeys());
            assertTrue(maxWaiting <= 50, "at most one waiting change per key (10 hot, 40 big), not 2,000: " + maxWaiting);
            assertEquals(0, session.snapshotsForBacklog(), "under the bound: no Snapshot needed");

            // The other node's stream is not held up by the stalled one.
            long liveRevision = commit(api, List.of(put(live, "live-0", "now")));
            SyncResponse toLive = liveStream.next(WAIT);
            assertTrue(toLive.hasChanges() && toLive.getChanges().getRevision() >= liveRevision, toLive.toString());

            // It reads again: the latest state arrives, coalesced (a PUT then DELETE of hot-9 leaves the DELETE).
            int before = agent.changes;
            while (!"v199".equals(agent.entries.get("default/volume.hot-0")) || agent.entries.containsKey("default/volume.hot-9")) {
                agent.apply(slow.next());
            }
            assertEquals("v199", agent.entries.get("default/volume.hot-8"));
            assertTrue(agent.changes - before < 100, "2,000 updates arrived as few messages: " + (agent.changes - before));
            assertEquals(1, agent.snapshots, "no Snapshot was needed");

            // A new stream stalls again, and 2,000 new keys pass the bound: the backlog is dropped for one Snapshot.
            slow.close();
            SlowReader again = new SlowReader(slowAgent.smallWindowChannel(TestApi.agentPort()),
                    Hello.newBuilder().setLastAppliedRevision(agent.revision).build());
            closeables.add(0, again);
            agent.apply(again.next());
            TestApi.await("the new stream replaced the old one", WAIT,
                    () -> index.sessionsOf(stalled).size() == 1 && index.sessionsOf(stalled).get(0) != session);
            SyncSession second = index.sessionsOf(stalled).get(0);
            stall(api, stalled, second, "g2-");
            maxWaiting = 0;
            long last = 0;
            for (int batch = 0; batch < 20; batch++) {
                int b = batch;
                last = commit(api, IntStream.range(0, 100).mapToObj(k -> put(stalled, "many-" + (b * 100 + k), "m")).toList());
                maxWaiting = Math.max(maxWaiting, second.backlogKeys());
            }
            assertTrue(maxWaiting <= SyncSession.Limits.DEFAULT.backlogKeys(), "the backlog stays bounded: " + maxWaiting);
            assertTrue(second.snapshotsForBacklog() >= 1, "past the bound a Snapshot replaces the backlog");
            long lastWrite = last;
            int snapshotsBefore = agent.snapshots;
            while (agent.snapshots == snapshotsBefore || agent.revision < lastWrite) {
                agent.apply(again.next());
            }
            assertEquals(snapshotsBefore + 1, agent.snapshots, "ONE Snapshot");
            assertEquals(2000 + 40 + 9, agent.entries.size(), "the node's whole current state");
            assertEquals("m", agent.entries.get("default/volume.many-1999"));
            assertEquals("v199", agent.entries.get("default/volume.hot-0"));
        } finally {
            for (AutoCloseable c : closeables) {
                c.close();
            }
            try (TestApi api = new TestApi()) {
                for (String node : List.of(stalled, live)) {
                    api.etcd.getKVClient().delete(bytes(Keys.assignmentsOf(node)), DeleteOption.builder().isPrefix(true).build()).get();
                    api.nodes().deleteNode(DeleteNodeRequest.newBuilder().setName(node).build());
                }
            }
        }
    }

    @Test
    void aHelloWithMalformedOrTooManyTemplateHashesIsRefusedNamingTheField() throws Exception {
        List<AutoCloseable> closeables = new ArrayList<>();
        try (TestApi api = new TestApi()) {
            TestAgent agent = joined(api, "fan-hello", closeables);
            ManagedChannel channel = agent.syncChannel(TestApi.agentPort());
            String good = TemplateHashes.of(PodTemplate.getDefaultInstance());
            for (Hello hello : List.of(
                    Hello.newBuilder().addTemplateHashes(good).addTemplateHashes("sha256:NOT-HEX").build(),
                    Hello.newBuilder().addAllTemplateHashes(java.util.Collections.nCopies(1025, good)).build())) {
                try (TestAgent.Stream stream = new TestAgent.Stream(channel)) {
                    stream.send(SyncRequest.newBuilder().setHello(hello).build());
                    Throwable error = stream.awaitError(WAIT);
                    Status status = Status.fromThrowable(error);
                    assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode(), String.valueOf(error));
                    assertTrue(status.getDescription().contains("hello.template_hashes"), status.getDescription());
                }
            }
            // A good list is accepted.
            try (TestAgent.Stream stream = new TestAgent.Stream(channel)) {
                stream.send(SyncRequest.newBuilder().setHello(Hello.newBuilder().addTemplateHashes(good)).build());
                assertTrue(stream.next(WAIT).hasSnapshot());
            }
        } finally {
            for (AutoCloseable c : closeables) {
                c.close();
            }
            try (TestApi api = new TestApi()) {
                api.nodes().deleteNode(DeleteNodeRequest.newBuilder().setName("fan-hello").build());
            }
        }
    }
}
