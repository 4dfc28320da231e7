package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.metrics.ValueCodes;
import dev.edgeplane.api.v1.MetricKind;
import dev.edgeplane.api.v1.MetricsAck;
import dev.edgeplane.api.v1.MetricsBatch;
import dev.edgeplane.api.v1.SampleBlock;
import dev.edgeplane.api.v1.SampleFrame;
import dev.edgeplane.api.v1.SeriesDefinition;
import dev.edgeplane.api.v1.ValueCoding;
import dev.edgeplane.controlplane.api.Validation;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * The server side of AgentService.ReportMetrics for one node's stream: keeps the stream's series-id
 * table, checks a whole batch before storing any of it, stores it, then acks cumulatively. A batch is
 * asked for only after the previous one is stored (gRPC flow control: a slow store slows the agent,
 * never piles up batches here). Unknown ids and malformed batches end the stream with
 * INVALID_ARGUMENT naming the field.
 */
public final class MetricsReceiver {
    private static final Logger LOG = Logger.getLogger(MetricsReceiver.class);
    static final int MAX_LABELS = 32;
    static final int MAX_LABEL_VALUE = 1024;
    /** Lengths of a series name and of a label name: what a hostile agent could otherwise make the store hold. */
    static final int MAX_NAME = 200;
    static final int MAX_LABEL_NAME = 128;
    /** Series one stream may define (its id -> key maps live as long as the stream). An agent has a few hundred. */
    static final int MAX_SERIES_PER_STREAM = 20_000;
    /** Batches a stream may have in flight towards us before we ask for more. */
    private static final int WINDOW = 2;

    private final SampleSink sink;
    private final MetricsStore store;
    private final Clock clock;
    private final long maxAheadMs;
    private final ReceiverCounters counters;

    /** Counts for /metrics across streams. */
    public static final class ReceiverCounters {
        final java.util.concurrent.atomic.LongAdder batches = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder invalid = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder future = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.AtomicInteger open = new java.util.concurrent.atomic.AtomicInteger();

        public long batches() {
            return batches.sum();
        }

        public long invalidBatches() {
            return invalid.sum();
        }

        public long pointsFromTheFuture() {
            return future.sum();
        }

        public int openStreams() {
            return open.get();
        }
    }

    /** Where every sample stored is also handed (remote-write), on the stream's thread: must not block. */
    public interface SampleSink {
        void accept(SeriesKey key, long timeMs, double value);
    }

    public MetricsReceiver(MetricsStore store, Clock clock, java.time.Duration maxAhead, ReceiverCounters counters, SampleSink sink) {
        this.sink = sink;
        this.store = store;
        this.clock = clock;
        this.maxAheadMs = maxAhead.toMillis();
        this.counters = counters;
    }

    /**
     * Serves one stream of {@code node} (from its certificate). {@code refusal} is asked before each
     * batch: a node deleted or re-joined meanwhile ends the stream with UNAUTHENTICATED. {@code heard}
     * runs for each batch stored (the node is alive: its agent then skips heartbeats it would send).
     */
    public StreamObserver<MetricsBatch> open(String node, Supplier<Optional<String>> refusal, Runnable heard,
                                             StreamObserver<MetricsAck> responses) {
        ServerCallStreamObserver<MetricsAck> call = (ServerCallStreamObserver<MetricsAck>) responses;
        call.disableAutoRequest();
        Stream stream = new Stream(node, refusal, heard, call);
        counters.open.incrementAndGet();
        call.setOnCancelHandler(stream::ended);
        call.request(WINDOW);
        return stream;
    }

    /** One frame, decoded and checked: its time, its series ids and their values in that order. */
    private record Decoded(long timeMs, List<Integer> ids, double[] values) {}

    /** The series ids and last frame time of a stream's last SampleBlock. */
    private record BlockState(List<Integer> ids, long timeMs) {}

    /** What an id means on one stream: its series, where its points go, and its coding's state. */
    private static final class Defined {
        final SeriesKey key;
        final MetricKind kind;
        /** Null: values are doubles. */
        final ValueCoding coding;
        StoredSeries target;
        long lastCode;

        Defined(SeriesKey key, MetricKind kind, ValueCoding coding) {
            this.key = key;
            this.kind = kind;
            this.coding = coding;
        }
    }

    private final class Stream implements StreamObserver<MetricsBatch> {
        private final String node;
        private final Supplier<Optional<String>> refusal;
        private final Runnable heard;
        private final ServerCallStreamObserver<MetricsAck> call;
        /** Series id -> its definition on this stream. */
        private final Map<Integer, Defined> ids = new HashMap<>();
        /** Where this stream's next SampleBlock counts from. */
        private BlockState lastBlock = new BlockState(List.of(), 0);
        private long acked;
        private boolean toldBlocks;
        private boolean ended;

