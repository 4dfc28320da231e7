package dev.edgeplane.controlplane.controllers.autoscaler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.AutoscalerSpec;
import dev.edgeplane.api.v1.MetricTarget;
import dev.edgeplane.api.v1.ScalingPolicy;
import dev.edgeplane.api.v1.ScalingRules;
import dev.edgeplane.api.v1.ScheduledBounds;
import dev.edgeplane.controlplane.controllers.autoscaler.HpaCalculation.Decision;
import dev.edgeplane.controlplane.controllers.autoscaler.HpaCalculation.History;
import dev.edgeplane.controlplane.controllers.autoscaler.HpaCalculation.Replica;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The HPA computation, pure: no etcd, no Quarkus, times given. Requests: 1 core, 1 GiB per replica. */
class HpaCalculationTest {
    private static final Instant T0 = Instant.parse("2026-01-05T10:00:00Z");
    private static final MetricTarget CPU50 = MetricTarget.newBuilder().setResource(MetricTarget.Resource.CPU)
            .setTargetAverageUtilization(50).build();
    private static final MetricTarget MEM80 = MetricTarget.newBuilder().setResource(MetricTarget.Resource.MEMORY)
            .setTargetAverageUtilization(80).build();
    private static final Map<MetricTarget.Resource, Double> REQUESTS = Map.of(MetricTarget.Resource.CPU, 1.0,
            MetricTarget.Resource.MEMORY, 1024.0 * 1024 * 1024);

    private static List<Replica> cpu(double... cores) {
        List<Replica> list = new ArrayList<>();
        for (int i = 0; i < cores.length; i++) {
            list.add(new Replica("web-" + i, true, false, Map.of(MetricTarget.Resource.CPU, cores[i])));
        }
        return list;
    }

    private static Decision decide(Instant at, int current, int min, int max, List<Replica> replicas, History history) {
        return HpaCalculation.decide(at, current, min, max, List.of(CPU50), REQUESTS, replicas, ScalingRules.getDefaultInstance(),
                ScalingRules.getDefaultInstance(), HpaCalculation.DEFAULT_TOLERANCE, history);
    }

    private static HpaCalculation.Condition condition(Decision d, String type) {
        return d.conditions().stream().filter(c -> c.type().equals(type)).findFirst().orElseThrow();
    }

    @Test
    void usageWithinTheToleranceOfTheTargetKeepsTheCount() {
        // 0.54 cores of 1 at a 50% target: ratio 1.08, within 0.1.
        Decision d = decide(T0, 4, 1, 10, cpu(0.54, 0.54, 0.54, 0.54), new History());
        assertEquals(4, d.desired());
        assertFalse(d.rescale());
        assertEquals(54, d.proposals().get(0).utilization());
    }

    @Test
    void scalesUpToTheCeilingOfReplicasTimesUsageOverTarget() {
        // 0.9 cores each at a 50% target: 2 * 1.8 = 3.6 -> 4.
        Decision d = decide(T0, 2, 1, 10, cpu(0.9, 0.9), new History());
        assertEquals(4, d.desired());
        assertEquals("cpu resource utilization (percentage of request) above target", d.reason());
        assertEquals(90, d.proposals().get(0).utilization());
    }

    @Test
    void scaleUpIsLimitedToTheLargerOfFourReplicasAndDoublingPerFifteenSeconds() {
        History history = new History();
        Decision d = decide(T0, 2, 1, 100, cpu(5, 5), history); // wants 20
        assertEquals(6, d.desired(), "2 + max(4 pods, 100%) = 6");
        assertEquals("ScaleUpLimit", condition(d, "ScalingLimited").reason());
        assertTrue(condition(d, "ScalingLimited").status());
        history.recordScale(T0, 2, 6);
        // Five seconds later the period still counts the 4 added: no more until it has passed.
        assertEquals(6, decide(T0.plusSeconds(5), 6, 1, 100, cpu(5, 5, 5, 5, 5, 5), history).desired());
        assertEquals(12, decide(T0.plusSeconds(16), 6, 1, 100, cpu(5, 5, 5, 5, 5, 5), history).desired(), "then 100% of 6");
        // From 10 the percentage is the larger: 20.
        assertEquals(20, decide(T0, 10, 1, 100, cpu(5, 5, 5, 5, 5, 5, 5, 5, 5, 5), new History()).desired());
    }

