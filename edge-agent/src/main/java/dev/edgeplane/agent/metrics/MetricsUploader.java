package dev.edgeplane.agent.metrics;

import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.MetricsAck;
import dev.edgeplane.api.v1.MetricsBatch;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executor;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Sends frames to the control plane on their own ReportMetrics stream, next to Sync on the agent's
 * channel, and keeps everything the control plane has not acked:
 * <ul>
 * <li>online, frames wait in memory and go out as one batch per flush period; a batch stays unacked
 *     until a cumulative MetricsAck covers its sequence;</li>
 * <li>with no stream up (link down, or the stream failed), frames are downsampled into the on-disk
 *     {@link MetricsRing}; when a stream dies, its unacked live frames move to the ring too;</li>
 * <li>after reconnecting, the ring is uploaded oldest first with backfill=true, one batch in flight
 *     at a time and behind the live batch, and a ring record is deleted only once acked.</li>
 * </ul>
 * Series ids are per stream: a new stream defines them again. gRPC flow control paces sending
 * (isReady/onReady); nothing here ever blocks. Not thread-safe by design: every method, and every
 * gRPC callback (handed over through {@code executor}), runs on the one metrics thread.
 */
public final class MetricsUploader {
    private static final Logger LOG = Logger.getLogger(MetricsUploader.class.getName());
    /** Batches built but held back by flow control before the stream is given up (its frames go to disk). */
    static final int MAX_UNSENT = 10;

    /**
     * @param flush            how often live frames go out as a batch
     * @param gzip             compress the stream (grpc-encoding gzip)
     * @param maxLiveFrames    frames kept in memory while a stream is up but not taking them; older ones go to the ring
     * @param backfillPerBatch ring records per backfill batch
     * @param precisionBits    values as codes, gauges at this precision ({@link WireFormat.Ids}); 0: as doubles
     */
    public record Settings(Duration flush, boolean gzip, int maxLiveFrames, int backfillPerBatch, int precisionBits) {}

    private record Pending(long sequence, MetricsBatch batch, List<Frame> liveFrames, long lastRingId) {
        boolean backfill() {
            return lastRingId >= 0;
        }
    }

    private final Channel channel;
    private final BooleanSupplier linkUp;
    private final MetricsRing ring;
    private final SequenceFile sequences;
    private final Downsampler downsampler;
    private final Settings settings;
    private final Executor executor;
    private final LongSupplier nanoTime;
    private boolean gzip;
    private int precisionBits;
    private final Runnable onAck;
    private final ArrayDeque<Frame> live = new ArrayDeque<>();
    private Stream stream;
    private long lastLiveFlush;
    private long retryAt;
    private Duration retryDelay = Duration.ofSeconds(1);
    private String lastFailure = "";
    private long bytesSent;
    private long batchesAcked;
    private long backfillFramesAcked;

    public MetricsUploader(Channel channel, BooleanSupplier linkUp, MetricsRing ring, SequenceFile sequences,
                           Downsampler downsampler, Settings settings, Executor executor, LongSupplier nanoTime, Runnable onAck) {
        this.channel = channel;
        this.linkUp = linkUp;
        this.ring = ring;
        this.sequences = sequences;
        this.downsampler = downsampler;
        this.settings = settings;
        this.executor = executor;
        this.nanoTime = nanoTime;
        this.gzip = settings.gzip();
        this.precisionBits = settings.precisionBits();
        this.onAck = onAck;
        this.lastLiveFlush = nanoTime.getAsLong();
        this.retryAt = nanoTime.getAsLong();
    }

    /** One stream and what was sent on it. */
    private final class Stream implements ClientResponseObserver<MetricsBatch, MetricsAck> {
        ClientCallStreamObserver<MetricsBatch> requests;
        final WireFormat.Ids ids = new WireFormat.Ids(precisionBits);
        final ArrayDeque<Pending> unsent = new ArrayDeque<>();
        final TreeMap<Long, Pending> unacked = new TreeMap<>();
        long backfillCursor;
        boolean backfillInFlight;
        boolean acked;
        /** The control plane said it reads SampleBlocks (its first ack): batches made from then on use them. */
        boolean readsBlocks;

        @Override
        public void beforeStart(ClientCallStreamObserver<MetricsBatch> requestStream) {
            requests = requestStream;
            requestStream.setOnReadyHandler(() -> post(() -> {
                if (stream == this) {
                    drain();
                }
            }));
        }

