package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppStatus;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeCondition;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.RolloutStatus;
import dev.edgeplane.controlplane.api.AppStatusComposer;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.StateCaches;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Per-object gauges on /metrics: what the alerting rules in deploy/prometheus/ read, the way
 * kube-state-metrics serves Kubernetes objects. Only objects in a state worth an alert get a row
 * (an unreachable node, a node condition, a waiting replica, a rollout under way) plus each App's
 * desired and available counts, so the series stay few in a healthy fleet; nodes are capped at
 * {@code edgeplane.metrics.prometheus-max-nodes}, Apps and waiting replicas each at
 * {@code prometheus-max-objects} (the first by name, so the set is stable), the rest counted as omitted.
 * Refreshed with the per-node gauges ({@link ControlPlaneMeters}), from the in-memory caches.
 */
@ApplicationScoped
public class FleetObjectGauges {
    private final StateCaches caches;
    private final AppStatusComposer apps;
    private final Clock clock;
    private final int maxNodes;
    private final int maxObjects;
    private final MultiGauge nodeUnreachable;
    private final MultiGauge nodeCondition;
    private final MultiGauge appDesired;
    private final MultiGauge appAvailable;
    private final MultiGauge rolloutPhase;
    private final MultiGauge rolloutStalled;
    private final MultiGauge replicaWaiting;
    private volatile int omittedApps;
    private volatile int omittedReplicas;
    private volatile int omittedNodes;

    @Inject
    public FleetObjectGauges(MeterRegistry registry, StateCaches caches, AppStatusComposer apps, MetricsConfig config) {
        this(registry, caches, apps, config.prometheusMaxNodes(), config.prometheusMaxObjects(), Clock.systemUTC());
    }

    FleetObjectGauges(MeterRegistry registry, StateCaches caches, AppStatusComposer apps, int maxNodes, int maxObjects, Clock clock) {
        this.caches = caches;
        this.apps = apps;
        this.clock = clock;
        this.maxNodes = maxNodes;
        this.maxObjects = maxObjects;
        this.nodeUnreachable = MultiGauge.builder("edgeplane.node.unreachable").baseUnit("seconds")
                .description("Seconds since an Unreachable node was last heard from (only Unreachable nodes have a row)").register(registry);
        this.nodeCondition = MultiGauge.builder("edgeplane.node.condition")
                .description("1 for each condition a node reports (MemoryPressure, DiskPressure, ...)").register(registry);
        this.appDesired = MultiGauge.builder("edgeplane.app.replicas.desired")
                .description("Replicas an App wants").register(registry);
        this.appAvailable = MultiGauge.builder("edgeplane.app.replicas.available")
                .description("An App's replicas ready for min_ready_seconds on a Ready node").register(registry);
        this.rolloutPhase = MultiGauge.builder("edgeplane.app.rollout")
                .description("1 for an App whose rollout is not complete, by phase").register(registry);
        this.rolloutStalled = MultiGauge.builder("edgeplane.app.rollout.stalled").baseUnit("seconds")
                .description("Seconds since a rollout under way (not paused) last made progress").register(registry);
        this.replicaWaiting = MultiGauge.builder("edgeplane.replica.waiting.reason")
                .description("1 for each replica that does not run, with its waiting reason (CrashLoopBackOff, ErrImagePull, ...)")
                .register(registry);
        Gauge.builder("edgeplane.fleet.object.gauges.omitted", this, g -> g.omittedApps).tag("kind", "app")
                .description("Objects left out of the per-object gauges (over edgeplane.metrics.prometheus-max-objects / -max-nodes)")
                .register(registry);
        Gauge.builder("edgeplane.fleet.object.gauges.omitted", this, g -> g.omittedReplicas).tag("kind", "replica")
                .description("Objects left out of the per-object gauges (over edgeplane.metrics.prometheus-max-objects / -max-nodes)")
                .register(registry);
        Gauge.builder("edgeplane.fleet.object.gauges.omitted", this, g -> g.omittedNodes).tag("kind", "node")
                .description("Objects left out of the per-object gauges (over edgeplane.metrics.prometheus-max-objects / -max-nodes)")
                .register(registry);
    }

    public void refresh() {
        long now = clock.instant().getEpochSecond();
        refreshNodes(now);
        refreshApps(now);
        refreshReplicas();
    }

