package dev.edgeplane.controlplane.metrics;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;

/** {@code edgeplane.metrics.*} (env EDGEPLANE_METRICS_*): what the control plane keeps of agents' metrics. */
@ConfigMapping(prefix = "edgeplane.metrics")
public interface MetricsConfig {
    /** Downsampling tiers, resolution:retention, finest first. */
    @WithDefault("10s:1h,1m:24h,5m:7d")
    String tiers();

    /**
     * Series kept in all; a new series beyond it is refused and counted. 0: as many as fit in half the
     * heap at full retention ({@link MetricsStore#defaultMaxSeries}: ~4.6 KB a series with the default tiers).
     */
    @WithDefault("0")
    int maxSeries();

    /** Series kept per node; a node's new series beyond it is refused and counted. */
    @WithDefault("2000")
    int maxSeriesPerNode();

    /**
     * Significant bits kept of each gauge value (2..64): the store rounds a value v to nearest with an
     * error of at most |v| * 2^-bits (12: 0.024%; integers below 2^bits stay exact); 53 or more keeps
     * every bit. Counters are always kept exactly. Fewer bits, less memory: about a bit a point of a
     * noisy series per bit dropped.
     */
    @WithDefault("12")
    int precisionBits();

    /** Points stamped further than this ahead of the control plane's clock are refused (counted). */
    @WithDefault("5m")
    Duration maxClockAhead();

    /** How often stale series (no point for longer than the longest tier) are evicted. */
    @WithDefault("1m")
    Duration evictionInterval();

    /** Nodes with per-node gauges on /metrics; beyond it nodes are left out (counted in a gauge). */
    @WithDefault("500")
    int prometheusMaxNodes();

    /**
     * Apps, and waiting replicas, with per-object gauges on /metrics (the alerting rules' inputs, see
     * deploy/prometheus/); beyond it they are left out (counted in edgeplane_fleet_object_gauges_omitted).
     */
    @WithDefault("500")
    int prometheusMaxObjects();

    /** How often the per-node gauges on /metrics are refreshed from the store. */
    @WithDefault("10s")
    Duration prometheusRefreshInterval();
}
