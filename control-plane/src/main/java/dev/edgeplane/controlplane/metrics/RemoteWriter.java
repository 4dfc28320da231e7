package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.prometheus.Label;
import dev.edgeplane.prometheus.Sample;
import dev.edgeplane.prometheus.TimeSeries;
import dev.edgeplane.prometheus.WriteRequest;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.compression.Snappy;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Sends every sample agents report to a TSDB over Prometheus remote-write (version 1: a snappy-compressed
 * protobuf WriteRequest per POST), so history outlives the in-memory store. Samples wait in a bounded
 * {@link RemoteWriteQueue}; one sender thread batches them (up to max-samples-per-send, or after the
 * batch-send deadline), retries a failed request with back-off (network errors, 5xx and 429: the
 * receiver may come back; nothing in the queue is lost meanwhile), and gives up a batch the receiver
 * refuses outright (other 4xx, e.g. out-of-order samples), counting it. The wire format is our own
 * proto/prometheus/remote.proto; the compression is Netty's Snappy (already on the class path).
 */
@ApplicationScoped
public class RemoteWriter implements MetricsReceiver.SampleSink {
    private static final Logger LOG = Logger.getLogger(RemoteWriter.class);
    /** How long the sender waits for samples before looking at the stop flag again. */
    private static final long IDLE_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
    private static final int MAX_ERROR_BODY = 512;

    private final RemoteWriteConfig config;
    private final MeterRegistry registry;
    private final RemoteWriteQueue queue;
    private final Counter sent;
    private final Counter rejected;
    private final Counter failures;
    private volatile boolean stopping;
    private Thread sender;
    private HttpClient http;
    private Optional<String> authorization = Optional.empty();