    private void refreshNodes(long now) {
        List<MultiGauge.Row<?>> unreachable = new ArrayList<>();
        List<MultiGauge.Row<?>> conditions = new ArrayList<>();
        List<Entry<Node>> nodes = sortedByKey(caches.nodes().all().stream()
                .filter(e -> e.value().getStatus().getPhase() == NodeStatus.Phase.UNREACHABLE
                        || e.value().getStatus().getConditionsCount() > 0).toList());
        for (Entry<Node> entry : nodes.subList(0, Math.min(nodes.size(), maxNodes))) {
            NodeStatus status = entry.value().getStatus();
            boolean away = status.getPhase() == NodeStatus.Phase.UNREACHABLE;
            String node = entry.value().getMetadata().getName();
            if (away) {
                long since = status.hasLastHeartbeat() ? status.getLastHeartbeat().getSeconds() : now;
                unreachable.add(MultiGauge.Row.of(Tags.of("node", node), Math.max(0, now - since)));
            }
            for (NodeCondition c : status.getConditionsList()) {
                conditions.add(MultiGauge.Row.of(Tags.of("node", node, "condition", c.getType()), 1));
            }
        }
        nodeUnreachable.register(unreachable, true);
        nodeCondition.register(conditions, true);
        omittedNodes = Math.max(0, nodes.size() - maxNodes);
    }

    private void refreshApps(long now) {
        List<MultiGauge.Row<?>> desired = new ArrayList<>();
        List<MultiGauge.Row<?>> available = new ArrayList<>();
        List<MultiGauge.Row<?>> rollouts = new ArrayList<>();
        List<MultiGauge.Row<?>> stalled = new ArrayList<>();
        List<Entry<App>> all = sortedByKey(caches.apps().all());
        for (Entry<App> entry : all.subList(0, Math.min(all.size(), maxObjects))) {
            App app = apps.withStatus(entry.value());
            Tags tags = Tags.of("namespace", app.getMetadata().getNamespace(), "app", app.getMetadata().getName());
            AppStatus status = app.getStatus();
            desired.add(MultiGauge.Row.of(tags, status.getDesiredReplicas()));
            available.add(MultiGauge.Row.of(tags, status.getAvailableReplicas()));
            RolloutStatus rollout = status.getRollout();
            if (status.hasRollout() && rollout.getPhase() != RolloutStatus.Phase.COMPLETE
                    && rollout.getPhase() != RolloutStatus.Phase.PHASE_UNSPECIFIED) {
                rollouts.add(MultiGauge.Row.of(tags.and("phase", rollout.getPhase().name()), 1));
                boolean moving = rollout.getPhase() == RolloutStatus.Phase.PROGRESSING
                        || rollout.getPhase() == RolloutStatus.Phase.ROLLING_BACK;
                if (moving && !rollout.getPaused() && rollout.hasProgressTime()) {
                    stalled.add(MultiGauge.Row.of(tags, Math.max(0, now - rollout.getProgressTime().getSeconds())));
                }
            }
        }
        appDesired.register(desired, true);
        appAvailable.register(available, true);
        rolloutPhase.register(rollouts, true);
        rolloutStalled.register(stalled, true);
        omittedApps = Math.max(0, all.size() - maxObjects);
    }

    private void refreshReplicas() {
        List<MultiGauge.Row<?>> waiting = new ArrayList<>();
        List<Entry<ReplicaStatus>> notRunning = sortedByKey(caches.replicaStatuses().all().stream()
                .filter(e -> !e.value().getReason().isEmpty()).toList());
        for (Entry<ReplicaStatus> entry : notRunning.subList(0, Math.min(notRunning.size(), maxObjects))) {
            ReplicaStatus r = entry.value();
            waiting.add(MultiGauge.Row.of(Tags.of("namespace", r.getNamespace(), "app", r.getApp(), "replica", r.getName(),
                    "node", r.getNode(), "reason", r.getReason()), 1));
        }
        replicaWaiting.register(waiting, true);
        omittedReplicas = Math.max(0, notRunning.size() - maxObjects);
    }

    private static <T> List<Entry<T>> sortedByKey(List<Entry<T>> entries) {
        List<Entry<T>> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparing(Entry::key));
        return sorted;
    }
}
