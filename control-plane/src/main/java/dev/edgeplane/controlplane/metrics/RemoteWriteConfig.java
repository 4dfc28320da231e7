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
}