        @Override
        public void onNext(MetricsAck ack) {
            post(() -> {
                readsBlocks |= ack.getReadsBlocks();
                acked(this, ack.getSequence());
            });
        }

        @Override
        public void onError(Throwable t) {
            post(() -> lost(this, Status.fromThrowable(t)));
        }

        @Override
        public void onCompleted() {
            post(() -> lost(this, Status.UNAVAILABLE.withDescription("the control plane closed the metrics stream")));
        }

        /** Onto the metrics thread; once it has stopped (the agent is stopping) there is nothing left to do. */
        private void post(Runnable task) {
            try {
                executor.execute(task);
            } catch (java.util.concurrent.RejectedExecutionException stopped) {
                LOG.fine("metrics: stopped; ignoring a late stream callback");
            }
        }
    }

    /** A new frame from the sampler. */
    public void record(Frame frame) {
        if (stream != null) {
            live.addLast(frame);
            while (live.size() > settings.maxLiveFrames()) {
                store(live.pollFirst()); // the stream is not keeping up: older frames wait on disk
            }
        } else {
            downsampler.add(frame).ifPresent(this::store);
        }
    }

    /** Periodic: keeps a stream up while the link is, sends the live batch when due, and backfill. */
    public void tick() {
        boolean link = linkUp.getAsBoolean();
        if (stream != null && !link) {
            Stream s = stream;
            s.requests.cancel("the agent's link is down", null);
            lost(s, Status.UNAVAILABLE.withDescription("the agent's link is down"));
        }
        if (stream == null) {
            if (!link || nanoTime.getAsLong() - retryAt < 0) {
                return;
            }
            open();
        }
        if (nanoTime.getAsLong() - lastLiveFlush >= settings.flush().toNanos()) {
            lastLiveFlush = nanoTime.getAsLong();
            if (!live.isEmpty()) {
                List<Frame> frames = new ArrayList<>(live);
                live.clear();
                enqueue(frames, -1);
            }
        }
        topUpBackfill();
        drain();
        Stream s = stream;
        if (s != null && s.unsent.size() > MAX_UNSENT) {
            // The control plane takes nothing (flow control holds us): disk, not memory, is for waiting.
            s.requests.cancel("the control plane is not taking metrics", null);
            lost(s, Status.DEADLINE_EXCEEDED.withDescription(MAX_UNSENT + " batches waiting for flow control"));
        }
    }

    private void open() {
        downsampler.flush().ifPresent(this::store); // the offline bucket so far: backfill, not live
        Stream s = new Stream();
        AgentServiceGrpc.AgentServiceStub stub = AgentServiceGrpc.newStub(channel);
        if (gzip) {
            stub = stub.withCompression("gzip");
        }
        stream = s;
        try {
            stub.reportMetrics(s);
        } catch (RuntimeException e) {
            lost(s, Status.fromThrowable(e));
            return;
        }
        LOG.fine(() -> "metrics: stream open; " + ring.pending() + " frames to backfill");
    }

    private void enqueue(List<Frame> frames, long lastRingId) {
        MetricsBatch.Builder batch = MetricsBatch.newBuilder().setSequence(sequences.next()).setBackfill(lastRingId >= 0);
        if (stream.readsBlocks) {
            WireFormat.appendBlocks(batch, frames, stream.ids);
        } else {
            WireFormat.append(batch, frames, stream.ids);
        }
        stream.unsent.addLast(new Pending(batch.getSequence(), batch.build(), lastRingId >= 0 ? List.of() : frames, lastRingId));
    }

    private void topUpBackfill() {
        Stream s = stream;
        if (s == null || s.backfillInFlight) {
            return;
        }
        try {
            List<MetricsRing.Record> records = ring.readAfter(s.backfillCursor, settings.backfillPerBatch());
            if (records.isEmpty()) {
                return;
            }
            long last = records.get(records.size() - 1).id();
            enqueue(records.stream().map(MetricsRing.Record::frame).toList(), last);
            s.backfillCursor = last;
            s.backfillInFlight = true;
        } catch (IOException e) {
            LOG.warning("metrics: cannot read the ring: " + e);
        }
    }