    @Test
    void maxReplicasCapsAScaleUp() {
        Decision d = decide(T0, 2, 1, 3, cpu(0.9, 0.9), new History());
        assertEquals(3, d.desired());
        assertEquals("TooManyReplicas", condition(d, "ScalingLimited").reason());
    }

    @Test
    void scaleDownWaitsForTheStabilisationWindowThenTakesTheHighestRecentRecommendation() {
        History history = new History();
        Decision first = decide(T0, 4, 1, 10, cpu(0.1, 0.1, 0.1, 0.1), history); // wants 1
        assertEquals(4, first.desired(), "the window starts with the current count");
        assertEquals("ScaleDownStabilized", condition(first, "AbleToScale").reason());
        assertEquals(4, decide(T0.plusSeconds(150), 4, 1, 10, cpu(0.5, 0.5, 0.5, 0.5), history).desired()); // recommends 4
        assertEquals(4, decide(T0.plusSeconds(301), 4, 1, 10, cpu(0.1, 0.1, 0.1, 0.1), history).desired(),
                "the 4 recommended at 150 s is still in the window");
        Decision later = decide(T0.plusSeconds(451), 4, 1, 10, cpu(0.1, 0.1, 0.1, 0.1), history);
        assertEquals(1, later.desired(), "only low recommendations left in the window");
        assertEquals("cpu resource utilization (percentage of request) below target", later.reason());
    }

    @Test
    void aShortenedWindowAndAPodsPolicyPaceTheScaleDown() {
        ScalingRules down = ScalingRules.newBuilder().setStabilizationWindowSeconds(10)
                .addPolicies(ScalingPolicy.newBuilder().setType(ScalingPolicy.Type.PODS).setValue(1).setPeriodSeconds(60)).build();
        History history = new History();
        Decision d = HpaCalculation.decide(T0, 4, 1, 10, List.of(CPU50), REQUESTS, cpu(0, 0, 0, 0), ScalingRules.getDefaultInstance(),
                down, 0.1, history);
        assertEquals(4, d.desired());
        d = HpaCalculation.decide(T0.plusSeconds(11), 4, 1, 10, List.of(CPU50), REQUESTS, cpu(0, 0, 0, 0), ScalingRules.getDefaultInstance(),
                down, 0.1, history);
        assertEquals(3, d.desired(), "one replica per 60 s");
        assertEquals("ScaleDownLimit", condition(d, "ScalingLimited").reason());
    }

    @Test
    void aDisabledDirectionNeverScalesThatWay() {
        ScalingRules disabled = ScalingRules.newBuilder().setSelectPolicy(ScalingRules.SelectPolicy.DISABLED).build();
        Decision d = HpaCalculation.decide(T0, 2, 1, 10, List.of(CPU50), REQUESTS, cpu(0.9, 0.9), disabled,
                ScalingRules.getDefaultInstance(), 0.1, new History());
        assertEquals(2, d.desired());
    }

    @Test
    void replicasWithoutMetricsCountAsFullWhenScalingDownAndEmptyWhenScalingUp() {
        List<Replica> down = new ArrayList<>(cpu(0.2, 0.2));
        down.add(new Replica("web-2", true, false, Map.of()));
        down.add(new Replica("web-3", true, false, Map.of()));
        // Measured: 20% (ratio 0.4); with the two silent ones at 100%: (0.2+0.2+1+1)/4 = 60% -> ratio 1.2: the direction flips, keep 4.
        assertEquals(4, HpaCalculation.resourceReplicas(4, down, CPU50, 1.0, 0.1).replicas());
        List<Replica> up = new ArrayList<>(cpu(0.9, 0.9));
        up.add(new Replica("web-2", true, false, Map.of()));
        up.add(new Replica("web-3", true, false, Map.of()));
        // Measured 90% (ratio 1.8); the silent ones at 0: 1.8/4 = 45% -> ratio 0.9: the direction flips, keep 4.
        assertEquals(4, HpaCalculation.resourceReplicas(4, up, CPU50, 1.0, 0.1).replicas());
        up.set(0, new Replica("web-0", true, false, Map.of(MetricTarget.Resource.CPU, 3.0)));
        // (3 + 0.9 + 0 + 0) / 4 = 97.5% -> ratio 1.95 -> ceil(7.8) = 8.
        assertEquals(8, HpaCalculation.resourceReplicas(4, up, CPU50, 1.0, 0.1).replicas());
    }

