package dev.edgeplane.controlplane.controllers.autoscaler;

import io.quarkus.test.junit.QuarkusTestProfile;
import java.util.Map;

/** A fast evaluation period; nodes written straight to etcd (no heartbeats) stay READY. Shared, so Quarkus starts once. */
public class AutoscalerTestProfile implements QuarkusTestProfile {
    @Override
    public Map<String, String> getConfigOverrides() {
        return Map.of("edgeplane.autoscaler.sync-period", "300ms",
                "edgeplane.autoscaler.metrics-max-age", "3s",
                "edgeplane.node.unreachable-after", "1h",
                "quarkus.log.category.\"dev.edgeplane.controlplane.controllers.autoscaler\".level", "DEBUG");
    }
}
