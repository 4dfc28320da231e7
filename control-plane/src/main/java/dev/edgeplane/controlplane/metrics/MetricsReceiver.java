package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.v1.MetricKind;
import dev.edgeplane.api.v1.MetricsAck;
import dev.edgeplane.api.v1.MetricsBatch;
import dev.edgeplane.api.v1.SampleFrame;
import dev.edgeplane.api.v1.SeriesDefinition;
import dev.edgeplane.controlplane.api.Validation;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Clock;
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
     * batch: a node deleted or re-joined meanwhile ends the stream with UNAUTHENTICATED.
     */
    public StreamObserver<MetricsBatch> open(String node, Supplier<Optional<String>> refusal, StreamObserver<MetricsAck> responses) {
        ServerCallStreamObserver<MetricsAck> call = (ServerCallStreamObserver<MetricsAck>) responses;
        call.disableAutoRequest();
        Stream stream = new Stream(node, refusal, call);
        counters.open.incrementAndGet();
        call.setOnCancelHandler(stream::ended);
        call.request(WINDOW);
        return stream;
    }

    private final class Stream implements StreamObserver<MetricsBatch> {
        private final String node;
        private final Supplier<Optional<String>> refusal;
        private final ServerCallStreamObserver<MetricsAck> call;
        /** Series id -> key as defined on this stream; and -> stored series (null: refused by a limit). */
        private final Map<Integer, SeriesKey> keys = new HashMap<>();
        private final Map<Integer, MetricKind> kinds = new HashMap<>();
        private final Map<Integer, StoredSeries> targets = new HashMap<>();
        private long acked;
        private boolean ended;

        Stream(String node, Supplier<Optional<String>> refusal, ServerCallStreamObserver<MetricsAck> call) {
            this.node = node;
            this.refusal = refusal;
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
            acked = Math.max(acked, batch.getSequence());
            if (!call.isCancelled()) {
                call.onNext(MetricsAck.newBuilder().setSequence(acked).build());
                call.request(1);
            }
        }

        private void store(MetricsBatch batch) {
            Validation v = new Validation();
            Map<Integer, SeriesKey> newKeys = new HashMap<>();
            Map<Integer, MetricKind> newKinds = new HashMap<>();
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
                // The node label is the certificate's, never the agent's.
                SeriesKey key = store.key(d.getName(), d.getLabelsMap(), node);
                SeriesKey before = keys.containsKey(d.getId()) ? keys.get(d.getId()) : newKeys.get(d.getId());
                if (before != null && !before.equals(key)) {
                    v.add(at + ".id", "series id " + d.getId() + " is already defined on this stream as " + before);
                    continue;
                }
                newKeys.put(d.getId(), key);
                newKinds.put(d.getId(), d.getKind());
            }
            long defined = keys.size() + newKeys.keySet().stream().filter(id -> !keys.containsKey(id)).count();
            if (defined > MAX_SERIES_PER_STREAM) {
                throw Validation.exhausted("series per stream", "this stream would define " + defined + " series; at most "
                        + MAX_SERIES_PER_STREAM + " are kept per ReportMetrics stream");
            }
            List<Integer> ids = List.of();
            long limit = clock.millis() + maxAheadMs;
            for (int f = 0; f < batch.getFramesCount() && v.ok(); f++) {
                SampleFrame frame = batch.getFrames(f);
                String at = "frames[" + f + "]";
                if (frame.getSeriesIdsCount() > 0) {
                    ids = frame.getSeriesIdsList();
                } else if (f == 0 && frame.getValuesCount() > 0) {
                    v.add(at + ".series_ids", "the first frame of a batch must name its series ids");
                    break;
                }
                if (frame.getValuesCount() != ids.size()) {
                    v.add(at + ".values", frame.getValuesCount() + " values for " + ids.size() + " series ids");
                }
                if (frame.getTimeUnixMs() <= 0) {
                    v.add(at + ".time_unix_ms", "must be a positive Unix time in milliseconds");
                }
                for (int j = 0; j < frame.getSeriesIdsCount(); j++) {
                    int id = frame.getSeriesIds(j);
                    if (!keys.containsKey(id) && !newKeys.containsKey(id)) {
                        v.add(at + ".series_ids[" + j + "]", "unknown series id " + id + " (not defined on this stream)");
                        break;
                    }
                }
            }
            v.throwIfInvalid();

            for (Map.Entry<Integer, SeriesKey> e : newKeys.entrySet()) {
                keys.put(e.getKey(), e.getValue());
                kinds.put(e.getKey(), newKinds.get(e.getKey()));
                targets.put(e.getKey(), store.seriesFor(e.getValue(), newKinds.get(e.getKey())));
            }
            boolean backfill = batch.getBackfill();
            ids = List.of();
            for (SampleFrame frame : batch.getFramesList()) {
                if (frame.getSeriesIdsCount() > 0) {
                    ids = frame.getSeriesIdsList();
                }
                long time = frame.getTimeUnixMs();
                if (time > limit) {
                    counters.future.add(frame.getValuesCount());
                    continue;
                }
                for (int j = 0; j < frame.getValuesCount(); j++) {
                    store.add(target(ids.get(j)), time, frame.getValues(j), backfill);
                    sink.accept(keys.get(ids.get(j)), time, frame.getValues(j));
                }
            }
        }

        /** The stored series of an id; looked up again if it was evicted meanwhile. */
        private StoredSeries target(int id) {
            StoredSeries s = targets.get(id);
            if (s != null && s.removed()) {
                s = store.seriesFor(keys.get(id), kinds.get(id));
                targets.put(id, s);
            }
            return s;
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
