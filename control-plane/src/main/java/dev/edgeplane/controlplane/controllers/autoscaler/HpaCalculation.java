package dev.edgeplane.controlplane.controllers.autoscaler;

import dev.edgeplane.api.v1.MetricTarget;
import dev.edgeplane.api.v1.ScalingPolicy;
import dev.edgeplane.api.v1.ScalingRules;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The Kubernetes HPA's (autoscaling/v2) replica computation for one group of replicas (an App, or one
 * of its pools), pure: no etcd, no clock of its own. It follows the kube-controller-manager's
 * podautoscaler (replica_calculator.go, horizontal.go): per resource desired = ceil(ready * usage /
 * target) within a tolerance, replicas without metrics taken as 100% of their request when that would
 * scale down and 0% when it would scale up, not-ready replicas (CPU) as 0% when scaling up; the
 * largest proposal over the metrics; the scale-up/scale-down stabilisation windows and rate policies
 * of {@code behavior}; and min/max. One addition for the edge: replicas on UNREACHABLE nodes (or none
 * with metrics) are a metrics gap, and a gap never scales down.
 */
public final class HpaCalculation {
    /** HPA's defaults (horizontal-pod-autoscaler-tolerance, behavior defaults). */
    public static final double DEFAULT_TOLERANCE = 0.1;
    public static final int DEFAULT_SCALE_DOWN_WINDOW_SECONDS = 300;

    private HpaCalculation() {}

    /**
     * One replica as the calculation sees it.
     *
     * @param ready       running and ready on a READY node (HPA: the pod's Ready condition)
     * @param unreachable its node is UNREACHABLE: its metrics cannot come, a gap
     * @param usage       the resource used now (cores, bytes) per resource; a resource missing: no fresh metrics
     */
    public record Replica(String name, boolean ready, boolean unreachable, Map<MetricTarget.Resource, Double> usage) {
        public Replica {
            usage = Map.copyOf(usage);
        }
    }

    /** One metric's proposal: replicas (or, invalid, why not) and the utilisation seen (percent of requests). */
    public record Proposal(MetricTarget.Resource resource, int replicas, int utilization, double averageValue, String error) {
        boolean valid() {
            return error == null;
        }
    }

    /** A change of the group's replicas at a time (HPA's timestampedScaleEvent); negative: removed. */
    public record ScaleEvent(Instant time, int change) {}

    /** An unstabilised recommendation at a time (HPA's timestampedRecommendation). */
    public record Recommendation(Instant time, int replicas) {}

    /** A condition as HPA sets it: type, true or false, reason, message. */
    public record Condition(String type, boolean status, String reason, String message) {}

    /**
     * What the group should have.
     *
     * @param desired      the replicas to write (equal to current: no change)
     * @param reason       why, HPA's rescale reason ("cpu resource utilization (percentage of request) above target")
     * @param proposals    per metric
     * @param conditions   AbleToScale, ScalingActive, ScalingLimited
     */
    public record Decision(int current, int desired, String reason, List<Proposal> proposals, List<Condition> conditions) {
        public boolean rescale() {
            return desired != current;
        }
    }

    /** The group's memory between evaluations: recommendations and scale events (HPA keeps them in memory too). */
    public static final class History {
        private final List<Recommendation> recommendations = new ArrayList<>();
        private final List<ScaleEvent> scaleUps = new ArrayList<>();
        private final List<ScaleEvent> scaleDowns = new ArrayList<>();
        /** The last evaluation had no usable metrics: the next valid one restarts the scale-down window. */
        private boolean gap;

        public synchronized void recordScale(Instant at, int from, int to) {
            if (to > from) {
                scaleUps.add(new ScaleEvent(at, to - from));
            } else if (to < from) {
                scaleDowns.add(new ScaleEvent(at, from - to));
            }
        }

        synchronized List<Recommendation> recommendations() {
            return List.copyOf(recommendations);
        }

