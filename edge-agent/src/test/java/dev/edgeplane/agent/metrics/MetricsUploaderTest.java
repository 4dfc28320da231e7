package dev.edgeplane.agent.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.Await;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.MetricsAck;
import dev.edgeplane.api.v1.MetricsBatch;
import dev.edgeplane.api.v1.SeriesDefinition;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The uploader's ack/resend logic against an in-process AgentService (gRPC's real stream machinery,
 * flow control included): live batches, offline frames on disk, backfill after reconnect, resend of
 * what a dead stream had not acked, per-stream series definitions.
 */
class MetricsUploaderTest {
    private static final Series LOAD = Series.gauge("node_load1");
    private static final Series RX = Series.counter("node_network_receive_bytes_total", "interface", "eth0");
    /** Frame times are offsets from here: recent enough for the ring's 24 h retention. */
    private static final long T = (System.currentTimeMillis() / 1000 - 600) * 1000;

    @TempDir
    Path tmp;
    private Server server;
    private ManagedChannel channel;
    private ExecutorService thread;
    private MetricsRing ring;
    private MetricsUploader uploader;
    private final AtomicBoolean link = new AtomicBoolean(true);
    private final AtomicBoolean autoAck = new AtomicBoolean(true);
    /** Whether the server's first ack on a stream says it reads SampleBlocks (a control plane from before them does not). */
    private final AtomicBoolean readsBlocks = new AtomicBoolean(false);
    private final AtomicLong nanos = new AtomicLong();
    /** Acks the uploader passed on (to the heartbeat schedule, in the agent). */
    private final AtomicLong acksHeard = new AtomicLong();
    /** Every batch the server got, per stream (index = stream number). */
    private final List<List<MetricsBatch>> streams = new CopyOnWriteArrayList<>();
    private final AtomicReference<StreamObserver<MetricsAck>> lastAcks = new AtomicReference<>();

    @BeforeEach
    void start() throws Exception {
        String name = "metrics-" + System.nanoTime();
        server = InProcessServerBuilder.forName(name).directExecutor().addService(new AgentServiceGrpc.AgentServiceImplBase() {
            @Override
            public StreamObserver<MetricsBatch> reportMetrics(StreamObserver<MetricsAck> acks) {
                List<MetricsBatch> got = new CopyOnWriteArrayList<>();
                streams.add(got);
                lastAcks.set(acks);
                AtomicBoolean first = new AtomicBoolean(true);
                return new StreamObserver<>() {
                    @Override
                    public void onNext(MetricsBatch batch) {
                        got.add(batch);
                        if (autoAck.get()) {
                            acks.onNext(MetricsAck.newBuilder().setSequence(batch.getSequence())
                                    .setReadsBlocks(readsBlocks.get() && first.getAndSet(false)).build());
                        }
                    }

                    @Override
                    public void onError(Throwable t) {}

                    @Override
                    public void onCompleted() {
                        acks.onCompleted();
                    }
                };
            }
        }).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        thread = Executors.newSingleThreadExecutor();
        ring = MetricsRing.open(tmp.resolve("ring"), 1 << 20, Duration.ofHours(24), Clock.systemUTC());
        uploader = new MetricsUploader(channel, link::get, ring, new SequenceFile(tmp.resolve("sequence")),
                new Downsampler(Duration.ofSeconds(1)), new MetricsUploader.Settings(Duration.ofSeconds(1), false, 100, 3, 0),
                thread, nanos::get, acksHeard::incrementAndGet);
    }

    @AfterEach
    void stop() throws Exception {
        on(uploader::shutdown);
        thread.shutdownNow();
        channel.shutdownNow();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        ring.close();
    }

    private void on(Runnable r) throws Exception {
        thread.submit(r).get(10, TimeUnit.SECONDS);
    }