    private void drain() {
        Stream s = stream;
        if (s == null) {
            return;
        }
        while (!s.unsent.isEmpty() && s.requests.isReady()) {
            Pending p = s.unsent.pollFirst();
            try {
                s.requests.onNext(p.batch());
            } catch (RuntimeException e) {
                s.unsent.addFirst(p);
                lost(s, Status.fromThrowable(e));
                return;
            }
            s.unacked.put(p.sequence(), p);
            bytesSent += p.batch().getSerializedSize();
        }
    }

    private void acked(Stream s, long sequence) {
        if (s != stream) {
            return;
        }
        if (!s.acked) {
            s.acked = true;
            retryDelay = Duration.ofSeconds(1);
            if (!lastFailure.isEmpty()) {
                LOG.info("metrics: uploading again");
                lastFailure = "";
            }
        }
        onAck.run();
        Map<Long, Pending> covered = s.unacked.headMap(sequence, true);
        for (Pending p : List.copyOf(covered.values())) {
            if (p.backfill()) {
                try {
                    ring.ackThrough(p.lastRingId());
                } catch (IOException e) {
                    LOG.warning("metrics: cannot record the ack in the ring (the frames will be sent again): " + e);
                }
                backfillFramesAcked += p.batch().getFramesCount();
                s.backfillInFlight = false;
            }
            batchesAcked++;
        }
        covered.clear();
        topUpBackfill();
        drain();
    }

    private void lost(Stream s, Status status) {
        if (s != stream) {
            return;
        }
        stream = null;
        // What the control plane may not hold goes to disk, oldest first, at its original timestamps.
        List<Pending> pending = new ArrayList<>(s.unacked.values());
        pending.addAll(s.unsent);
        for (Pending p : pending) {
            p.liveFrames().forEach(this::store);
        }
        live.forEach(this::store);
        live.clear();
        String failure = status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription());
        if (gzip && !s.acked && status.getCode() == Status.Code.UNIMPLEMENTED && failure.toLowerCase(java.util.Locale.ROOT).contains("compress")) {
            // A control plane without gzip ("Can't find decompressor"): plain protobuf it is.
            gzip = false;
            LOG.info("metrics: the control plane does not take gzip; sending uncompressed");
        }
        if (precisionBits != 0 && !s.acked && status.getCode() == Status.Code.INVALID_ARGUMENT && failure.contains("values for")) {
            // A control plane from before coded values counts only the doubles ("N values for M series ids").
            precisionBits = 0;
            LOG.info("metrics: the control plane does not take coded values; sending doubles");
        }
        if (!s.acked) {
            retryDelay = retryDelay.multipliedBy(2).compareTo(Duration.ofMinutes(5)) > 0 ? Duration.ofMinutes(5) : retryDelay.multipliedBy(2);
        }
        retryAt = nanoTime.getAsLong() + retryDelay.toNanos();
        if (!failure.equals(lastFailure)) {
            Level level = status.getCode() == Status.Code.CANCELLED ? Level.FINE : Level.INFO;
            LOG.log(level, "metrics: stream ended (" + failure + "); keeping frames on disk, retrying in " + retryDelay.toSeconds() + " s");
            lastFailure = failure;
        }
    }

    private void store(Frame frame) {
        try {
            ring.append(frame);
        } catch (IOException e) {
            LOG.warning("metrics: cannot write the ring, a frame is lost: " + e);
        }
    }

    /** Stops: cancels the stream and puts everything unacked on disk (a restarted agent uploads it). */
    public void shutdown() {
        Stream s = stream;
        if (s != null) {
            s.requests.cancel("agent stopping", null);
            lost(s, Status.CANCELLED.withDescription("agent stopping"));
        }
        live.forEach(this::store);
        live.clear();
        downsampler.flush().ifPresent(this::store);
    }

    /** Frames not yet acked: in memory, in flight, and on disk. */
    public long queued() {
        long n = live.size() + ring.pending();
        Stream s = stream;
        if (s != null) {
            for (Pending p : s.unacked.values()) {
                n += p.liveFrames().size();
            }
            for (Pending p : s.unsent) {
                n += p.liveFrames().size();
            }
        }
        return n;
    }

    public boolean streaming() {
        return stream != null;
    }

    /** Serialized batch bytes handed to gRPC (before compression and framing). */
    public long bytesSent() {
        return bytesSent;
    }

    public long batchesAcked() {
        return batchesAcked;
    }

    public long backfillFramesAcked() {
        return backfillFramesAcked;
    }
}