        /** Drops what no window or period can reach any more (bounded: HPA's limits cap both at an hour). */
        private void trim(Instant now, Duration keep) {
            Instant cutoff = now.minus(keep);
            recommendations.removeIf(r -> r.time().isBefore(cutoff));
            scaleUps.removeIf(e -> e.time().isBefore(cutoff));
            scaleDowns.removeIf(e -> e.time().isBefore(cutoff));
        }
    }

    /**
     * HPA's rules with defaults filled: scale up no window, max(4 pods, 100%) per 15 s; scale down a
     * 300 s window, 100% per 15 s; select policy MAX.
     */
    public static ScalingRules scaleUpRules(ScalingRules given) {
        ScalingRules.Builder b = given.toBuilder();
        if (!given.hasStabilizationWindowSeconds()) {
            b.setStabilizationWindowSeconds(0);
        }
        if (given.getPoliciesCount() == 0) {
            b.addPolicies(policy(ScalingPolicy.Type.PERCENT, 100, 15)).addPolicies(policy(ScalingPolicy.Type.PODS, 4, 15));
        }
        return b.build();
    }

    public static ScalingRules scaleDownRules(ScalingRules given) {
        ScalingRules.Builder b = given.toBuilder();
        if (!given.hasStabilizationWindowSeconds()) {
            b.setStabilizationWindowSeconds(DEFAULT_SCALE_DOWN_WINDOW_SECONDS);
        }
        if (given.getPoliciesCount() == 0) {
            b.addPolicies(policy(ScalingPolicy.Type.PERCENT, 100, 15));
        }
        return b.build();
    }

    private static ScalingPolicy policy(ScalingPolicy.Type type, int value, int period) {
        return ScalingPolicy.newBuilder().setType(type).setValue(value).setPeriodSeconds(period).build();
    }

    /**
     * HPA's GetResourceReplicas for one resource. {@code requestPerReplica}: the resource all of a
     * replica's containers request (cores or bytes), > 0.
     */
    public static Proposal resourceReplicas(int current, List<Replica> replicas, MetricTarget target, double requestPerReplica,
                                            double tolerance) {
        MetricTarget.Resource resource = target.getResource();
        Map<String, Double> metrics = new HashMap<>();
        List<String> unready = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (Replica r : replicas) {
            Double used = r.usage().get(resource);
            if (used == null) {
                missing.add(r.name());
            } else if (resource == MetricTarget.Resource.CPU && !r.ready()) {
                unready.add(r.name()); // HPA: a CPU sample of a pod not ready yet is not trusted
            } else {
                metrics.put(r.name(), used);
            }
        }
        if (metrics.isEmpty() && unready.isEmpty()) {
            return new Proposal(resource, current, 0, 0, "no replica of " + replicas.size() + " has fresh " + name(resource) + " metrics");
        }
        if (metrics.isEmpty()) {
            return new Proposal(resource, current, 0, 0, "no ready replica of " + replicas.size() + " has " + name(resource) + " metrics yet");
        }
        double target1 = target.getTargetAverageUtilization() / 100.0;
        double sum = metrics.values().stream().mapToDouble(Double::doubleValue).sum();
        double usageRatio = sum / (metrics.size() * requestPerReplica) / target1;
        int utilization = (int) Math.round(sum / (metrics.size() * requestPerReplica) * 100);
        double average = sum / metrics.size();
        int readyCount = metrics.size();
        boolean scaleUpWithUnready = !unready.isEmpty() && usageRatio > 1.0;
        if (!scaleUpWithUnready && missing.isEmpty()) {
            if (Math.abs(1.0 - usageRatio) <= tolerance) {
                return new Proposal(resource, current, utilization, average, null);
            }
            return new Proposal(resource, (int) Math.ceil(usageRatio * readyCount), utilization, average, null);
        }
        Map<String, Double> filled = new HashMap<>(metrics);
        if (!missing.isEmpty()) {
            // Scaling down: assume the silent ones use all they ask; scaling up: nothing.
            double assumed = usageRatio < 1.0 ? requestPerReplica : 0;
            missing.forEach(name -> filled.put(name, assumed));
        }
        if (scaleUpWithUnready) {
            unready.forEach(name -> filled.put(name, 0.0));
        }
        double filledSum = filled.values().stream().mapToDouble(Double::doubleValue).sum();
        double newRatio = filledSum / (filled.size() * requestPerReplica) / target1;
        if (Math.abs(1.0 - newRatio) <= tolerance || (usageRatio < 1.0 && newRatio > 1.0) || (usageRatio > 1.0 && newRatio < 1.0)) {
            return new Proposal(resource, current, utilization, average, null); // the assumption flipped or cancelled the direction
        }
        int proposed = (int) Math.ceil(newRatio * filled.size());
        if ((newRatio < 1.0 && proposed > current) || (newRatio > 1.0 && proposed < current)) {
            return new Proposal(resource, current, utilization, average, null);
        }
        return new Proposal(resource, proposed, utilization, average, null);
    }