        Stream(String node, Supplier<Optional<String>> refusal, Runnable heard, ServerCallStreamObserver<MetricsAck> call) {
            this.node = node;
            this.refusal = refusal;
            this.heard = heard;
            this.call = call;
        }

        @Override
        public synchronized void onNext(MetricsBatch batch) {
            if (ended) {
                return;
            }
            Optional<String> refused = refusal.get();
            if (refused.isPresent()) {
                fail(Status.UNAUTHENTICATED.withDescription(refused.get()).asRuntimeException());
                return;
            }
            try {
                store(batch);
            } catch (StatusRuntimeException e) {
                counters.invalid.increment();
                LOG.infof("ending the ReportMetrics stream of %s: %s", node, e.getStatus().getDescription());
                fail(e);
                return;
            }
            counters.batches.increment();
            heard.run();
            acked = Math.max(acked, batch.getSequence());
            if (!call.isCancelled()) {
                // The first ack says this control plane reads blocks: the agent may send them from then on.
                call.onNext(MetricsAck.newBuilder().setSequence(acked).setReadsBlocks(!toldBlocks).build());
                toldBlocks = true;
                call.request(1);
            }
        }

        private void store(MetricsBatch batch) {
            Validation v = new Validation();
            Map<Integer, Defined> newIds = new HashMap<>();
            for (int i = 0; i < batch.getNewSeriesCount() && v.violations().size() < 10; i++) {
                SeriesDefinition d = batch.getNewSeries(i);
                String at = "new_series[" + i + "]";
                if (d.getName().length() > MAX_NAME || !MetricsQuery.METRIC_NAME.matcher(d.getName()).matches()) {
                    v.add(at + ".name", "\"" + d.getName() + "\" is not a series name ([a-zA-Z_:][a-zA-Z0-9_:]*, at most " + MAX_NAME + " characters)");
                    continue;
                }
                if (d.getLabelsCount() > MAX_LABELS) {
                    v.add(at + ".labels", "at most " + MAX_LABELS + " labels");
                    continue;
                }
                boolean labelsOk = true;
                for (Map.Entry<String, String> label : d.getLabelsMap().entrySet()) {
                    if (label.getKey().length() > MAX_LABEL_NAME || !LabelMatchers.LABEL_NAME.matcher(label.getKey()).matches()
                            || label.getValue().length() > MAX_LABEL_VALUE) {
                        v.add(at + ".labels[" + label.getKey().substring(0, Math.min(label.getKey().length(), MAX_LABEL_NAME)) + "]",
                                "label names are [a-zA-Z_][a-zA-Z0-9_]*, at most " + MAX_LABEL_NAME + " characters, values at most "
                                        + MAX_LABEL_VALUE + " characters");
                        labelsOk = false;
                    }
                }
                if (!labelsOk) {
                    continue;
                }
                String codingProblem = d.hasCoding() ? ValueCodes.problem(d.getCoding()) : null;
                if (codingProblem != null) {
                    v.add(at + ".coding." + codingProblem.substring(0, codingProblem.indexOf(':')),
                            codingProblem.substring(codingProblem.indexOf(':') + 2));
                    continue;
                }
                // The node label is the certificate's, never the agent's.
                SeriesKey key = store.key(d.getName(), d.getLabelsMap(), node);
                Defined before = newIds.containsKey(d.getId()) ? newIds.get(d.getId()) : ids.get(d.getId());
                if (before != null && !before.key.equals(key)) {
                    v.add(at + ".id", "series id " + d.getId() + " is already defined on this stream as " + before.key);
                    continue;
                }
                // Redefining an id (same series) starts its coding afresh.
                newIds.put(d.getId(), new Defined(key, d.getKind(), d.hasCoding() ? d.getCoding() : null));
            }
            long defined = ids.size() + newIds.keySet().stream().filter(id -> !ids.containsKey(id)).count();
            if (defined > MAX_SERIES_PER_STREAM) {
                throw Validation.exhausted("series per stream", "this stream would define " + defined + " series; at most "
                        + MAX_SERIES_PER_STREAM + " are kept per ReportMetrics stream");
            }
            // Decode every frame before storing any: a bad frame changes nothing, the codes' state included.
            Map<Integer, Long> codes = new HashMap<>();
            List<Decoded> frames = new ArrayList<>();
            BlockState blocks = lastBlock;
            if (batch.getFramesCount() > 0 && batch.getBlocksCount() > 0) {
                v.add("blocks", "a batch carries frames or blocks, not both");
            } else if (batch.getBlocksCount() > 0) {
                blocks = decodeBlocks(batch, newIds, codes, frames, v);
            } else {
                decodeFrames(batch, newIds, codes, frames, v);
            }
            v.throwIfInvalid();

            for (Map.Entry<Integer, Defined> e : newIds.entrySet()) {
                Defined d = e.getValue();
                d.target = store.seriesFor(d.key, d.kind);
                ids.put(e.getKey(), d);
            }
            codes.forEach((id, code) -> ids.get(id).lastCode = code);
            lastBlock = blocks;
            boolean backfill = batch.getBackfill();
            long limit = clock.millis() + maxAheadMs;
            for (Decoded frame : frames) {
                if (frame.timeMs > limit) {
                    counters.future.add(frame.ids.size());
                    continue;
                }
                for (int j = 0; j < frame.ids.size(); j++) {
                    Defined d = ids.get(frame.ids.get(j));
                    store.add(target(d), frame.timeMs, frame.values[j], backfill);
                    sink.accept(d.key, frame.timeMs, frame.values[j]);
                }
            }
        }

