package dev.edgeplane.controlplane.store;

import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Ready only while etcd answers. */
@Readiness
@ApplicationScoped
public class EtcdReadiness implements HealthCheck {
    private final EtcdStore store;

    public EtcdReadiness(EtcdStore store) {
        this.store = store;
    }

    @Override
    public HealthCheckResponse call() {
        boolean up = store.ping(2);
        return HealthCheckResponse.named("etcd").status(up).withData("endpoints", String.join(",", store.endpoints())).build();
    }
}
