package dev.edgeplane.fleet;

import java.time.Duration;

/**
 * The real agent's timings, which the simulated agents keep so that their load on the control plane
 * is the real one. {@link #AGENT} mirrors edge-agent's defaults (SyncClient.Settings.defaults,
 * MetricsSettings.defaults); AgentTimingsTest fails when those change and this does not.
 *
 * @param heartbeat        a unary Heartbeat RPC at least this often while Sync is up (at once when the
 *                         replica counts change: the agent's HeartbeatSchedule)
 * @param keepAlive        HTTP/2 ping period (also without calls)
 * @param keepAliveTimeout an unanswered ping ends the connection after this
 * @param retryBase        the first reconnect waits at most this (full jitter)
 * @param retryCap         reconnect waits are capped here
 * @param metricsInterval  one metrics frame this often
 * @param metricsFlush     one ReportMetrics batch this often
 * @param metricsGzip      the ReportMetrics stream is gzip-compressed
 * @param tlsSessionLifetime a TLS session is resumed (from its ticket) for this long after its handshake:
 *                         Netty's OpenSSL client keeps one 300 s by default, after which a restart's
 *                         reconnect is a full handshake the agent would not make
 */
public record AgentTimings(Duration heartbeat, Duration keepAlive, Duration keepAliveTimeout, Duration retryBase,
                           Duration retryCap, Duration metricsInterval, Duration metricsFlush, boolean metricsGzip,
                           Duration tlsSessionLifetime) {
    public static final AgentTimings AGENT = new AgentTimings(Duration.ofSeconds(60), Duration.ofSeconds(75),
            Duration.ofSeconds(10), Duration.ofSeconds(2), Duration.ofSeconds(15), Duration.ofSeconds(10),
            Duration.ofSeconds(60), true, Duration.ofDays(2));

    /** Full-jitter exponential back-off, as the agent's ReconnectBackoff: uniform in [0, min(cap, base * 2^attempt)]. */
    public long retryDelayMillis(int attempt, java.util.random.RandomGenerator random) {
        long ceiling = Math.min(retryCap.toMillis(), retryBase.toMillis() << Math.min(attempt, 20));
        return random.nextLong(Math.max(1, ceiling) + 1);
    }
}