        /** The frames of a batch of SampleFrames, decoded; stops at the first violation. */
        private void decodeFrames(MetricsBatch batch, Map<Integer, Defined> newIds, Map<Integer, Long> codes, List<Decoded> out,
                                  Validation v) {
            List<Integer> frameIds = List.of();
            for (int f = 0; f < batch.getFramesCount() && v.ok(); f++) {
                SampleFrame frame = batch.getFrames(f);
                String at = "frames[" + f + "]";
                if (frame.getSeriesIdsCount() > 0) {
                    frameIds = frame.getSeriesIdsList();
                } else if (f == 0 && frame.getValuesCount() + frame.getCodeDeltasCount() > 0) {
                    v.add(at + ".series_ids", "the first frame of a batch must name its series ids");
                    return;
                }
                if (frame.getTimeUnixMs() <= 0) {
                    v.add(at + ".time_unix_ms", "must be a positive Unix time in milliseconds");
                }
                double[] values = decode(frame, frameIds, newIds, codes, at, v);
                if (values != null) {
                    out.add(new Decoded(frame.getTimeUnixMs(), frameIds, values));
                }
            }
        }

        /**
         * The frames of a batch of SampleBlocks, decoded; stops at the first violation. Counts are
         * checked before anything is allocated: a block's values are as many as its frames times its
         * series, so what it costs here is bounded by the message's size.
         */
        private BlockState decodeBlocks(MetricsBatch batch, Map<Integer, Defined> newIds, Map<Integer, Long> codes, List<Decoded> out,
                                        Validation v) {
            List<Integer> blockIds = lastBlock.ids();
            long time = lastBlock.timeMs();
            for (int b = 0; b < batch.getBlocksCount(); b++) {
                SampleBlock block = batch.getBlocks(b);
                String at = "blocks[" + b + "]";
                if (block.getSeriesIdsCount() > 0) {
                    blockIds = block.getSeriesIdsList();
                    java.util.Set<Integer> seen = new java.util.HashSet<>();
                    for (int j = 0; j < blockIds.size(); j++) {
                        if (!seen.add(blockIds.get(j))) {
                            v.add(at + ".series_ids[" + j + "]", "series id " + blockIds.get(j) + " is listed twice");
                            return null;
                        }
                    }
                } else if (blockIds.isEmpty()) {
                    v.add(at + ".series_ids", "the first block on a stream must name its series ids");
                    return null;
                }
                List<Defined> defined = new ArrayList<>(blockIds.size());
                for (int j = 0; j < blockIds.size(); j++) {
                    int id = blockIds.get(j);
                    Defined d = definedOf(id, newIds);
                    if (d == null) {
                        v.add(at + ".series_ids[" + j + "]", unknownId(id));
                        return null;
                    }
                    defined.add(d);
                }
                int frames = block.getTimeDeltasMsCount();
                if (frames == 0) {
                    v.add(at + ".time_deltas_ms", "a block has at least one frame");
                    return null;
                }
                long coded = defined.stream().filter(d -> d.coding != null).count();
                if (block.getCodeDeltasCount() != coded * frames || block.getValuesCount() != (defined.size() - coded) * frames) {
                    v.add(at + ".values", block.getValuesCount() + " values and " + block.getCodeDeltasCount() + " code deltas for "
                            + frames + " frames of " + defined.size() + " series (" + (defined.size() - coded) + " without a coding, "
                            + coded + " with)");
                    return null;
                }
                long[] times = new long[frames];
                for (int f = 0; f < frames; f++) {
                    try {
                        time = Math.addExact(time, block.getTimeDeltasMs(f));
                    } catch (ArithmeticException overflow) {
                        time = -1;
                    }
                    if (time <= 0) {
                        v.add(at + ".time_deltas_ms[" + f + "]", "frame times must be positive Unix times in milliseconds");
                        return null;
                    }
                    times[f] = time;
                }
                double[][] values = new double[frames][defined.size()];
                int doubles = 0;
                int deltas = 0;
                for (int j = 0; j < defined.size(); j++) {
                    Defined d = defined.get(j);
                    int id = blockIds.get(j);
                    if (d.coding == null) {
                        for (int f = 0; f < frames; f++) {
                            values[f][j] = block.getValues(doubles++);
                        }
                        continue;
                    }
                    long code = lastCode(id, d, newIds, codes);
                    for (int f = 0; f < frames; f++) {
                        try {
                            code = Math.addExact(code, block.getCodeDeltas(deltas++));
                        } catch (ArithmeticException overflow) {
                            v.add(at + ".code_deltas[" + (deltas - 1) + "]", "the code of series id " + id + " overflows 64 bits");
                            return null;
                        }
                        values[f][j] = ValueCodes.value(d.coding, code);
                    }
                    codes.put(id, code);
                }
                for (int f = 0; f < frames; f++) {
                    out.add(new Decoded(times[f], blockIds, values[f]));
                }
            }
            return new BlockState(blockIds, time);
        }