    @Test
    void notReadyReplicasCountAsIdleWhenCpuWouldScaleUp() {
        List<Replica> replicas = new ArrayList<>(cpu(0.9, 0.9));
        replicas.add(new Replica("web-2", false, false, Map.of(MetricTarget.Resource.CPU, 0.9)));
        // Ready ones 90% (ratio 1.8); with the starting one at 0: 60% -> ratio 1.2 -> ceil(3.6) = 4.
        assertEquals(4, HpaCalculation.resourceReplicas(3, replicas, CPU50, 1.0, 0.1).replicas());
        // Memory trusts a replica that is not ready.
        List<Replica> memory = List.of(new Replica("web-0", false, false, Map.of(MetricTarget.Resource.MEMORY, 1024.0 * 1024 * 1024)));
        assertEquals(2, HpaCalculation.resourceReplicas(1, memory, MEM80, 1024.0 * 1024 * 1024, 0.1).replicas());
    }

    @Test
    void aMetricsGapNeverScalesDown() {
        History history = new History();
        List<Replica> gap = List.of(new Replica("web-0", true, false, Map.of(MetricTarget.Resource.CPU, 0.0)),
                new Replica("web-1", false, true, Map.of()), new Replica("web-2", false, true, Map.of()));
        for (int s = 0; s <= 900; s += 15) {
            Decision d = decide(T0.plusSeconds(s), 3, 1, 10, gap, history);
            assertEquals(3, d.desired(), "at " + s + " s");
        }
        Decision d = decide(T0.plusSeconds(915), 3, 1, 10, gap, history);
        assertFalse(condition(d, "ScalingActive").status());
        assertEquals("MetricsGap", condition(d, "ScalingActive").reason());
        // Fresh, idle metrics again: the window starts over from the end of the gap.
        List<Replica> back = List.of(new Replica("web-0", true, false, Map.of(MetricTarget.Resource.CPU, 0.0)),
                new Replica("web-1", true, false, Map.of(MetricTarget.Resource.CPU, 0.0)),
                new Replica("web-2", true, false, Map.of(MetricTarget.Resource.CPU, 0.0)));
        assertEquals(3, decide(T0.plusSeconds(930), 3, 1, 10, back, history).desired());
        assertEquals(3, decide(T0.plusSeconds(930 + 299), 3, 1, 10, back, history).desired(), "a full window of fresh metrics first");
        assertEquals(1, decide(T0.plusSeconds(930 + 301), 3, 1, 10, back, history).desired());
        // No metrics at all: no decision either way.
        List<Replica> silent = List.of(new Replica("web-0", true, true, Map.of()), new Replica("web-1", true, true, Map.of()));
        Decision none = decide(T0, 2, 1, 10, silent, new History());
        assertEquals(2, none.desired());
        assertEquals("MetricsGap", condition(none, "ScalingActive").reason());
        // But load seen on the reachable ones still scales up.
        List<Replica> loaded = List.of(new Replica("web-0", true, false, Map.of(MetricTarget.Resource.CPU, 2.0)),
                new Replica("web-1", false, true, Map.of()));
        assertTrue(decide(T0, 2, 1, 10, loaded, new History()).desired() > 2);
    }

    @Test
    void aFailingMetricBlocksAScaleDownTheOtherWouldMake() {
        // CPU says 1 replica; memory has no request: no scale-down (HPA), ScalingActive false.
        Decision d = HpaCalculation.decide(T0, 3, 1, 10, List.of(CPU50, MEM80), Map.of(MetricTarget.Resource.CPU, 1.0),
                cpu(0, 0, 0), ScalingRules.getDefaultInstance(), ScalingRules.newBuilder().setStabilizationWindowSeconds(0).build(),
                0.1, new History());
        assertEquals(3, d.desired());
        assertEquals("FailedGetResourceMetric", condition(d, "ScalingActive").reason());
        assertTrue(condition(d, "ScalingActive").message().contains("missing request for memory"), condition(d, "ScalingActive").message());
    }

