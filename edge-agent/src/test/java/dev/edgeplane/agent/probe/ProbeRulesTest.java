package dev.edgeplane.agent.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.Probe;
import dev.edgeplane.api.v1.TCPSocketAction;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Probe defaults and thresholds, Kubernetes' rules, without a container. */
class ProbeRulesTest {
    @Test
    void unsetFieldsTakeKubernetesDefaults() {
        Container c = Container.newBuilder().setName("c")
                .setReadinessProbe(Probe.newBuilder().setTcpSocket(TCPSocketAction.newBuilder().setPort(80))).build();
        ProbeSpec spec = ProbeSpec.of(ProbeType.READINESS, c).orElseThrow();
        assertEquals(Duration.ofSeconds(10), spec.period());
        assertEquals(Duration.ofSeconds(1), spec.timeout());
        assertEquals(Duration.ZERO, spec.initialDelay());
        assertEquals(1, spec.successThreshold());
        assertEquals(3, spec.failureThreshold());
        assertTrue(ProbeSpec.of(ProbeType.LIVENESS, c).isEmpty(), "no liveness probe, no spec");
    }

    @Test
    void livenessAndStartupAlwaysNeedJustOneSuccess() {
        Probe p = Probe.newBuilder().setTcpSocket(TCPSocketAction.newBuilder().setPort(80)).setSuccessThreshold(5).build();
        Container c = Container.newBuilder().setLivenessProbe(p).setStartupProbe(p).setReadinessProbe(p).build();
        assertEquals(1, ProbeSpec.of(ProbeType.LIVENESS, c).orElseThrow().successThreshold());
        assertEquals(1, ProbeSpec.of(ProbeType.STARTUP, c).orElseThrow().successThreshold());
        assertEquals(5, ProbeSpec.of(ProbeType.READINESS, c).orElseThrow().successThreshold());
    }

    @Test
    void aVerdictNeedsTheThresholdInARow() {
        ProbeCounter counter = new ProbeCounter(2, 3);
        assertEquals(Optional.empty(), counter.observe(false));
        assertEquals(Optional.empty(), counter.observe(false));
        assertEquals(Optional.empty(), counter.observe(true), "a success breaks the run of failures");
        assertEquals(Optional.of(true), counter.observe(true), "two successes in a row");
        assertEquals(Optional.empty(), counter.observe(false));
        assertEquals(Optional.empty(), counter.observe(false));
        assertEquals(Optional.of(false), counter.observe(false), "three failures in a row");
        assertEquals(Optional.of(false), counter.observe(false), "and every failure after them");
        counter.reset();
        assertEquals(Optional.empty(), counter.observe(false), "after a reset the run starts over");
    }
}
