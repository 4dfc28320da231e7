package dev.edgeplane.controlplane.metrics;

import io.quarkus.test.junit.QuarkusTestProfile;
import java.util.Map;

/** Small limits, so the fleet test can push past them. */
public class MetricsTestProfile implements QuarkusTestProfile {
    static final int MAX_SERIES = 20_000;
    static final int MAX_SERIES_PER_NODE = 30;
    static final int PROMETHEUS_MAX_NODES = 50;

    @Override
    public Map<String, String> getConfigOverrides() {
        return Map.of(
                "edgeplane.metrics.max-series", String.valueOf(MAX_SERIES),
                "edgeplane.metrics.max-series-per-node", String.valueOf(MAX_SERIES_PER_NODE),
                "edgeplane.metrics.prometheus-max-nodes", String.valueOf(PROMETHEUS_MAX_NODES),
                "edgeplane.metrics.prometheus-refresh-interval", "500ms");
    }
}
