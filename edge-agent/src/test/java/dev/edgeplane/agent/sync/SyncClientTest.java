package dev.edgeplane.agent.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.rpc.Code;
import com.google.rpc.RetryInfo;
import dev.edgeplane.agent.Await;
import dev.edgeplane.agent.TestPki;
import dev.edgeplane.agent.identity.StateDir;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.journal.JournalStore;
import dev.edgeplane.agent.pods.Pods;
import dev.edgeplane.agent.run.Agent;
import dev.edgeplane.agent.status.StatusManager;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.Changes;
import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.api.v1.SyncRequest;
import dev.edgeplane.api.v1.SyncResponse;
import dev.edgeplane.testkit.FreePorts;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContextBuilder;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Sync protocol against an in-test AgentService over mutual TLS. */
class SyncClientTest {
    @TempDir
    Path tmp;

    @Test
    void appliesDurablyBeforeAckingAndResumesFromTheAckedRevision() throws Exception {
        TestPki pki = new TestPki("sync-ca");
        TestPki.Issued serving = pki.server();
        Path journalDir = tmp.resolve("state/journal");
        List<Long> hellos = new CopyOnWriteArrayList<>();
        List<Long> acks = new CopyOnWriteArrayList<>();
        List<String> ackedButNotDurable = new CopyOnWriteArrayList<>();
        List<StatusReport> reports = new CopyOnWriteArrayList<>();
        AtomicInteger heartbeats = new AtomicInteger();
        AtomicInteger connections = new AtomicInteger();
        PodTemplate template = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("c", Pods.BUSYBOX, "sleep", "1"));

        int port = FreePorts.next();
        Server server = mutualTlsServer(pki, serving, port)
                .addService(new AgentServiceGrpc.AgentServiceImplBase() {
                    @Override
                    public StreamObserver<SyncRequest> sync(StreamObserver<SyncResponse> responses) {
                        int connection = connections.incrementAndGet();
                        return new StreamObserver<>() {
                            @Override
                            public void onNext(SyncRequest request) {
                                switch (request.getKindCase()) {
                                    case HELLO -> {
                                        hellos.add(request.getHello().getLastAppliedRevision());
                                        if (connection == 1) {
                                            responses.onNext(SyncResponse.newBuilder().setSnapshot(Snapshot.newBuilder().setRevision(10)
                                                    .addAssignments(Pods.assignment("default", "web", 0, template))).build());
                                        } else if (connection == 2) {
                                            // Overloaded: come back in a second.
                                            com.google.rpc.Status busy = com.google.rpc.Status.newBuilder()
                                                    .setCode(Code.RESOURCE_EXHAUSTED_VALUE).setMessage("too many agents")
                                                    .addDetails(Any.pack(RetryInfo.newBuilder()
                                                            .setRetryDelay(com.google.protobuf.Duration.newBuilder().setSeconds(1)).build()))
                                                    .build();
                                            responses.onError(StatusProto.toStatusRuntimeException(busy));
                                        }
                                    }
                                    case ACK -> {
                                        long revision = request.getAck().getRevision();
                                        acks.add(revision);
                                        long durable = new JournalStore(journalDir).load().contents()
                                                .map(c -> c.desired().getRevision()).orElse(-1L);
                                        if (durable < revision) {
                                            ackedButNotDurable.add(revision + " (journal at " + durable + ")");
                                        }
                                        if (revision == 10) {
                                            responses.onNext(SyncResponse.newBuilder().setChanges(Changes.newBuilder().setRevision(12)
                                                    .addChanges(Change.newBuilder().setType(Change.Type.PUT).setKey("default/web-1")
                                                            .setAssignment(Pods.assignment("default", "web", 1, template)))).build());
                                        } else if (revision == 12) {
                                            responses.onError(Status.UNAVAILABLE.withDescription("control plane restarting").asRuntimeException());
                                        }
                                    }
                                    case STATUS -> reports.add(request.getStatus());
                                    case HEARTBEAT -> heartbeats.incrementAndGet();
                                    default -> { }
                                }
                            }

                            @Override
                            public void onError(Throwable t) { }

                            @Override
                            public void onCompleted() {
                                responses.onCompleted();
                            }
                        };
                    }
                })
                .build()
                .start();

