package dev.edgeplane.controlplane.metrics;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * {@code edgeplane.remote-write.*} (env EDGEPLANE_REMOTE_WRITE_*): sending what agents report to a
 * TSDB over Prometheus remote-write (Prometheus, VictoriaMetrics, Thanos, Mimir). Off unless a URL
 * is set. Defaults follow Prometheus' own queue_config where there is one.
 */
@ConfigMapping(prefix = "edgeplane.remote-write")
public interface RemoteWriteConfig {
    /** The receiver's endpoint, e.g. http://prometheus:9090/api/v1/write; unset: off. */
    Optional<String> url();

    /**
     * Samples held while the receiver is slow or down (about 24 bytes each); past it the oldest are
     * dropped and counted in edgeplane_remote_write_samples_dropped_total{reason="queue_full"}.
     */
    @WithDefault("1000000")
    int queueCapacity();

    /** Samples in one request at most (Prometheus' max_samples_per_send). */
    @WithDefault("2000")
    int maxSamplesPerSend();

    /** A request goes out at the latest this long after its first sample arrived (batch_send_deadline). */
    @WithDefault("5s")
    Duration batchSendDeadline();

    /** A request that has not answered within this is retried (remote_timeout). */
    @WithDefault("30s")
    Duration timeout();

    /** Retry back-off after a failed request, doubling up to max (min_backoff, max_backoff). */
    @WithDefault("30ms")
    Duration minBackoff();

    @WithDefault("5s")
    Duration maxBackoff();

    /** A file holding a bearer token sent as Authorization (read at start). */
    Optional<Path> bearerTokenFile();

    /** On shutdown, keep sending what is queued for at most this long. */
    @WithDefault("5s")
    Duration flushOnShutdown();

    /** The queue's bound: 100 million samples (~2.4 GB) is more than any heap here should give it. */
    int MAX_QUEUE_CAPACITY = 100_000_000;
    /** A request's bound (Prometheus accepts far larger; VictoriaMetrics' default limit is 32 MiB). */
    int MAX_SAMPLES_PER_SEND = 100_000;

    /**
     * What is wrong with these settings, each naming its property, or nothing (checked when remote-write
     * is on, at start: a bad value stops the control plane with the list, instead of failing later).
     */
    static java.util.List<String> problems(RemoteWriteConfig config) {
        java.util.List<String> problems = new java.util.ArrayList<>();
        String prefix = "edgeplane.remote-write.";
        config.url().ifPresent(url -> {
            java.net.URI uri;
            try {
                uri = new java.net.URI(url);
            } catch (java.net.URISyntaxException e) {
                problems.add(prefix + "url: not a URI (" + e.getMessage() + ")");
                return;
            }
            if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
                problems.add(prefix + "url: must be an http:// or https:// URL with a host, e.g. http://prometheus:9090/api/v1/write; got " + url);
            }
        });
        if (config.queueCapacity() < 1 || config.queueCapacity() > MAX_QUEUE_CAPACITY) {
            problems.add(prefix + "queue-capacity: must be 1 to " + MAX_QUEUE_CAPACITY + " samples; got " + config.queueCapacity());
        }
        if (config.maxSamplesPerSend() < 1 || config.maxSamplesPerSend() > MAX_SAMPLES_PER_SEND) {
            problems.add(prefix + "max-samples-per-send: must be 1 to " + MAX_SAMPLES_PER_SEND + "; got " + config.maxSamplesPerSend());
        }
        positive(problems, prefix + "batch-send-deadline", config.batchSendDeadline());
        positive(problems, prefix + "timeout", config.timeout());
        positive(problems, prefix + "min-backoff", config.minBackoff());
        positive(problems, prefix + "max-backoff", config.maxBackoff());
        if (config.minBackoff().compareTo(config.maxBackoff()) > 0) {
            problems.add(prefix + "min-backoff: must not exceed max-backoff (" + config.maxBackoff() + "); got " + config.minBackoff());
        }
        if (config.flushOnShutdown().isNegative()) {
            problems.add(prefix + "flush-on-shutdown: must not be negative; got " + config.flushOnShutdown());
        }
        config.bearerTokenFile().filter(file -> !java.nio.file.Files.isReadable(file))
                .ifPresent(file -> problems.add(prefix + "bearer-token-file: cannot read " + file));
        return problems;
    }

    private static void positive(java.util.List<String> problems, String property, Duration value) {
        if (value.isNegative() || value.isZero()) {
            problems.add(property + ": must be positive; got " + value);
        }
    }
}
