package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import com.google.rpc.BadRequest;
import dev.edgeplane.api.v1.AgentEventRecord;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.Event;
import dev.edgeplane.api.v1.EventFilter;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.EventReport;
import dev.edgeplane.api.v1.EventReportAck;
import dev.edgeplane.api.v1.EventServiceGrpc;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.ListEventsRequest;
import dev.edgeplane.api.v1.ListEventsResponse;
import dev.edgeplane.api.v1.ObjectReference;
import dev.edgeplane.api.v1.WatchEventsRequest;
import dev.edgeplane.api.v1.WatchEventsResponse;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.store.Keys;
import io.etcd.jetcd.ByteSequence;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Events end to end on the control plane against a real etcd: an agent's ReportEvents (mutual TLS)
 * aggregates into one record per object + reason with a count, a re-sent report is not counted
 * twice, ListEvents filters and pages newest first, WatchEvents delivers the update, a bad filter
 * is INVALID_ARGUMENT naming the field, and records expire through their (shared) leases.
 */
@QuarkusTest
@TestProfile(ReportEventsTest.ShortTtl.class)
@QuarkusTestResource(EtcdTestResource.class)
class ReportEventsTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final String NODE = "edge-events";

    public static class ShortTtl implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("edgeplane.event.ttl", "4s", "edgeplane.event.write-interval", "200ms");
        }
    }

    private static Timestamp at(Instant t) {
        return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
    }

    private static AgentEventRecord record(String replica, String reason, EventLevel level, long count, String message, Instant last) {
        return AgentEventRecord.newBuilder().setLevel(level).setReason(reason).setMessage(message).setCount(count)
                .setInvolvedObject(ObjectReference.newBuilder().setKind("Replica").setNamespace("default").setName(replica))
                .setFirstTime(at(last.minusSeconds(10))).setLastTime(at(last)).build();
    }

    @jakarta.inject.Inject
    dev.edgeplane.controlplane.store.EtcdStore store;
    @jakarta.inject.Inject
    dev.edgeplane.controlplane.events.NodeObjects nodeObjects;

    /** Binds {@code replicas} to {@code node} (as the scheduler would) and waits until events about them are its to report. */
    private void assign(String node, String... replicas) {
        for (String replica : replicas) {
            store.put(dev.edgeplane.controlplane.store.Keys.assignment(node, "default", replica), dev.edgeplane.api.v1.Assignment.newBuilder()
                    .setNode(node).setNamespace("default").setApp("web").setReplica(replica).build().toByteArray());
        }
        TestApi.await("the replicas bound to " + node, WAIT, () -> java.util.Arrays.stream(replicas)
                .allMatch(r -> nodeObjects.owns(node, dev.edgeplane.controlplane.events.EventRecorder.replica("default", r))));
    }

    /** The agent's end of ReportEvents: acks land in a queue. */
    private static final class Reporter implements AutoCloseable {
        final LinkedBlockingQueue<Long> acks = new LinkedBlockingQueue<>();
        final java.util.concurrent.atomic.AtomicReference<Throwable> error = new java.util.concurrent.atomic.AtomicReference<>();
        final StreamObserver<EventReport> reports;
        private final io.grpc.Context.CancellableContext context = io.grpc.Context.current().withCancellation();

        Reporter(ManagedChannel channel) {
            var out = new java.util.concurrent.atomic.AtomicReference<StreamObserver<EventReport>>();
            context.run(() -> out.set(AgentServiceGrpc.newStub(channel).reportEvents(new StreamObserver<>() {
                @Override
                public void onNext(EventReportAck ack) {
                    acks.add(ack.getSequence());
                }

                @Override
                public void onError(Throwable t) {
                    error.set(t);
                }

                @Override
                public void onCompleted() {}
            })));
            reports = out.get();
        }

        void sendAndAwaitAck(EventReport report) throws InterruptedException {
            reports.onNext(report);
            Long ack = acks.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertNotNull(ack, "no ack for report " + report.getSequence());
            assertEquals(report.getSequence(), ack);
        }

        @Override
        public void close() {
            context.cancel(null);
        }
    }

    private static List<Event> list(EventServiceGrpc.EventServiceBlockingStub events, EventFilter filter) {
        return events.listEvents(ListEventsRequest.newBuilder().setFilter(filter).build()).getEventsList();
    }

    private static BadRequest.FieldViolation violation(StatusRuntimeException e) {
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        com.google.rpc.Status details = StatusProto.fromThrowable(e);
        assertNotNull(details);
        try {
            return details.getDetails(0).unpack(BadRequest.class).getFieldViolations(0);
        } catch (com.google.protobuf.InvalidProtocolBufferException x) {
            throw new AssertionError(x);
        }
    }

    @Test
    void agentEventsAggregateListPageWatchAndExpire() throws Exception {
        try (TestApi api = new TestApi(); TestAgent agent = new TestAgent(NODE)) {
            var events = api.withToken(EventServiceGrpc.newBlockingStub(api.channel), api.adminToken);
            JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder().setToken(JoinToken.newBuilder()
                    .setSpec(JoinTokenSpec.newBuilder())).build());
            agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
            assign(NODE, "web-0", "web-1");

            // The control plane's own events go through the same store.
            TestApi.await("NodeJoined recorded", WAIT, () -> list(events, EventFilter.newBuilder().setNode(NODE)
                    .setReason("NodeJoined").build()).size() == 1);

            // A watch of web-0's events, open before anything about it happens.
            LinkedBlockingQueue<WatchEventsResponse> watched = new LinkedBlockingQueue<>();
            io.grpc.Context.CancellableContext watchContext = io.grpc.Context.current().withCancellation();
            watchContext.run(() -> api.withToken(EventServiceGrpc.newStub(api.channel), api.adminToken).withDeadline(null)
                    .watchEvents(WatchEventsRequest.newBuilder().setFilter(EventFilter.newBuilder().setKind("Replica").setName("web-0")).build(),
                            new StreamObserver<>() {
                                @Override
                                public void onNext(WatchEventsResponse value) {
                                    watched.add(value);
                                }

                                @Override
                                public void onError(Throwable t) {}

                                @Override
                                public void onCompleted() {}
                            }));
            Instant now = Instant.now();
            try (Reporter reporter = new Reporter(agent.syncChannel(TestApi.agentPort()))) {
                EventReport first = EventReport.newBuilder().setSequence(1_000)
                        .addEvents(record("web-0", "BackOff", EventLevel.WARNING, 2, "back-off 10s", now.minusSeconds(3)))
                        .addEvents(record("web-0", "Started", EventLevel.INFO, 1, "started container main", now.minusSeconds(2)))
                        .addEvents(record("web-1", "Pulled", EventLevel.INFO, 1, "pulled image x", now.minusSeconds(1)))
                        // An agent speaks only for its own node, whatever it names.
                        .addEvents(AgentEventRecord.newBuilder().setLevel(EventLevel.WARNING).setReason("JournalCorrupt")
                                .setMessage("bad journal").setCount(1).setLastTime(at(now))
                                .setInvolvedObject(ObjectReference.newBuilder().setKind("Node").setName("someone-else")))
                        .build();
                reporter.sendAndAwaitAck(first);
                // Acked means written: no polling needed.
                List<Event> backOff = list(events, EventFilter.newBuilder().setKind("Replica").setName("web-0").setReason("BackOff").build());
                assertEquals(1, backOff.size());
                assertEquals(2, backOff.get(0).getCount());
                assertEquals(NODE, backOff.get(0).getNode());
                assertEquals("agent", backOff.get(0).getSource());
                assertEquals("default", backOff.get(0).getMetadata().getNamespace());
                List<Event> corrupt = list(events, EventFilter.newBuilder().setReason("JournalCorrupt").build());
                assertEquals(1, corrupt.size());
                assertEquals(NODE, corrupt.get(0).getInvolvedObject().getName());

                // The link died before the ack arrived: the agent re-sends the same report. Not counted twice.
                reporter.sendAndAwaitAck(first);
                assertEquals(2, list(events, EventFilter.newBuilder().setName("web-0").setReason("BackOff").build()).get(0).getCount());

                // More of the same later: one record, the count grows, the latest message wins.
                reporter.sendAndAwaitAck(EventReport.newBuilder().setSequence(1_001)
                        .addEvents(record("web-0", "BackOff", EventLevel.WARNING, 3, "back-off 40s", now)).build());
                backOff = list(events, EventFilter.newBuilder().setName("web-0").setReason("BackOff").build());
                assertEquals(1, backOff.size());
                assertEquals(5, backOff.get(0).getCount());
                assertEquals("back-off 40s", backOff.get(0).getMessage());
                assertEquals(now.getEpochSecond(), backOff.get(0).getLastTime().getSeconds());
                assertEquals(now.minusSeconds(13).getEpochSecond(), backOff.get(0).getFirstTime().getSeconds());
            }

            // The watch saw BackOff ADDED (count 2) then MODIFIED (count 5).
            List<WatchEventsResponse> seen = new ArrayList<>();
            TestApi.await("the watch delivers the update", WAIT, () -> {
                watched.drainTo(seen);
                return seen.stream().anyMatch(w -> w.getType() == WatchEventsResponse.Type.MODIFIED
                        && w.getEvent().getReason().equals("BackOff") && w.getEvent().getCount() == 5);
            });
            assertTrue(seen.stream().anyMatch(w -> w.getType() == WatchEventsResponse.Type.ADDED && w.getEvent().getReason().equals("BackOff")),
                    seen.toString());
            assertTrue(seen.stream().allMatch(w -> w.getEvent().getInvolvedObject().getName().equals("web-0")), "filtered");

            // Filters and paging: newest first, pages of 1 give the same as one page.
            EventFilter ofNode = EventFilter.newBuilder().setNode(NODE).build();
            List<Event> all = list(events, ofNode);
            assertTrue(all.size() >= 5, all.toString());
            for (int i = 1; i < all.size(); i++) {
                assertTrue(Instant.ofEpochSecond(all.get(i - 1).getLastTime().getSeconds(), all.get(i - 1).getLastTime().getNanos())
                        .compareTo(Instant.ofEpochSecond(all.get(i).getLastTime().getSeconds(), all.get(i).getLastTime().getNanos())) >= 0,
                        "newest first");
            }
            List<String> paged = new ArrayList<>();
            String page = "";
            do {
                ListEventsResponse r = events.listEvents(ListEventsRequest.newBuilder().setFilter(ofNode).setPageSize(1).setPageToken(page).build());
                r.getEventsList().forEach(e -> paged.add(e.getMetadata().getName()));
                page = r.getNextPageToken();
            } while (!page.isEmpty());
            assertEquals(all.stream().map(e -> e.getMetadata().getName()).toList(), paged);
            List<Event> warnings = list(events, EventFilter.newBuilder().setNode(NODE).setMinLevel(EventLevel.WARNING).build());
            assertEquals(List.of("BackOff", "JournalCorrupt"), warnings.stream().map(Event::getReason).sorted().toList());
            assertEquals(List.of("web-1"), list(events, EventFilter.newBuilder().setNamespace("default").setReason("Pulled").build())
                    .stream().map(e -> e.getInvolvedObject().getName()).toList());

            // Bad filters name their field.
            assertEquals("filter.kind", violation(assertThrows(StatusRuntimeException.class, () -> list(events,
                    EventFilter.newBuilder().setKind("Pod").build()))).getField());
            assertEquals("filter.node", violation(assertThrows(StatusRuntimeException.class, () -> list(events,
                    EventFilter.newBuilder().setNode("Not_A_Node").build()))).getField());
            assertEquals("page_size", violation(assertThrows(StatusRuntimeException.class, () -> events.listEvents(
                    ListEventsRequest.newBuilder().setPageSize(-1).build()))).getField());
            assertEquals("page_token", violation(assertThrows(StatusRuntimeException.class, () -> events.listEvents(
                    ListEventsRequest.newBuilder().setPageToken("not-a-token").build()))).getField());
            var watchIterator = api.withToken(EventServiceGrpc.newBlockingStub(api.channel), api.adminToken).watchEvents(
                    WatchEventsRequest.newBuilder().setFilter(EventFilter.newBuilder().setMinLevelValue(42)).build());
            assertEquals("filter.min_level", violation(assertThrows(StatusRuntimeException.class, watchIterator::hasNext)).getField());

            // Each record has a lease (shared per time bucket) and is gone once it expires: TTL 4s (+ a 1s bucket).
            String key = Keys.event("default", backOff(events).getMetadata().getName());
            var kv = api.etcd.getKVClient().get(ByteSequence.from(key, StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS).getKvs();
            assertEquals(1, kv.size());
            assertNotEquals(0, kv.get(0).getLease(), "written under a lease");
            TestApi.await("the event expires", WAIT, () -> api.etcdGet(key) == null);
            TestApi.await("the watch and the list forget it", WAIT, () -> list(events, EventFilter.newBuilder().setName("web-0")
                    .setReason("BackOff").build()).isEmpty());
            TestApi.await("the watch says DELETED", WAIT, () -> {
                watched.drainTo(seen);
                return seen.stream().anyMatch(w -> w.getType() == WatchEventsResponse.Type.DELETED && w.getEvent().getReason().equals("BackOff"));
            });
            watchContext.cancel(null);
        }
    }

    /** An agent's event storm is folded in memory: far fewer etcd writes than occurrences, no count lost. */
    @Test
    void anEventStormCostsFewWritesAndLosesNoCount() throws Exception {
        try (TestApi api = new TestApi(); TestAgent agent = new TestAgent("edge-storm")) {
            var events = api.withToken(EventServiceGrpc.newBlockingStub(api.channel), api.adminToken);
            JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder().setToken(JoinToken.newBuilder()
                    .setSpec(JoinTokenSpec.newBuilder())).build());
            agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
            assign("edge-storm", "storm-0");
            int reports = 200;
            try (Reporter reporter = new Reporter(agent.syncChannel(TestApi.agentPort()))) {
                for (int i = 1; i <= reports; i++) {
                    reporter.reports.onNext(EventReport.newBuilder().setSequence(i)
                            .addEvents(record("storm-0", "BackOff", EventLevel.WARNING, 1, "back-off " + i, Instant.now())).build());
                }
                for (int i = 1; i <= reports; i++) {
                    Long ack = reporter.acks.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
                    assertEquals(i, ack, "acks in order, each once its records are written");
                }

                // A deleted node's open stream takes no more reports.
                api.nodes().deleteNode(dev.edgeplane.api.v1.DeleteNodeRequest.newBuilder().setName("edge-storm").build());
                TestApi.await("the node gone from the cache", WAIT, () -> {
                    reporter.reports.onNext(EventReport.newBuilder().setSequence(reports + 1)
                            .addEvents(record("storm-0", "BackOff", EventLevel.WARNING, 1, "after delete", Instant.now())).build());
                    try {
                        Thread.sleep(100);
                    } catch (InterruptedException e) {
                        throw new AssertionError(e);
                    }
                    return reporter.error.get() != null;
                });
                assertEquals(Status.Code.UNAUTHENTICATED, Status.fromThrowable(reporter.error.get()).getCode());
            }
            Event storm = list(events, EventFilter.newBuilder().setName("storm-0").build()).get(0);
            assertEquals(reports, storm.getCount());
            assertEquals("back-off " + reports, storm.getMessage());
            var kv = api.etcd.getKVClient().get(ByteSequence.from(Keys.event("default", storm.getMetadata().getName()),
                    StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS).getKvs().get(0);
            System.out.println("event storm: " + reports + " occurrences, " + kv.getVersion() + " etcd writes of the record");
            assertTrue(kv.getVersion() <= reports / 4, "writes are coalesced: " + kv.getVersion() + " for " + reports);
        }
    }

    private static Event backOff(EventServiceGrpc.EventServiceBlockingStub events) {
        return list(events, EventFilter.newBuilder().setName("web-0").setReason("BackOff").build()).get(0);
    }
}