    static String name(MetricTarget.Resource resource) {
        return resource == MetricTarget.Resource.MEMORY ? "memory" : "cpu";
    }

    /**
     * Everything for one group at {@code now}: HPA's reconcileAutoscaler with behaviors.
     *
     * @param requests  per targeted resource: what one replica requests; a metric missing here is
     *                  invalid (its containers lack the request)
     * @param history   the group's memory; updated with this evaluation's recommendation
     */
    public static Decision decide(Instant now, int current, int min, int max, List<MetricTarget> targets,
                                  Map<MetricTarget.Resource, Double> requests, List<Replica> replicas, ScalingRules scaleUpGiven,
                                  ScalingRules scaleDownGiven, double tolerance, History history) {
        ScalingRules up = scaleUpRules(scaleUpGiven);
        ScalingRules down = scaleDownRules(scaleDownGiven);
        List<Condition> conditions = new ArrayList<>();
        List<Proposal> proposals = new ArrayList<>();
        if (current == 0 && min != 0) {
            conditions.add(new Condition("ScalingActive", false, "ScalingDisabled",
                    "scaling is disabled since the replica count of the target is zero"));
            conditions.add(new Condition("AbleToScale", true, "SucceededGetScale", "the autoscaler was able to get the target's current scale"));
            return new Decision(current, current, "", proposals, conditions);
        }
        if (current > max || current < min) {
            int desired = current > max ? max : min;
            String reason = current > max ? "Current number of replicas above Spec.MaxReplicas"
                    : "Current number of replicas below Spec.MinReplicas";
            conditions.add(new Condition("AbleToScale", true, "SucceededRescale", "the autoscaler brings the target within its bounds"));
            conditions.add(new Condition("ScalingActive", true, "ValidMetricFound", "the bounds decide"));
            conditions.add(new Condition("ScalingLimited", true, current > max ? "TooManyReplicas" : "TooFewReplicas", reason));
            return new Decision(current, desired, reason, proposals, conditions);
        }
        int proposal = -1;
        String metricReason = "";
        List<String> errors = new ArrayList<>();
        for (MetricTarget target : targets) {
            Double request = requests.get(target.getResource());
            Proposal p = request == null || request <= 0
                    ? new Proposal(target.getResource(), current, 0, 0, "missing request for " + name(target.getResource()))
                    : resourceReplicas(current, replicas, target, request, tolerance);
            proposals.add(p);
            if (!p.valid()) {
                errors.add(p.error());
            } else if (p.replicas() > proposal) {
                proposal = p.replicas();
                metricReason = name(target.getResource()) + " resource utilization (percentage of request) "
                        + (p.replicas() >= current ? "above" : "below") + " target";
            }
        }
        List<String> unreachable = replicas.stream().filter(Replica::unreachable).map(Replica::name).toList();
        if (proposal < 0 || (!errors.isEmpty() && proposal < current)) {
            // HPA: with a metric failing, no scale-down on the others (and nothing at all with none valid).
            conditions.add(new Condition("AbleToScale", true, "SucceededGetScale", "the autoscaler was able to get the target's current scale"));
            conditions.add(new Condition("ScalingActive", false, unreachable.isEmpty() ? "FailedGetResourceMetric" : "MetricsGap",
                    String.join("; ", errors) + (unreachable.isEmpty() ? "" : "; replicas on unreachable nodes: " + unreachable)));
            markGap(history);
            return new Decision(current, current, "", proposals, conditions);
        }
        if (!unreachable.isEmpty() && proposal <= current) {
            conditions.add(new Condition("AbleToScale", true, "SucceededGetScale", "the autoscaler was able to get the target's current scale"));
            conditions.add(new Condition("ScalingActive", false, "MetricsGap", "no scale-down while replicas " + unreachable
                    + " are on unreachable nodes (their metrics cannot come)"));
            markGap(history);
            return new Decision(current, current, "", proposals, conditions);
        }
        conditions.add(new Condition("ScalingActive", true, "ValidMetricFound",
                "the autoscaler was able to successfully calculate a replica count from " + proposals.stream()
                        .filter(Proposal::valid).map(p -> name(p.resource()) + " resource utilization (percentage of request)").toList()));
        synchronized (history) {
            if (history.gap) {
                // After a gap the window starts again with the count kept through it: fresh metrics must say
                // "scale down" for a whole window, as after a leader change; a gap never shortens it.
                history.recommendations.add(new Recommendation(now, current));
                history.gap = false;
            }
            Stabilized stabilized = stabilize(now, current, proposal, up, down, history);
            conditions.add(stabilized.recommendation() != proposal
                    ? new Condition("AbleToScale", true, stabilized.reason(), stabilized.message())
                    : new Condition("AbleToScale", true, "ReadyForNewScale", "recommended size matches current size"));
            Limited limited = limitRate(now, current, stabilized.recommendation(), min, max, up, down, history);
            conditions.add(new Condition("ScalingLimited", limited.replicas() != stabilized.recommendation(), limited.reason(),
                    limited.message()));
            int longest = Math.max(up.getStabilizationWindowSeconds(), down.getStabilizationWindowSeconds());
            for (ScalingPolicy p : up.getPoliciesList()) {
                longest = Math.max(longest, p.getPeriodSeconds());
            }
            for (ScalingPolicy p : down.getPoliciesList()) {
                longest = Math.max(longest, p.getPeriodSeconds());
            }
            history.trim(now, Duration.ofSeconds(longest + 1L));
            return new Decision(current, limited.replicas(), metricReason, proposals, conditions);
        }
    }