    @Test
    void theLargestProposalOverTheMetricsWins() {
        List<Replica> replicas = List.of(new Replica("web-0", true, false,
                Map.of(MetricTarget.Resource.CPU, 0.1, MetricTarget.Resource.MEMORY, 1024.0 * 1024 * 1024 * 2)));
        Decision d = HpaCalculation.decide(T0, 1, 1, 10, List.of(CPU50, MEM80), REQUESTS, replicas, ScalingRules.getDefaultInstance(),
                ScalingRules.getDefaultInstance(), 0.1, new History());
        assertEquals(3, d.desired(), "memory at 200% of an 80% target: ceil(2.5)");
        assertEquals("memory resource utilization (percentage of request) above target", d.reason());
    }

    @Test
    void poolsAreScaledEachOnItsOwnReplicas() {
        History a = new History();
        History b = new History();
        Decision busy = decide(T0, 2, 1, 10, cpu(0.9, 0.9), a);
        Decision idle = decide(T0, 2, 1, 10, cpu(0.05, 0.05), b);
        assertEquals(4, busy.desired());
        assertEquals(2, idle.desired(), "the idle pool waits out its own window");
        a.recordScale(T0, 2, 4);
        assertEquals(1, decide(T0.plusSeconds(301), 2, 1, 10, cpu(0.05, 0.05), b).desired());
    }

    @Test
    void boundsOutsideTheCountMoveItThereFirst() {
        Decision below = decide(T0, 1, 3, 10, cpu(0.1), new History());
        assertEquals(3, below.desired());
        assertEquals("Current number of replicas below Spec.MinReplicas", below.reason());
        Decision above = decide(T0, 12, 1, 10, cpu(0.5), new History());
        assertEquals(10, above.desired());
        Decision zero = decide(T0, 0, 1, 10, List.of(), new History());
        assertEquals(0, zero.desired(), "a target scaled to 0 by hand is left alone (HPA: ScalingDisabled)");
        assertEquals("ScalingDisabled", condition(zero, "ScalingActive").reason());
    }

    @Test
    void anActiveScheduleSetsTheBoundsTheComputationClampsTo() {
        AutoscalerSpec spec = AutoscalerSpec.newBuilder().setMinReplicas(1).setMaxReplicas(10)
                .addSchedules(ScheduledBounds.newBuilder().setName("business-hours").setSchedule("0 8 * * 1-5")
                        .setTimeZone("Europe/Berlin").setDurationSeconds(12 * 3600).setMinReplicas(5))
                .addSchedules(ScheduledBounds.newBuilder().setName("night").setSchedule("0 22 * * *").setDurationSeconds(8 * 3600)
                        .setMaxReplicas(2))
                .build();
        // 2026-01-05 is a Monday; 10:00 UTC is 11:00 in Berlin.
        AutoscalerBounds.Bounds day = AutoscalerBounds.effective(spec, T0);
        assertEquals(new AutoscalerBounds.Bounds(5, 10, "business-hours"), day);
        AutoscalerBounds.Bounds night = AutoscalerBounds.effective(spec, Instant.parse("2026-01-05T23:30:00Z"));
        assertEquals(new AutoscalerBounds.Bounds(1, 2, "night"), night);
        assertEquals(new AutoscalerBounds.Bounds(1, 10, ""), AutoscalerBounds.effective(spec, Instant.parse("2026-01-10T12:00:00Z")),
                "Saturday noon: the spec's");
        // Idle replicas during business hours: the HPA would go to 1, the schedule's min holds 5.
        Decision d = decide(T0, 2, day.min(), day.max(), cpu(0.01, 0.01), new History());
        assertEquals(5, d.desired());
        Decision capped = decide(Instant.parse("2026-01-05T23:30:00Z"), 2, night.min(), night.max(), cpu(0.9, 0.9), new History());
        assertEquals(2, capped.desired(), "the night's max holds a busy App at 2");
    }
}