        /**
         * A frame's values in the order of its ids: doubles from {@code values}, coded ones from
         * {@code code_deltas} added to the id's last code ({@code codes} holds this batch's, not yet kept).
         * Null after adding a violation.
         */
        private double[] decode(SampleFrame frame, List<Integer> frameIds, Map<Integer, Defined> newIds, Map<Integer, Long> codes,
                                String at, Validation v) {
            double[] out = new double[frameIds.size()];
            int doubles = 0;
            int deltas = 0;
            for (int j = 0; j < frameIds.size(); j++) {
                int id = frameIds.get(j);
                Defined d = definedOf(id, newIds);
                if (d == null) {
                    v.add(at + ".series_ids[" + j + "]", unknownId(id));
                    return null;
                }
                if (d.coding == null) {
                    if (doubles == frame.getValuesCount()) {
                        v.add(at + ".values", frame.getValuesCount() + " values for more series ids without a coding");
                        return null;
                    }
                    out[j] = frame.getValues(doubles++);
                } else {
                    if (deltas == frame.getCodeDeltasCount()) {
                        v.add(at + ".code_deltas", frame.getCodeDeltasCount() + " code deltas for more series ids with a coding");
                        return null;
                    }
                    long previous = lastCode(id, d, newIds, codes);
                    long code;
                    try {
                        code = Math.addExact(previous, frame.getCodeDeltas(deltas++));
                    } catch (ArithmeticException overflow) {
                        v.add(at + ".code_deltas[" + (deltas - 1) + "]", "the code of series id " + id + " overflows 64 bits");
                        return null;
                    }
                    codes.put(id, code);
                    out[j] = ValueCodes.value(d.coding, code);
                }
            }
            if (doubles != frame.getValuesCount() || deltas != frame.getCodeDeltasCount()) {
                v.add(at + ".values", frame.getValuesCount() + " values and " + frame.getCodeDeltasCount() + " code deltas for "
                        + frameIds.size() + " series ids (" + doubles + " without a coding, " + deltas + " with)");
                return null;
            }
            return out;
        }

        /** What an id means: as this batch (re)defines it, else as the stream knows it; null if neither. */
        private Defined definedOf(int id, Map<Integer, Defined> newIds) {
            return newIds.containsKey(id) ? newIds.get(id) : ids.get(id);
        }

        /** The code the id's next delta adds to: this batch's last, else 0 for a (re)definition, else the stream's. */
        private static long lastCode(int id, Defined d, Map<Integer, Defined> newIds, Map<Integer, Long> codes) {
            return codes.containsKey(id) ? codes.get(id) : newIds.containsKey(id) ? 0 : d.lastCode;
        }

        private static String unknownId(int id) {
            return "unknown series id " + id + " (not defined on this stream)";
        }

        /** The stored series of an id; looked up again if it was evicted meanwhile. */
        private StoredSeries target(Defined d) {
            if (d.target != null && d.target.removed()) {
                d.target = store.seriesFor(d.key, d.kind);
            }
            return d.target;
        }

        private void fail(StatusRuntimeException e) {
            ended();
            if (!call.isCancelled()) {
                call.onError(e);
            }
        }

        synchronized void ended() {
            if (!ended) {
                ended = true;
                counters.open.decrementAndGet();
            }
        }

        @Override
        public void onError(Throwable t) {
            ended();
        }

        @Override
        public synchronized void onCompleted() {
            ended();
            if (!call.isCancelled()) {
                call.onCompleted();
            }
        }
    }
}