    private static void markGap(History history) {
        synchronized (history) {
            history.gap = true;
        }
    }

    private record Stabilized(int recommendation, String reason, String message) {}

    private record Limited(int replicas, String reason, String message) {}

    /** HPA's stabilizeRecommendationWithBehaviors; the window starts with the current count (maybeInitScaleDownStabilizationWindow). */
    private static Stabilized stabilize(Instant now, int current, int desired, ScalingRules up, ScalingRules down, History history) {
        if (history.recommendations.isEmpty()) {
            history.recommendations.add(new Recommendation(now, current));
        }
        Instant upCutoff = now.minusSeconds(up.getStabilizationWindowSeconds());
        Instant downCutoff = now.minusSeconds(down.getStabilizationWindowSeconds());
        int upRecommendation = desired;
        int downRecommendation = desired;
        for (Recommendation r : history.recommendations) {
            if (r.time().isAfter(upCutoff)) {
                upRecommendation = Math.min(upRecommendation, r.replicas());
            }
            if (r.time().isAfter(downCutoff)) {
                downRecommendation = Math.max(downRecommendation, r.replicas());
            }
        }
        int recommendation = current;
        if (recommendation < upRecommendation) {
            recommendation = upRecommendation;
        }
        if (recommendation > downRecommendation) {
            recommendation = downRecommendation;
        }
        history.recommendations.add(new Recommendation(now, desired));
        String reason = desired > current ? "ScaleUpStabilized" : "ScaleDownStabilized";
        String message = desired > current ? "recent recommendations were lower than current one, applying the lowest recent recommendation"
                : "recent recommendations were higher than current one, applying the highest recent recommendation";
        return new Stabilized(recommendation, reason, message);
    }