    /** A value read on the uploader's own thread. */
    private <T> T get(java.util.concurrent.Callable<T> c) {
        try {
            return thread.submit(c).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Records a frame and ticks past the flush period. */
    private void sampleAndFlush(long timeMs, double value) throws Exception {
        Map<Series, Double> values = new java.util.LinkedHashMap<>();
        values.put(LOAD, value);
        values.put(RX, value * 100);
        on(() -> uploader.record(new Frame(T + timeMs, values)));
        nanos.addAndGet(Duration.ofSeconds(2).toNanos());
        on(uploader::tick);
    }

    private List<MetricsBatch> all() {
        List<MetricsBatch> out = new ArrayList<>();
        streams.forEach(out::addAll);
        return out;
    }

    @Test
    void liveBatchesCarryDefinitionsOnceAndAreDroppedWhenAcked() throws Exception {
        on(uploader::tick); // opens the stream
        sampleAndFlush(1000, 1);
        sampleAndFlush(2000, 2);
        Await.until(Duration.ofSeconds(10), "two batches", () -> all().size() == 2);
        MetricsBatch first = all().get(0);
        MetricsBatch second = all().get(1);
        assertEquals(2, first.getNewSeriesCount());
        assertEquals(0, second.getNewSeriesCount(), "defined once per stream");
        assertTrue(second.getSequence() > first.getSequence());
        assertFalse(first.getBackfill());
        assertEquals(List.of(1.0, 100.0), first.getFrames(0).getValuesList());
        Await.until(Duration.ofSeconds(10), "acked", () -> get(uploader::queued) == 0L);
        assertEquals(2, acksHeard.get(), "each ack is passed on");
    }

    @Test
    void batchesComeAsBlocksOnceTheControlPlaneSaysItReadsThem() throws Exception {
        readsBlocks.set(true);
        on(uploader::tick);
        for (int i = 1; i <= 3; i++) {
            sampleAndFlush(i * 1000L, i);
        }
        Await.until(Duration.ofSeconds(10), "three batches", () -> all().size() == 3);
        List<MetricsBatch> got = all();
        assertEquals(1, got.get(0).getFramesCount(), "before the first ack: frames, which every control plane reads");
        assertEquals(0, got.get(0).getBlocksCount());
        for (MetricsBatch later : got.subList(1, 3)) {
            assertEquals(0, later.getFramesCount());
            assertEquals(1, later.getBlocksCount(), "after an ack that said so: blocks");
        }
        WireFormat.Reader reader = new WireFormat.Reader();
        List<Frame> read = new ArrayList<>();
        got.forEach(b -> read.addAll(reader.frames(b)));
        assertEquals(List.of(T + 1000, T + 2000, T + 3000), read.stream().map(Frame::timeUnixMs).toList());
        assertEquals(List.of(1.0, 2.0, 3.0), read.stream().map(f -> f.values().get(LOAD)).toList());
        assertEquals(List.of(100.0, 200.0, 300.0), read.stream().map(f -> f.values().get(RX)).toList());
    }

    @Test
    void offlineFramesGoToDiskAndComeBackAsBackfillAtTheirTimes() throws Exception {
        link.set(false);
        for (int i = 0; i < 7; i++) {
            sampleAndFlush(10_000L + i * 1000, i); // one-second buckets: seven ring records
        }
        assertTrue(streams.isEmpty(), "no stream while the link is down");
        Await.until(Duration.ofSeconds(5), "on disk", () -> ring.pending() >= 6);
        link.set(true);
        nanos.addAndGet(Duration.ofSeconds(5).toNanos());
        on(uploader::tick); // the stream opens; the backlog starts
        sampleAndFlush(20_000, 42); // live
        Await.until(Duration.ofSeconds(10), "backlog uploaded", () -> get(uploader::queued) == 0L, () -> all().toString());
        List<MetricsBatch> got = all();
        List<MetricsBatch> live = got.stream().filter(b -> !b.getBackfill()).toList();
        assertEquals(1, live.size());
        assertEquals(T + 20_000, live.get(0).getFrames(0).getTimeUnixMs(), "live data is not backfill");
        List<Long> backfillTimes = new ArrayList<>();
        List<Double> backfillValues = new ArrayList<>();
        for (MetricsBatch b : got) {
            if (b.getBackfill()) {
                assertTrue(b.getFramesCount() <= 3, "backfill batches are small");
                b.getFramesList().forEach(f -> {
                    backfillTimes.add(f.getTimeUnixMs());
                    backfillValues.add(f.getValues(0));
                });
            }
        }
        assertEquals(List.of(10_000L, 11_000L, 12_000L, 13_000L, 14_000L, 15_000L, 16_000L).stream().map(t -> T + t).toList(), backfillTimes, "oldest first, original times");
        assertEquals(List.of(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0), backfillValues);
        assertEquals(0, ring.pending(), "deleted from the ring once acked");
    }

    @Test
    void whatADeadStreamDidNotAckIsSentAgainOnTheNextWithDefinitionsAgain() throws Exception {
        autoAck.set(false);
        on(uploader::tick);
        sampleAndFlush(1000, 1);
        sampleAndFlush(2000, 2);
        Await.until(Duration.ofSeconds(10), "two unacked batches", () -> all().size() == 2);
        // Cumulative: acking the first leaves only the second's frame outstanding.
        lastAcks.get().onNext(MetricsAck.newBuilder().setSequence(all().get(0).getSequence()).build());
        Await.until(Duration.ofSeconds(10), "first acked", () -> get(uploader::queued) == 1L);
        lastAcks.get().onError(io.grpc.Status.UNAVAILABLE.withDescription("cut").asRuntimeException());
        Await.until(Duration.ofSeconds(10), "stream gone", () -> !get(uploader::streaming));
        assertEquals(1, ring.pending(), "the unacked frame is on disk");
        autoAck.set(true);
        nanos.addAndGet(Duration.ofMinutes(10).toNanos()); // past the retry delay
        on(uploader::tick);
        Await.until(Duration.ofSeconds(10), "resent", () -> streams.size() == 2 && !streams.get(1).isEmpty());
        MetricsBatch resent = streams.get(1).get(0);
        assertTrue(resent.getBackfill());
        assertEquals(2, resent.getNewSeriesCount(), "a new stream defines its series again");
        assertEquals(T + 2000, resent.getFrames(0).getTimeUnixMs());
        assertTrue(resent.getSequence() > all().get(1).getSequence(), "sequences only grow");
        Await.until(Duration.ofSeconds(10), "acked", () -> get(uploader::queued) == 0L && ring.pending() == 0);
    }

    @Test
    void aCumulativeAckCoversEveryBatchBeforeIt() throws Exception {
        autoAck.set(false);
        link.set(false);
        for (int i = 0; i < 5; i++) {
            sampleAndFlush(1000L * i, i);
        }
        link.set(true);
        on(uploader::tick);
        sampleAndFlush(10_000, 9);
        Await.until(Duration.ofSeconds(10), "live + one backfill batch in flight", () -> all().size() == 2);
        assertEquals(1, all().stream().filter(MetricsBatch::getBackfill).count(), "one backfill batch at a time");
        long backlog = ring.pending();
        MetricsBatch newest = all().get(1);
        MetricsBatch backfill = all().stream().filter(MetricsBatch::getBackfill).findFirst().orElseThrow();
        lastAcks.get().onNext(MetricsAck.newBuilder().setSequence(newest.getSequence()).build());
        Await.until(Duration.ofSeconds(10), "the next backfill batch after the ack", () -> all().size() == 3);
        assertTrue(all().get(2).getBackfill());
        assertEquals(backlog - backfill.getFramesCount(), ring.pending(), "only acked records left the ring");
        assertEquals(0, get(uploader::queued) - ring.pending(), "the live batch is covered by the cumulative ack too");
        for (SeriesDefinition d : all().get(0).getNewSeriesList()) {
            assertTrue(d.getId() > 0);
        }
    }

    @Test
    void whatWasNotAckedAtShutdownIsUploadedByTheNextRun() throws Exception {
        autoAck.set(false);
        on(uploader::tick);
        sampleAndFlush(1000, 1); // sent, never acked
        on(() -> uploader.record(new Frame(T + 2000, Map.of(LOAD, 2.0)))); // not even sent
        Await.until(Duration.ofSeconds(10), "one batch sent", () -> all().size() == 1);
        on(uploader::shutdown);
        ring.close();

        // The next run: same state dir, a fresh process.
        autoAck.set(true);
        ring = MetricsRing.open(tmp.resolve("ring"), 1 << 20, Duration.ofHours(24), Clock.systemUTC());
        assertEquals(2, ring.pending(), "both frames kept on disk");
        uploader = new MetricsUploader(channel, link::get, ring, new SequenceFile(tmp.resolve("sequence")),
                new Downsampler(Duration.ofSeconds(1)), new MetricsUploader.Settings(Duration.ofSeconds(1), false, 100, 3, 0),
                thread, nanos::get, acksHeard::incrementAndGet);
        on(uploader::tick);
        Await.until(Duration.ofSeconds(10), "backfilled", () -> ring.pending() == 0);
        MetricsBatch backfill = streams.get(streams.size() - 1).get(0);
        assertTrue(backfill.getBackfill());
        assertEquals(List.of(T + 1000, T + 2000), backfill.getFramesList().stream().map(f -> f.getTimeUnixMs()).toList());
        assertTrue(backfill.getSequence() > all().get(0).getSequence(), "sequences grow across runs");
    }

    @Test
    void aControlPlaneThatTakesNothingCostsDiskNotMemory() throws Exception {
        // Over real HTTP/2 (Netty, loopback): a server that never asks for a message. Flow control
        // (the stream window, then isReady) holds the agent back; past MAX_UNSENT batches it gives up.
        java.util.concurrent.atomic.AtomicInteger read = new java.util.concurrent.atomic.AtomicInteger();
        Server stuck = io.grpc.netty.NettyServerBuilder.forAddress(new java.net.InetSocketAddress("127.0.0.1", 0))
                .addService(new AgentServiceGrpc.AgentServiceImplBase() {
                    @Override
                    public StreamObserver<MetricsBatch> reportMetrics(StreamObserver<MetricsAck> acks) {
                        ((io.grpc.stub.ServerCallStreamObserver<MetricsAck>) acks).disableAutoRequest();
                        return new StreamObserver<>() {
                            @Override
                            public void onNext(MetricsBatch batch) {
                                read.incrementAndGet();
                            }

                            @Override
                            public void onError(Throwable t) {}

                            @Override
                            public void onCompleted() {}
                        };
                    }
                }).build().start();
        ManagedChannel toStuck = io.grpc.netty.NettyChannelBuilder.forAddress("127.0.0.1", stuck.getPort()).usePlaintext().build();
        MetricsRing disk = MetricsRing.open(tmp.resolve("stuck-ring"), 64L << 20, Duration.ofHours(24), Clock.systemUTC());
        MetricsUploader stuckUploader = new MetricsUploader(toStuck, link::get, disk, new SequenceFile(tmp.resolve("stuck-seq")),
                new Downsampler(Duration.ofSeconds(1)), new MetricsUploader.Settings(Duration.ofSeconds(1), false, 100, 3, 0), thread, nanos::get,
                acksHeard::incrementAndGet);
        try {
            Map<Series, Double> wide = new java.util.LinkedHashMap<>();
            for (int i = 0; i < 1000; i++) {
                wide.put(Series.gauge("container_memory_working_set_bytes", "container", "c" + i), (double) i);
            }
            on(stuckUploader::tick);
            int frames = 0;
            while (get(stuckUploader::streaming) && frames < 200) {
                long t = T + 1000L * frames++;
                on(() -> stuckUploader.record(new Frame(t, wide)));
                nanos.addAndGet(Duration.ofSeconds(2).toNanos());
                on(stuckUploader::tick);
            }
            assertFalse(get(stuckUploader::streaming), "the stream is given up after " + frames + " batches");
            assertEquals(0, read.get(), "the server read nothing");
            assertEquals(frames, disk.pending(), "every frame waits on disk, none in memory");
            assertEquals(frames, (long) get(stuckUploader::queued));
        } finally {
            on(stuckUploader::shutdown);
            toStuck.shutdownNow();
            stuck.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            disk.close();
        }
    }

    @Test
    void sequencesGrowAcrossRestarts() throws Exception {
        SequenceFile a = new SequenceFile(tmp.resolve("seq2"));
        long first = a.next();
        a.next();
        SequenceFile b = new SequenceFile(tmp.resolve("seq2"));
        assertTrue(b.next() > first + 1);
    }
}