        StateDir state = new StateDir(tmp.resolve("state"));
        TestPki.Issued node = pki.node("edge-s");
        state.writeIdentity(node.keyPem(), node.certificatePem(), pki.caPem(), new StateDir.NodeRecord("edge-s", "", "127.0.0.1:" + port));
        DesiredStateStore desired = DesiredStateStore.open(new JournalStore(state.journalDir()));
        StatusManager status = new StatusManager(Clock.systemUTC());
        status.update("default/web-0", ReplicaStatus.newBuilder().setNamespace("default").setName("web-0")
                .setPhase(ReplicaStatus.Phase.RUNNING).build());
        SyncClient.Settings settings = new SyncClient.Settings("localhost:" + port, Duration.ofMillis(200), Duration.ofSeconds(20),
                Duration.ofMillis(100), Duration.ofSeconds(2), Duration.ofMillis(100));
        long started = System.nanoTime();
        try (SyncClient client = new SyncClient(settings, Agent.mutualTls(state), desired, status,
                () -> NodeInfo.newBuilder().setAgentVersion("test").build(), () -> desired.current().assignments().size(), Clock.systemUTC())) {
            client.start();
            Await.until(Duration.ofSeconds(30), "snapshot and changes acked, then resumed from 12 after a refusal",
                    () -> hellos.size() >= 3, () -> "hellos " + hellos + " acks " + acks);
            long resumedAfterMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
            assertEquals(List.of(0L, 12L, 12L), hellos.subList(0, 3), "resume from the acked revision");
            assertEquals(List.of(10L, 12L), acks);
            assertEquals(List.of(), ackedButNotDurable, "every ack follows a durable journal write");
            assertTrue(resumedAfterMillis >= 1000, "the RESOURCE_EXHAUSTED retry delay was honoured");
            assertEquals(12, desired.current().revision());
            assertEquals(2, desired.current().assignments().size());
            assertTrue(reports.get(0).getFull() && reports.get(0).getReplicasCount() == 1, "full status report after connect");

            status.update("default/web-1", ReplicaStatus.newBuilder().setNamespace("default").setName("web-1")
                    .setPhase(ReplicaStatus.Phase.PENDING).build());
            Await.until(Duration.ofSeconds(10), "a status change is reported on its own, then heartbeats",
                    () -> reports.stream().anyMatch(r -> !r.getFull() && r.getReplicasCount() == 1
                            && r.getReplicas(0).getName().equals("web-1")) && heartbeats.get() > 0);
        } finally {
            server.shutdownNow();
            server.awaitTermination(5, TimeUnit.SECONDS);
        }
        assertEquals(12, DesiredStateStore.open(new JournalStore(journalDir)).helloRevision());
    }

    /** A builder of the in-test AgentService's server: mutual TLS with {@code serving}, clients of {@code pki}'s CA. */
    /**
     * A control plane with nothing for the node: a Hello gets an empty snapshot, the stream's other
     * requests go to {@code onSync}, heartbeat calls to {@code onHeartbeat}.
     */
    private static AgentServiceGrpc.AgentServiceImplBase emptyDesiredState(
            java.util.function.BiConsumer<SyncRequest, StreamObserver<SyncResponse>> onSync,
            java.util.function.BiConsumer<dev.edgeplane.api.v1.Heartbeat, StreamObserver<dev.edgeplane.api.v1.HeartbeatAck>> onHeartbeat) {
        return new AgentServiceGrpc.AgentServiceImplBase() {
            @Override
            public StreamObserver<SyncRequest> sync(StreamObserver<SyncResponse> responses) {
                return new StreamObserver<>() {
                    @Override
                    public void onNext(SyncRequest request) {
                        if (request.hasHello()) {
                            responses.onNext(SyncResponse.newBuilder().setSnapshot(Snapshot.newBuilder().setRevision(1)).build());
                        } else {
                            onSync.accept(request, responses);
                        }
                    }

                    @Override
                    public void onError(Throwable t) { }

                    @Override
                    public void onCompleted() { }
                };
            }

            @Override
            public void heartbeat(dev.edgeplane.api.v1.Heartbeat request, StreamObserver<dev.edgeplane.api.v1.HeartbeatAck> responses) {
                onHeartbeat.accept(request, responses);
            }
        };
    }

    /** A joined node's identity and journal under {@code tmp/dir}, from a CA of its own, and its control plane's port. */
    private record EdgeNode(TestPki pki, TestPki.Issued serving, int port, StateDir state, DesiredStateStore desired) {
        String endpoint() {
            return "127.0.0.1:" + port;
        }
    }

    private EdgeNode edgeNode(String dir, String name) throws Exception {
        TestPki pki = new TestPki(dir + "-ca");
        int port = FreePorts.next();
        StateDir state = new StateDir(tmp.resolve(dir));
        TestPki.Issued node = pki.node(name);
        state.writeIdentity(node.keyPem(), node.certificatePem(), pki.caPem(), new StateDir.NodeRecord(name, "", "127.0.0.1:" + port));
        return new EdgeNode(pki, pki.server(), port, state, DesiredStateStore.open(new JournalStore(state.journalDir())));
    }

    private static NettyServerBuilder mutualTlsServer(EdgeNode edge) throws javax.net.ssl.SSLException {
        return mutualTlsServer(edge.pki(), edge.serving(), edge.port());
    }

    private static NettyServerBuilder mutualTlsServer(TestPki pki, TestPki.Issued serving, int port) throws javax.net.ssl.SSLException {
        return NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
                .sslContext(GrpcSslContexts.configure(SslContextBuilder.forServer(serving.keys().getPrivate(), serving.certificate(), pki.ca())
                        .trustManager(pki.ca()).clientAuth(ClientAuth.REQUIRE)).build());
    }

    /** An assignment as the control plane sends it: by template hash, without its template. */
    private static dev.edgeplane.api.v1.Assignment byHash(int ordinal, PodTemplate template) {
        return Pods.assignment("default", "web", ordinal, template).toBuilder().clearTemplate()
                .setTemplateHash(dev.edgeplane.api.TemplateHashes.of(template)).build();
    }

    @Test
    void templatesByHashAreVerifiedAndFilledInBeforeTheJournalAndTheHelloListsThoseHeld() throws Exception {
        TestPki pki = new TestPki("tmpl-ca");
        TestPki.Issued serving = pki.server();
        Path journalDir = tmp.resolve("tmpl/journal");
        PodTemplate template = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("c", Pods.BUSYBOX, "sleep", "1"));
        String hash = dev.edgeplane.api.TemplateHashes.of(template);
        PodTemplate other = Pods.template(PodTemplate.RestartPolicy.NEVER, Pods.container("c", Pods.BUSYBOX, "sleep", "2"));
        List<dev.edgeplane.api.v1.Hello> hellos = new CopyOnWriteArrayList<>();
        List<Long> acks = new CopyOnWriteArrayList<>();
        AtomicInteger connections = new AtomicInteger();
        int port = FreePorts.next();
        Server server = mutualTlsServer(pki, serving, port)
                .addService(new AgentServiceGrpc.AgentServiceImplBase() {
                    @Override
                    public StreamObserver<SyncRequest> sync(StreamObserver<SyncResponse> responses) {
                        int connection = connections.incrementAndGet();
                        return new StreamObserver<>() {
                            @Override
                            public void onNext(SyncRequest request) {
                                if (request.hasHello()) {
                                    hellos.add(request.getHello());
                                    if (connection == 1) {
                                        // Two assignments, one template, carried once.
                                        responses.onNext(SyncResponse.newBuilder().setSnapshot(Snapshot.newBuilder().setRevision(10)
                                                .addAssignments(byHash(0, template)).addAssignments(byHash(1, template))
                                                .addTemplates(dev.edgeplane.api.v1.HashedTemplate.newBuilder().setHash(hash).setTemplate(template)))
                                                .build());
                                        // Then one more by the same hash, no template: resolved from the agent's cache.
                                        responses.onNext(SyncResponse.newBuilder().setChanges(Changes.newBuilder().setRevision(12)
                                                .addChanges(Change.newBuilder().setType(Change.Type.PUT).setKey("default/web-2")
                                                        .setAssignment(byHash(2, template)))).build());
                                        // A template whose hash is a lie: refused, not acked, the stream dropped.
                                        responses.onNext(SyncResponse.newBuilder().setChanges(Changes.newBuilder().setRevision(13)
                                                .addChanges(Change.newBuilder().setType(Change.Type.PUT).setKey("default/web-3")
                                                        .setAssignment(byHash(3, other)))
                                                .addTemplates(dev.edgeplane.api.v1.HashedTemplate.newBuilder()
                                                        .setHash(dev.edgeplane.api.TemplateHashes.of(other)).setTemplate(template))).build());
                                    } else if (connection == 2) {
                                        // A hash the agent has never been sent: refused, never an empty template.
                                        responses.onNext(SyncResponse.newBuilder().setChanges(Changes.newBuilder().setRevision(14)
                                                .addChanges(Change.newBuilder().setType(Change.Type.PUT).setKey("default/web-3")
                                                        .setAssignment(byHash(3, other)))).build());
                                    }
                                } else if (request.hasAck()) {
                                    acks.add(request.getAck().getRevision());
                                }
                            }

                            @Override
                            public void onError(Throwable t) { }

                            @Override
                            public void onCompleted() { }
                        };
                    }
                })
                .build()
                .start();
        StateDir state = new StateDir(tmp.resolve("tmpl"));
        TestPki.Issued node = pki.node("edge-t");
        state.writeIdentity(node.keyPem(), node.certificatePem(), pki.caPem(), new StateDir.NodeRecord("edge-t", "", "127.0.0.1:" + port));
        DesiredStateStore desired = DesiredStateStore.open(new JournalStore(state.journalDir()));
        SyncClient.Settings settings = new SyncClient.Settings("localhost:" + port, Duration.ofSeconds(10), Duration.ofSeconds(20),
                Duration.ofMillis(100), Duration.ofMillis(300), Duration.ofMillis(100));
        try (SyncClient client = new SyncClient(settings, Agent.mutualTls(state), desired, new StatusManager(Clock.systemUTC()),
                NodeInfo::getDefaultInstance, () -> 0, Clock.systemUTC())) {
            client.start();
            Await.until(Duration.ofSeconds(30), "refused twice, so a third Hello", () -> hellos.size() >= 3,
                    () -> "hellos " + hellos.size() + " acks " + acks);
        } finally {
            server.shutdownNow();
            server.awaitTermination(5, TimeUnit.SECONDS);
        }
        assertEquals(List.of(10L, 12L), acks, "the refused messages were not acked");
        assertEquals(List.of(), hellos.get(0).getTemplateHashesList(), "nothing held at first");
        assertEquals(List.of(hash), hellos.get(1).getTemplateHashesList(), "the Hello lists the templates the journal holds");
        assertEquals(12, hellos.get(1).getLastAppliedRevision());
        assertEquals(12, desired.current().revision());
        assertEquals(3, desired.current().assignments().size());
        var journal = new JournalStore(journalDir).load().contents().orElseThrow().desired();
        assertEquals(12, journal.getRevision());
        assertEquals(3, journal.getAssignmentsCount());
        for (var assignment : journal.getAssignmentsList()) {
            assertEquals(template, assignment.getTemplate(), "the journal holds full assignments: " + assignment.getReplica());
        }
        assertEquals(0, journal.getTemplatesCount());
    }

    /**
     * The installed certificate rides on the first heartbeat and on the first after it changes, again
     * until a heartbeat carrying it is answered, and never otherwise (idle heartbeats stay small).
     */
    @Test
    void heartbeatsSayTheInstalledCertificateOnceAfterEachChangeUntilAnswered() throws Exception {
        EdgeNode edge = edgeNode("installed", "edge-i");
        List<String> said = new CopyOnWriteArrayList<>();
        AtomicInteger refusals = new AtomicInteger();
        Server server = mutualTlsServer(edge)
                .addService(emptyDesiredState((request, responses) -> { }, (request, responses) -> {
                    said.add(request.getInstalledCertificate());
                    if (request.getInstalledCertificate().equals("sha256:b") && refusals.getAndIncrement() == 0) {
                        responses.onError(Status.UNAVAILABLE.withDescription("etcd is away").asRuntimeException());
                        return;
                    }
                    responses.onNext(dev.edgeplane.api.v1.HeartbeatAck.getDefaultInstance());
                    responses.onCompleted();
                }))
                .build().start();
        // A heartbeat's deadline is its period: 1 s, so a loaded machine's slow answer is not a lost one (said again).
        SyncClient.Settings settings = new SyncClient.Settings(edge.endpoint(), Duration.ofSeconds(1), Duration.ofSeconds(20),
                Duration.ofMillis(100), Duration.ofSeconds(2), Duration.ofMillis(100));
        java.util.concurrent.atomic.AtomicReference<String> installed = new java.util.concurrent.atomic.AtomicReference<>("sha256:a");
        try (SyncClient client = new SyncClient(settings, Agent.mutualTls(edge.state()), edge.desired(), new StatusManager(Clock.systemUTC()),
                NodeInfo::getDefaultInstance, () -> 0, Clock.systemUTC())) {
            client.reportInstalledCertificate(installed::get);
            client.start();
            Await.until(Duration.ofSeconds(30), "a few heartbeats", () -> said.size() >= 4, said::toString);
            installed.set("sha256:b"); // a renewal stored a new certificate
            Await.until(Duration.ofSeconds(30), "the new certificate said, refused, said again and answered, then quiet",
                    () -> said.lastIndexOf("sha256:b") >= 0 && said.size() > said.lastIndexOf("sha256:b") + 2, said::toString);
        } finally {
            server.shutdownNow();
            server.awaitTermination(5, TimeUnit.SECONDS);
        }
        List<String> carried = said.stream().filter(h -> !h.isEmpty()).toList();
        assertEquals(List.of("sha256:a", "sha256:b", "sha256:b"), carried, "in order: " + said);
        assertEquals("sha256:a", said.get(0), "the first heartbeat says it");
        int answered = said.lastIndexOf("sha256:b");
        assertEquals(answered - 1, said.indexOf("sha256:b"), "said again at the very next heartbeat after the refusal: " + said);
    }

    /**
     * A heartbeat with news (the stream's first, new counts) rides on the Sync stream, behind the status
     * reports that made it; the period's heartbeat, with nothing new, is a call of its own.
     */
    @Test
    void heartbeatsWithNewsRideOnTheSyncStreamAndThePeriodsOnTheirOwnCall() throws Exception {
        EdgeNode edge = edgeNode("news", "edge-n");
        List<String> beats = new CopyOnWriteArrayList<>(); // "sync:" or "call:" and the desired count said
        Server server = mutualTlsServer(edge)
                .addService(emptyDesiredState((request, responses) -> {
                    if (request.hasHeartbeat()) {
                        beats.add("sync:" + request.getHeartbeat().getDesiredReplicas());
                        responses.onNext(SyncResponse.newBuilder().setHeartbeatAck(dev.edgeplane.api.v1.HeartbeatAck.getDefaultInstance()).build());
                    }
                }, (request, responses) -> {
                    beats.add("call:" + request.getDesiredReplicas());
                    responses.onNext(dev.edgeplane.api.v1.HeartbeatAck.getDefaultInstance());
                    responses.onCompleted();
                }))
                .build().start();
        SyncClient.Settings settings = new SyncClient.Settings(edge.endpoint(), Duration.ofSeconds(1), Duration.ofSeconds(20),
                Duration.ofMillis(100), Duration.ofSeconds(2), Duration.ofMillis(100));
        AtomicInteger desiredCount = new AtomicInteger();
        try (SyncClient client = new SyncClient(settings, Agent.mutualTls(edge.state()), edge.desired(), new StatusManager(Clock.systemUTC()),
                NodeInfo::getDefaultInstance, desiredCount::get, Clock.systemUTC())) {
            client.start();
            Await.until(Duration.ofSeconds(30), "the stream's first heartbeat and two of the period",
                    () -> beats.stream().filter("call:0"::equals).count() >= 2, beats::toString);
            desiredCount.set(2); // two replicas assigned
            Await.until(Duration.ofSeconds(30), "the new count, then the period again",
                    () -> beats.contains("call:2"), beats::toString);
        } finally {
            server.shutdownNow();
            server.awaitTermination(5, TimeUnit.SECONDS);
        }
        assertEquals("sync:0", beats.get(0), "the stream's first heartbeat is news: " + beats);
        assertEquals(List.of("sync:0", "sync:2"), beats.stream().filter(b -> b.startsWith("sync:")).toList(),
                "news only on the stream: " + beats);
        assertTrue(beats.indexOf("sync:2") < beats.indexOf("call:2"), "the new count is told on the stream first: " + beats);
    }

    @Test
    void connectsOnceTheControlPlaneComesUp() throws Exception {
        EdgeNode edge = edgeNode("late", "edge-l");
        SyncClient.Settings settings = new SyncClient.Settings(edge.endpoint(), Duration.ofSeconds(10), Duration.ofSeconds(20),
                Duration.ofMillis(200), Duration.ofSeconds(2), Duration.ofMillis(100));
        List<Long> hellos = new CopyOnWriteArrayList<>();
        try (SyncClient client = new SyncClient(settings, Agent.mutualTls(edge.state()), edge.desired(), new StatusManager(Clock.systemUTC()),
                NodeInfo::getDefaultInstance, () -> 0, Clock.systemUTC())) {
            client.start();
            Thread.sleep(4000); // the control plane is down for a while: several failed attempts
            Server server = mutualTlsServer(edge)
                    .addService(new AgentServiceGrpc.AgentServiceImplBase() {
                        @Override
                        public StreamObserver<SyncRequest> sync(StreamObserver<SyncResponse> responses) {
                            return new StreamObserver<>() {
                                @Override
                                public void onNext(SyncRequest request) {
                                    if (request.hasHello()) {
                                        hellos.add(request.getHello().getLastAppliedRevision());
                                        responses.onNext(SyncResponse.newBuilder().setSnapshot(Snapshot.newBuilder().setRevision(3)).build());
                                    }
                                }

                                @Override
                                public void onError(Throwable t) { }

                                @Override
                                public void onCompleted() { }
                            };
                        }
                    })
                    .build().start();
            try {
                // Back-off is capped at 2 s here: the agent must be back within a few of those.
                Await.until(Duration.ofSeconds(10), "connected after the control plane came up", client::connected);
                assertEquals(0L, hellos.get(0));
                Await.until(Duration.ofSeconds(5), "snapshot applied", () -> edge.desired().current().revision() == 3);
            } finally {
                server.shutdownNow();
                server.awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void retryDelayComesFromRetryInfoOnlyForResourceExhausted() {
        com.google.rpc.Status busy = com.google.rpc.Status.newBuilder().setCode(Code.RESOURCE_EXHAUSTED_VALUE)
                .addDetails(Any.pack(RetryInfo.newBuilder().setRetryDelay(com.google.protobuf.Duration.newBuilder().setSeconds(7)).build()))
                .build();
        var error = StatusProto.toStatusRuntimeException(busy);
        Optional<Duration> delay = SyncClient.retryDelay(error, Status.fromThrowable(error));
        assertTrue(delay.isPresent() && delay.get().toSeconds() >= 7 && delay.get().toSeconds() < 8, delay.toString());
        var unavailable = Status.UNAVAILABLE.asRuntimeException();
        assertTrue(SyncClient.retryDelay(unavailable, Status.UNAVAILABLE).isEmpty());
    }

    @Test
    void fullJitterBackoffStartsUnderASecondAndIsCapped() {
        ReconnectBackoff backoff = new ReconnectBackoff(Duration.ofMillis(800), Duration.ofSeconds(30), java.util.random.RandomGenerator.getDefault());
        assertTrue(backoff.next().toMillis() <= 800);
        for (int i = 0; i < 50; i++) {
            assertTrue(backoff.next().toMillis() <= 30_000);
        }
    }
}
