package dev.edgeplane.agent.events;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.agent.Await;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.EventReport;
import dev.edgeplane.api.v1.EventReportAck;
import dev.edgeplane.api.v1.ObjectReference;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The uploader against an in-process AgentService (gRPC's real stream machinery). */
class EventUploaderTest {
    private static final Duration TICK = Duration.ofMillis(20);

    @TempDir
    Path tmp;
    private Server server;
    private ManagedChannel channel;
    private EventSpool spool;
    private EventUploader uploader;
    private final AtomicInteger streams = new AtomicInteger();
    private final List<EventReport> reports = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws Exception {
        String name = "events-" + System.nanoTime();
        server = InProcessServerBuilder.forName(name).directExecutor().addService(new AgentServiceGrpc.AgentServiceImplBase() {
            @Override
            public StreamObserver<EventReport> reportEvents(StreamObserver<EventReportAck> acks) {
                streams.incrementAndGet();
                return new StreamObserver<>() {
                    @Override
                    public void onNext(EventReport report) {
                        reports.add(report);
                        acks.onNext(EventReportAck.newBuilder().setSequence(report.getSequence()).build());
                    }

                    @Override
                    public void onError(Throwable t) { }

                    @Override
                    public void onCompleted() {
                        acks.onCompleted();
                    }
                };
            }
        }).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        spool = EventSpool.open(tmp.resolve("events"), EventSpool.DEFAULT_CAPACITY, Clock.systemUTC());
        uploader = new EventUploader(channel, () -> true, spool, TICK);
    }

    @AfterEach
    void stop() throws Exception {
        uploader.close();
        spool.close();
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void aNodeWithNothingToReportOpensNoStreamAndOneOnceItHas() throws Exception {
        uploader.start();
        Thread.sleep(TICK.toMillis() * 15); // fifteen ticks with an empty spool
        assertEquals(0, streams.get(), "no stream while there is nothing to say");

        spool.record(EventLevel.WARNING, ObjectReference.newBuilder().setKind("Replica").setNamespace("default").setName("web-0").build(),
                "BackOff", "restarting failed container");
        Await.until(Duration.ofSeconds(10), "the record reported and acked", () -> reports.size() == 1 && spool.size() == 0,
                () -> reports + ", spool " + spool.size());
        assertEquals("BackOff", reports.get(0).getEvents(0).getReason());

        spool.record(EventLevel.INFO, ObjectReference.newBuilder().setKind("Replica").setNamespace("default").setName("web-1").build(),
                "Started", "started container main");
        Await.until(Duration.ofSeconds(10), "the next record on the same stream", () -> reports.size() == 2, reports::toString);
        assertEquals(1, streams.get(), "one stream, kept open once it had something to carry");
    }
}
