package dev.edgeplane.agent.probe;

import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.Probe;

/** The three probes of a container, as in Kubernetes. */
public enum ProbeType {
    /** Failing: the container is killed and restarted per the restart policy. */
    LIVENESS("Liveness"),
    /** Failing: the container runs but the replica is not ready. */
    READINESS("Readiness"),
    /** Until it succeeds the other two do not run; failing: killed like liveness. */
    STARTUP("Startup");

    private final String title;

    ProbeType(String title) {
        this.title = title;
    }

    /** "Liveness", as in the kubelet's event messages ("Liveness probe failed: ..."). */
    public String title() {
        return title;
    }

    /** This probe of the container, if it has one. */
    public boolean isSet(Container container) {
        return switch (this) {
            case LIVENESS -> container.hasLivenessProbe();
            case READINESS -> container.hasReadinessProbe();
            case STARTUP -> container.hasStartupProbe();
        };
    }

    Probe of(Container container) {
        return switch (this) {
            case LIVENESS -> container.getLivenessProbe();
            case READINESS -> container.getReadinessProbe();
            case STARTUP -> container.getStartupProbe();
        };
    }
}