    /** HPA's convertDesiredReplicasWithBehaviorRate (min and max included). */
    private static Limited limitRate(Instant now, int current, int desired, int min, int max, ScalingRules up, ScalingRules down,
                                     History history) {
        if (desired > current) {
            int limit = Math.max(current, scaleUpLimit(now, current, history, up));
            int allowed = max;
            String reason = "TooManyReplicas";
            String message = "the desired replica count is more than the maximum replica count";
            if (allowed > limit) {
                allowed = limit;
                reason = "ScaleUpLimit";
                message = "the desired replica count is increasing faster than the maximum scale rate";
            }
            if (desired > allowed) {
                return new Limited(allowed, reason, message);
            }
        } else if (desired < current) {
            int limit = Math.min(current, scaleDownLimit(now, current, history, down));
            int allowed = min;
            String reason = "TooFewReplicas";
            String message = "the desired replica count is less than the minimum replica count";
            if (allowed < limit) {
                allowed = limit;
                reason = "ScaleDownLimit";
                message = "the desired replica count is decreasing faster than the maximum scale rate";
            }
            if (desired < allowed) {
                return new Limited(allowed, reason, message);
            }
        }
        return new Limited(desired, "DesiredWithinRange", "the desired count is within the acceptable range");
    }

    private static int changedWithin(Instant now, int periodSeconds, List<ScaleEvent> events) {
        Instant cutoff = now.minusSeconds(periodSeconds);
        int sum = 0;
        for (ScaleEvent e : events) {
            if (e.time().isAfter(cutoff)) {
                sum += e.change();
            }
        }
        return sum;
    }

    private static int scaleUpLimit(Instant now, int current, History history, ScalingRules rules) {
        if (rules.getSelectPolicy() == ScalingRules.SelectPolicy.DISABLED) {
            return current;
        }
        boolean minChange = rules.getSelectPolicy() == ScalingRules.SelectPolicy.MIN;
        long result = minChange ? Integer.MAX_VALUE : Integer.MIN_VALUE;
        for (ScalingPolicy p : rules.getPoliciesList()) {
            int start = current - changedWithin(now, p.getPeriodSeconds(), history.scaleUps)
                    + changedWithin(now, p.getPeriodSeconds(), history.scaleDowns);
            long proposed = p.getType() == ScalingPolicy.Type.PODS ? (long) start + p.getValue()
                    : (long) Math.ceil(start * (1 + p.getValue() / 100.0));
            result = minChange ? Math.min(result, proposed) : Math.max(result, proposed);
        }
        return (int) Math.min(Integer.MAX_VALUE, result);
    }

    private static int scaleDownLimit(Instant now, int current, History history, ScalingRules rules) {
        if (rules.getSelectPolicy() == ScalingRules.SelectPolicy.DISABLED) {
            return current;
        }
        boolean minChange = rules.getSelectPolicy() == ScalingRules.SelectPolicy.MIN;
        long result = minChange ? Integer.MIN_VALUE : Integer.MAX_VALUE;
        for (ScalingPolicy p : rules.getPoliciesList()) {
            int start = current - changedWithin(now, p.getPeriodSeconds(), history.scaleUps)
                    + changedWithin(now, p.getPeriodSeconds(), history.scaleDowns);
            long proposed = p.getType() == ScalingPolicy.Type.PODS ? (long) start - p.getValue()
                    : (long) (start * (1 - p.getValue() / 100.0));
            result = minChange ? Math.max(result, proposed) : Math.min(result, proposed);
        }
        return (int) Math.max(Integer.MIN_VALUE, result);
    }
}