    public RemoteWriter(RemoteWriteConfig config, MeterRegistry registry) {
        java.util.List<String> problems = config.url().isPresent() ? RemoteWriteConfig.problems(config) : java.util.List.of();
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("remote-write is misconfigured: " + String.join("; ", problems));
        }
        this.config = config;
        this.registry = registry;
        this.queue = config.url().isPresent() ? new RemoteWriteQueue(config.queueCapacity()) : null;
        this.sent = Counter.builder("edgeplane.remote.write.samples.sent").description("Samples a remote-write receiver accepted")
                .register(registry);
        this.rejected = Counter.builder("edgeplane.remote.write.samples.dropped").tag("reason", "rejected")
                .description("Samples not remote-written: refused by the receiver (4xx), or dropped from a full queue").register(registry);
        this.failures = Counter.builder("edgeplane.remote.write.failures")
                .description("Remote-write requests that failed and were retried (network errors, 5xx, 429)").register(registry);
    }

    public boolean enabled() {
        return queue != null;
    }

    @Override
    public void accept(SeriesKey key, long timeMs, double value) {
        if (queue != null) {
            queue.offer(key, timeMs, value);
        }
    }

    void onStart(@Observes StartupEvent event) throws IOException {
        if (queue == null) {
            return;
        }
        if (config.bearerTokenFile().isPresent()) {
            authorization = Optional.of("Bearer " + Files.readString(config.bearerTokenFile().get()).trim());
        }
        FunctionCounter.builder("edgeplane.remote.write.samples.dropped", queue, RemoteWriteQueue::dropped).tag("reason", "queue_full")
                .description("Samples not remote-written: refused by the receiver (4xx), or dropped from a full queue").register(registry);
        Gauge.builder("edgeplane.remote.write.samples.pending", queue, RemoteWriteQueue::size)
                .description("Samples waiting to be remote-written").register(registry);
        http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(config.timeout()).build();
        sender = new Thread(this::run, "edgeplane-remote-write");
        sender.setDaemon(true);
        sender.start();
        LOG.infof("remote-write to %s (queue %d samples, %d a request)", config.url().get(), config.queueCapacity(),
                config.maxSamplesPerSend());
    }

    void onStop(@Observes ShutdownEvent event) throws InterruptedException {
        if (sender == null) {
            return;
        }
        if (!queue.awaitEmpty(config.flushOnShutdown().toMillis(), TimeUnit.MILLISECONDS)) {
            LOG.warnf("remote-write: %d samples still queued at shutdown are lost", queue.size());
        }
        stopping = true;
        sender.interrupt();
        sender.join(TimeUnit.SECONDS.toMillis(5));
    }

    private void run() {
        long backoff = config.minBackoff().toNanos();
        while (!stopping) {
            RemoteWriteQueue.Batch batch;
            try {
                batch = queue.awaitBatch(config.maxSamplesPerSend(), config.batchSendDeadline().toNanos(), IDLE_NANOS);
            } catch (InterruptedException e) {
                return;
            }
            if (batch == null) {
                continue;
            }
            Outcome outcome = send(batch);
            if (outcome == Outcome.RETRY) {
                failures.increment();
                try {
                    TimeUnit.NANOSECONDS.sleep(backoff);
                } catch (InterruptedException e) {
                    return;
                }
                backoff = Math.min(backoff * 2, config.maxBackoff().toNanos());
                continue;
            }
            backoff = config.minBackoff().toNanos();
            (outcome == Outcome.SENT ? sent : rejected).increment(batch.size());
            queue.remove(batch);
        }
    }

    private enum Outcome { SENT, REJECTED, RETRY }

    private Outcome send(RemoteWriteQueue.Batch batch) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(config.url().get()))
                .timeout(config.timeout())
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .header("User-Agent", "edgeplane-control-plane")
                .POST(HttpRequest.BodyPublishers.ofByteArray(compress(encode(batch).toByteArray())));
        authorization.ifPresent(a -> request.header("Authorization", a));
        try {
            HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            int code = response.statusCode();
            if (code / 100 == 2) {
                return Outcome.SENT;
            }
            String body = response.body().length() > MAX_ERROR_BODY ? response.body().substring(0, MAX_ERROR_BODY) : response.body();
            if (code == 429 || code / 100 == 5) {
                LOG.debugf("remote-write: HTTP %d, retrying: %s", code, body);
                return Outcome.RETRY;
            }
            LOG.warnf("remote-write: the receiver refused %d samples (HTTP %d): %s", batch.size(), code, body.strip());
            return Outcome.REJECTED;
        } catch (IOException e) {
            LOG.debugf("remote-write: %s, retrying", e.toString());
            return Outcome.RETRY;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Outcome.RETRY;
        }
    }

    /** One TimeSeries per series of the batch, labels (__name__ among them) sorted by name, samples by time. */
    static WriteRequest encode(RemoteWriteQueue.Batch batch) {
        Map<SeriesKey, List<Integer>> bySeries = new IdentityHashMap<>();
        List<SeriesKey> order = new ArrayList<>();
        for (int i = 0; i < batch.size(); i++) {
            SeriesKey key = batch.series()[i];
            List<Integer> at = bySeries.get(key);
            if (at == null) {
                at = new ArrayList<>();
                bySeries.put(key, at);
                order.add(key);
            }
            at.add(i);
        }
        WriteRequest.Builder request = WriteRequest.newBuilder();
        for (SeriesKey key : order) {
            TimeSeries.Builder series = request.addTimeseriesBuilder();
            Map<String, String> labels = key.labels(); // a sorted copy; the spec wants the names in order
            labels.put("__name__", key.name());
            labels.forEach((name, value) -> series.addLabels(Label.newBuilder().setName(name).setValue(value)));
            bySeries.get(key).stream().sorted((a, b) -> Long.compare(batch.times()[a], batch.times()[b])).forEach(i ->
                    series.addSamples(Sample.newBuilder().setTimestamp(batch.times()[i]).setValue(batch.values()[i])));
        }
        return request.build();
    }

    static byte[] compress(byte[] raw) {
        ByteBuf in = Unpooled.wrappedBuffer(raw);
        ByteBuf out = Unpooled.buffer(raw.length / 2 + 64);
        try {
            new Snappy().encode(in, out, raw.length);
            byte[] bytes = new byte[out.readableBytes()];
            out.readBytes(bytes);
            return bytes;
        } finally {
            in.release();
            out.release();
        }
    }

    int pending() {
        return queue == null ? 0 : queue.size();
    }

    Duration batchSendDeadline() {
        return config.batchSendDeadline();
    }
}
