package dev.edgeplane.agent.probe;

import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.Probe;
import java.time.Duration;
import java.util.Optional;

/**
 * One probe of one container with Kubernetes' defaults applied: period 10 s, timeout 1 s, success
 * threshold 1, failure threshold 3, no initial delay. The control plane validates the fields; the
 * agent still clamps them, since its journal may hold what an older control plane accepted.
 */
public record ProbeSpec(ProbeType type, Probe probe, Duration initialDelay, Duration period, Duration timeout,
                        int successThreshold, int failureThreshold) {
    public static Optional<ProbeSpec> of(ProbeType type, Container container) {
        if (!type.isSet(container)) {
            return Optional.empty();
        }
        Probe p = type.of(container);
        int success = type == ProbeType.READINESS ? orDefault(p.getSuccessThreshold(), 1) : 1;
        return Optional.of(new ProbeSpec(type, p, Duration.ofSeconds(Math.max(0, p.getInitialDelaySeconds())),
                Duration.ofSeconds(orDefault(p.getPeriodSeconds(), 10)), Duration.ofSeconds(orDefault(p.getTimeoutSeconds(), 1)),
                success, orDefault(p.getFailureThreshold(), 3)));
    }

    private static int orDefault(int value, int fallback) {
        return value <= 0 ? fallback : value;
    }
}
