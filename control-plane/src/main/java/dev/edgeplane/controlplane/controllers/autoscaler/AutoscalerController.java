package dev.edgeplane.controlplane.controllers.autoscaler;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.AppPools;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Autoscaler;
import dev.edgeplane.api.v1.AutoscalerCondition;
import dev.edgeplane.api.v1.AutoscalerStatus;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.MetricStatus;
import dev.edgeplane.api.v1.MetricTarget;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectReference;
import dev.edgeplane.api.v1.PoolScalingStatus;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.ScalingRecord;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.controllers.app.AppController;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.events.Occurrence;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.metrics.AgentMetrics;
import dev.edgeplane.controlplane.metrics.StoredSeries;
import dev.edgeplane.controlplane.quotas.QuotaAdmission;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.store.TxnWriter;
import dev.edgeplane.controlplane.store.Write;
import dev.edgeplane.controlplane.workqueue.WorkQueue;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.PutOption;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Evaluates Autoscalers, one work item per Autoscaler ("namespace/name"), each every
 * edgeplane.autoscaler.sync-period (a delayed re-queue), on the leader only. Informers (autoscalers,
 * apps) wake an Autoscaler when its spec changes and when its App appears, goes or is changed by
 * someone else. A reconcile reads, per group of the App (the App, or each pool), the replicas the App
 * controller assigned, their statuses and nodes, and their containers' newest usage from the agents'
 * metrics (per node, never over the fleet), runs {@link HpaCalculation}, and when a group's count
 * changes writes the App (AppSpec.replicas or the pools' replicas) together with the Autoscaler's status
 * in one transaction guarded by both revisions, the namespace's quotas ({@link QuotaAdmission}) and the
 * leader's fence; otherwise it writes the status only when it changed (TxnWriter, fenced). The HPA's
 * memory (recommendations, scale events) is kept in memory per group, as the HPA does; a new leader
 * starts each window with the current count, so a failover never hastens a scale-down.
 */
@ApplicationScoped
public class AutoscalerController {
    private static final Logger LOG = Logger.getLogger(AutoscalerController.class);
    static final String CPU_SERIES = "container_cpu_usage_cores";
    static final String MEMORY_SERIES = "container_memory_working_set_bytes";
    /** status.history is bounded: the newest decisions. */
    public static final int HISTORY_LIMIT = 20;
    private static final long COMMIT_TIMEOUT_SECONDS = 60;
    private static final Duration RETRY = Duration.ofMillis(200);

    /** What the last evaluation measured (shown by the API on this process; not stored). */
    private record Live(List<MetricStatus> total, Map<String, List<MetricStatus>> pools) {}

    private final EtcdStore store;
    private final StateCaches caches;
    private final LeaderLock leader;
    private final ControlPlaneConfig.Autoscaler config;
    private final int writesInFlight;
    private final QuotaAdmission quotas;
    private final EventRecorder events;
    private final AppController apps;
    private final AgentMetrics metrics;
    /** "namespace/name/pool" -> the HPA's memory of that group. */
    private final Map<String, HpaCalculation.History> histories = new ConcurrentHashMap<>();
    private final Map<String, Live> live = new ConcurrentHashMap<>();
    /** "namespace/app" -> the Autoscalers naming it ("namespace/name"; the API allows one, the index tolerates more). */
    private final Map<String, Set<String>> byTarget = new HashMap<>();
    /** App keys -> the mod_revision of our own last write: our own writes wake nothing. */
    private final Map<String, Long> ownAppWrites = new ConcurrentHashMap<>();
    private volatile TxnWriter writer;
    private volatile WorkQueue<String> queue;

    public AutoscalerController(EtcdStore store, StateCaches caches, LeaderLock leader, ControlPlaneConfig config,
                                QuotaAdmission quotas, EventRecorder events, AppController apps, AgentMetrics metrics) {
        this.store = store;
        this.caches = caches;
        this.leader = leader;
        this.config = config.autoscaler();
        this.writesInFlight = config.scheduler().writesInFlight();
        this.quotas = quotas;
        this.events = events;
        this.apps = apps;
        this.metrics = metrics;
    }

    public void start() {
        writer = new TxnWriter(store, writesInFlight);
        queue = new WorkQueue<>("edgeplane-autoscalers", 2, 100_000, this::reconcile);
        caches.autoscalers().subscribe(new AutoscalerListener(), (state, revision) -> {
            state.values().forEach(e -> index(e.value(), true));
            return null;
        });
        caches.apps().subscribe(new AppListener(), (state, revision) -> null);
        leader.addListener(this::onLeadership); // the App controller starts the lock
    }

    public void stop() {
        WorkQueue<String> q = queue;
        if (q != null) {
            q.close();
        }
    }

    private void onLeadership() {
        if (!leader.isLeader()) {
            histories.clear(); // a later gain starts each window afresh, with the count then
            live.clear();
            return;
        }
        caches.autoscalers().all().forEach(e -> wake(Keys.suffix(e.key(), Keys.AUTOSCALERS)));
    }

    public void wake(String namespace, String name) {
        wake(namespace + "/" + name);
    }

    private void wake(String key) {
        WorkQueue<String> q = queue;
        if (q != null && !q.add(key)) {
            LOG.warnf("autoscaler queue full: %s not queued", key);
        }
    }

    private static String key(Autoscaler a) {
        return a.getMetadata().getNamespace() + "/" + a.getMetadata().getName();
    }

    private void index(Autoscaler a, boolean add) {
        String target = a.getMetadata().getNamespace() + "/" + a.getSpec().getTargetApp();
        synchronized (byTarget) {
            if (add) {
                byTarget.computeIfAbsent(target, k -> new HashSet<>()).add(key(a));
            } else {
                Set<String> set = byTarget.get(target);
                if (set != null && set.remove(key(a)) && set.isEmpty()) {
                    byTarget.remove(target);
                }
            }
        }
    }

    private final class AutoscalerListener implements PrefixCache.Listener<Autoscaler> {
        @Override
        public void onEvents(List<PrefixCache.Event<Autoscaler>> changes, long revision) {
            for (PrefixCache.Event<Autoscaler> change : changes) {
                if (change.previous() != null) {
                    index(change.previous().value(), false);
                }
                if (change instanceof PrefixCache.Put<Autoscaler> put) {
                    index(put.entry().value(), true);
                    // Status writes (ours) change no generation: they wake nothing.
                    if (put.previous() == null || put.previous().value().getMetadata().getGeneration()
                            != put.entry().value().getMetadata().getGeneration()) {
                        wake(Keys.suffix(put.key(), Keys.AUTOSCALERS));
                    }
                } else {
                    wake(Keys.suffix(change.key(), Keys.AUTOSCALERS)); // to forget it
                }
            }
        }

        @Override
        public void onReset(Map<String, Entry<Autoscaler>> state, long revision) {
            synchronized (byTarget) {
                byTarget.clear();
            }
            state.values().forEach(e -> index(e.value(), true));
            onLeadership();
        }
    }

    private final class AppListener implements PrefixCache.Listener<App> {
        @Override
        public void onEvents(List<PrefixCache.Event<App>> changes, long revision) {
            for (PrefixCache.Event<App> change : changes) {
                if (change instanceof PrefixCache.Delete<App>) {
                    ownAppWrites.remove(change.key());
                }
                Long own = ownAppWrites.get(change.key());
                if (change instanceof PrefixCache.Put<App> put && own != null && own == put.entry().modRevision()) {
                    continue; // our own scaling write
                }
                Set<String> targeting;
                synchronized (byTarget) {
                    targeting = Set.copyOf(byTarget.getOrDefault(Keys.suffix(change.key(), Keys.APPS), Set.of()));
                }
                targeting.forEach(AutoscalerController.this::wake);
            }
        }

        @Override
        public void onReset(Map<String, Entry<App>> state, long revision) {
            onLeadership();
        }
    }

    WorkQueue.Outcome reconcile(String key) throws Exception {
        if (!leader.isLeader()) {
            return WorkQueue.DONE; // the loop stops; a leader gain wakes them all
        }
        int slash = key.indexOf('/');
        String ns = key.substring(0, slash);
        String name = key.substring(slash + 1);
        Entry<Autoscaler> entry = caches.autoscalers().get(Keys.autoscaler(ns, name));
        if (entry == null) {
            forget(key);
            return WorkQueue.DONE;
        }
        Autoscaler autoscaler = entry.value();
        Instant now = Instant.now();
        AutoscalerBounds.Bounds bounds = AutoscalerBounds.effective(autoscaler.getSpec(), now);
        AutoscalerStatus old = autoscaler.getStatus();
        AutoscalerStatus.Builder status = old.toBuilder().clearConditions().clearPools()
                .setEffectiveMinReplicas(bounds.min()).setEffectiveMaxReplicas(bounds.max()).setActiveSchedule(bounds.schedule())
                .setObservedGeneration(autoscaler.getMetadata().getGeneration());
        if (!bounds.schedule().equals(old.getActiveSchedule()) && old.getObservedGeneration() != 0) {
            events.info(reference(ns, name), "ScheduledBounds", bounds.schedule().isEmpty()
                    ? "the spec's bounds apply: " + bounds.min() + ".." + bounds.max()
                    : "schedule " + bounds.schedule() + " is active: bounds " + bounds.min() + ".." + bounds.max(), "");
        }
        String appKey = Keys.app(ns, autoscaler.getSpec().getTargetApp());
        Entry<App> appEntry = caches.apps().get(appKey);
        if (appEntry == null || appEntry.value().getSpec().getMode() == AppSpec.Mode.EVERY_NODE) {
            String why = appEntry == null ? "the target app \"" + ns + "/" + autoscaler.getSpec().getTargetApp() + "\" does not exist"
                    : "the target app is EVERY_NODE: it cannot be scaled";
            List<HpaCalculation.Condition> conditions = List.of(new HpaCalculation.Condition("AbleToScale", false, "FailedGetScale", why),
                    new HpaCalculation.Condition("ScalingActive", false, "FailedGetScale", why));
            live.remove(key);
            writeStatus(entry, status.setCurrentReplicas(0).setDesiredReplicas(0), conditions, old, now);
            return new WorkQueue.RequeueAfter(config.syncPeriod());
        }
        App app = appEntry.value();
        Map<MetricTarget.Resource, Double> requests = ReplicaRequests.perReplica(app.getSpec().getTemplate(),
                autoscaler.getSpec().getMetricsList());
        List<String> containers = app.getSpec().getTemplate().getContainersList().stream().map(c -> c.getName()).toList();
        Map<String, Assignment> assigned = new HashMap<>();
        for (Entry<Assignment> e : apps.assignmentsOf(ns, app.getMetadata().getName())) {
            assigned.put(e.value().getReplica(), e.value());
        }
        Usage usage = usage(ns, assigned, now);
        List<AppPools.Group> groups = AppPools.groups(app);
        Map<AppPools.Group, HpaCalculation.Decision> decisions = new LinkedHashMap<>();
        for (AppPools.Group g : groups) {
            List<HpaCalculation.Replica> replicas = new ArrayList<>();
            for (long i = 0; i < g.desired(); i++) {
                replica(ns, g.name(i), assigned.get(g.name(i)), containers, autoscaler.getSpec().getMetricsList(), usage)
                        .ifPresent(replicas::add);
            }
            HpaCalculation.History history = histories.computeIfAbsent(key + "/" + g.pool(), k -> new HpaCalculation.History());
            decisions.put(g, HpaCalculation.decide(now, g.desired(), bounds.min(), bounds.max(), autoscaler.getSpec().getMetricsList(),
                    requests, replicas, autoscaler.getSpec().getBehavior().getScaleUp(), autoscaler.getSpec().getBehavior().getScaleDown(),
                    config.tolerance(), history));
        }
        live.put(key, live(decisions));
        if (LOG.isDebugEnabled()) {
            decisions.forEach((g, d) -> LOG.debugf("autoscaler %s pool '%s': %d -> %d %s %s", key, g.pool(), d.current(), d.desired(),
                    d.proposals(), d.conditions()));
        }
        int current = 0;
        int desired = 0;
        for (Map.Entry<AppPools.Group, HpaCalculation.Decision> d : decisions.entrySet()) {
            current += d.getValue().current();
            desired += d.getValue().desired();
            if (AppPools.has(app.getSpec())) {
                status.addPools(PoolScalingStatus.newBuilder().setName(d.getKey().pool()).setCurrentReplicas(d.getValue().current())
                        .setDesiredReplicas(d.getValue().desired()));
            }
        }
        status.setCurrentReplicas(current).setDesiredReplicas(desired);
        List<HpaCalculation.Condition> conditions = merged(decisions);
        boolean rescale = decisions.values().stream().anyMatch(HpaCalculation.Decision::rescale);
        if (!rescale) {
            writeStatus(entry, status, conditions, old, now);
            return new WorkQueue.RequeueAfter(config.syncPeriod());
        }
        return scale(entry, appEntry, decisions, status, conditions, now);
    }

    /** Writes the App with the groups' new counts and the Autoscaler's status in one guarded transaction. */
    private WorkQueue.Outcome scale(Entry<Autoscaler> entry, Entry<App> appEntry, Map<AppPools.Group, HpaCalculation.Decision> decisions,
                                    AutoscalerStatus.Builder status, List<HpaCalculation.Condition> conditions, Instant now) throws Exception {
        Autoscaler autoscaler = entry.value();
        String ns = autoscaler.getMetadata().getNamespace();
        String name = autoscaler.getMetadata().getName();
        App app = appEntry.value();
        AppSpec.Builder spec = app.getSpec().toBuilder();
        List<ScalingRecord> records = new ArrayList<>();
        int i = 0;
        for (Map.Entry<AppPools.Group, HpaCalculation.Decision> d : decisions.entrySet()) {
            HpaCalculation.Decision decision = d.getValue();
            if (decision.rescale()) {
                if (AppPools.has(app.getSpec())) {
                    spec.setPools(i, spec.getPools(i).toBuilder().setReplicas(decision.desired()));
                } else {
                    spec.setReplicas(decision.desired());
                }
                records.add(ScalingRecord.newBuilder().setTime(Joiner.timestamp(now)).setPool(d.getKey().pool())
                        .setFromReplicas(decision.current()).setToReplicas(decision.desired()).setReason(decision.reason()).build());
            }
            i++;
        }
        App scaled = app.toBuilder().setSpec(spec).setMetadata(app.getMetadata().toBuilder()
                .setGeneration(app.getMetadata().getGeneration() + 1).setResourceVersion(0)).build();
        List<ScalingRecord> history = new ArrayList<>(records);
        history.addAll(status.getHistoryList());
        status.clearHistory().addAllHistory(history.subList(0, Math.min(HISTORY_LIMIT, history.size())))
                .setLastScaleTime(Joiner.timestamp(now));
        AutoscalerStatus written = withConditions(status, conditions, autoscaler.getStatus(), now);
        Autoscaler withStatus = autoscaler.toBuilder().setStatus(written).build();
        String key = Keys.autoscaler(ns, name);
        try {
            var revision = quotas.update(appEntry.key(), scaled, appEntry,
                    List.of(leader.fence(), new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(entry.modRevision()))),
                    List.of(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(withStatus.toByteArray()), PutOption.DEFAULT)));
            if (revision.isEmpty()) {
                return new WorkQueue.RequeueAfter(RETRY); // the App, the Autoscaler or the leadership moved: look again
            }
            ownAppWrites.put(appEntry.key(), revision.getAsLong());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.ABORTED) {
                return new WorkQueue.RequeueAfter(RETRY);
            }
            // Over a quota (RESOURCE_EXHAUSTED) or a quota's required limits missing (INVALID_ARGUMENT): say so, try next period.
            String why = e.getStatus().getDescription();
            events.warning(reference(ns, name), "FailedRescale", "New size: " + status.getDesiredReplicas() + "; " + why, "");
            List<HpaCalculation.Condition> failed = new ArrayList<>(conditions);
            failed.removeIf(c -> c.type().equals("AbleToScale"));
            failed.add(new HpaCalculation.Condition("AbleToScale", false, "FailedUpdateScale", "the App could not be scaled: " + why));
            status.clearHistory().addAllHistory(autoscaler.getStatus().getHistoryList()).clearLastScaleTime()
                    .setDesiredReplicas(status.getCurrentReplicas());
            if (autoscaler.getStatus().hasLastScaleTime()) {
                status.setLastScaleTime(autoscaler.getStatus().getLastScaleTime()); // nothing was scaled
            }
            writeStatus(entry, status, failed, autoscaler.getStatus(), now);
            return new WorkQueue.RequeueAfter(config.syncPeriod());
        }
        for (Map.Entry<AppPools.Group, HpaCalculation.Decision> d : decisions.entrySet()) {
            HpaCalculation.Decision decision = d.getValue();
            if (decision.rescale()) {
                histories.computeIfAbsent(ns + "/" + name + "/" + d.getKey().pool(), k -> new HpaCalculation.History())
                        .recordScale(now, decision.current(), decision.desired());
                String pool = d.getKey().pool().isEmpty() ? "" : "pool " + d.getKey().pool() + ": ";
                events.record(Occurrence.of(EventLevel.INFO, reference(ns, name), "SuccessfulRescale",
                        pool + "New size: " + decision.desired() + "; reason: " + decision.reason(), "", EventRecorder.SOURCE, now));
                LOG.infof("autoscaler %s/%s: app %s %sfrom %d to %d replicas (%s)", ns, name, app.getMetadata().getName(), pool,
                        decision.current(), decision.desired(), decision.reason());
            }
        }
        return new WorkQueue.RequeueAfter(config.syncPeriod());
    }

    /** Replica usage read per node from the agents' metrics: replica -> container -> resource -> value. */
    private record Usage(Map<String, Map<String, Map<MetricTarget.Resource, Double>>> byReplica) {}

    private Usage usage(String ns, Map<String, Assignment> assigned, Instant now) {
        long oldest = now.minus(config.metricsMaxAge()).toEpochMilli();
        Set<String> nodes = new HashSet<>();
        assigned.values().forEach(a -> nodes.add(a.getNode()));
        Map<String, Map<String, Map<MetricTarget.Resource, Double>>> byReplica = new HashMap<>();
        for (String node : nodes) {
            for (StoredSeries s : metrics.store().ofNode(node, List.of(CPU_SERIES, MEMORY_SERIES))) {
                String replica = s.key().label("replica");
                Assignment a = assigned.get(replica);
                if (a == null || !a.getNode().equals(node) || !s.key().label("namespace").equals(ns) || s.newestMs() < oldest) {
                    continue; // another App's, a replica that moved, or stale
                }
                double value = s.latest();
                if (Double.isNaN(value)) {
                    continue;
                }
                MetricTarget.Resource resource = s.key().name().equals(CPU_SERIES) ? MetricTarget.Resource.CPU : MetricTarget.Resource.MEMORY;
                byReplica.computeIfAbsent(replica, r -> new HashMap<>()).computeIfAbsent(s.key().label("container"), c -> new HashMap<>())
                        .put(resource, value);
            }
        }
        return new Usage(byReplica);
    }

    /** One replica for the calculation; empty when it is to be ignored (finished: HPA ignores failed and succeeded pods). */
    private java.util.Optional<HpaCalculation.Replica> replica(String ns, String replica, Assignment assignment, List<String> containers,
                                                              List<MetricTarget> targets, Usage usage) {
        Entry<ReplicaStatus> status = caches.replicaStatuses().get(Keys.replicaStatus(ns, replica));
        if (status != null && (status.value().getPhase() == ReplicaStatus.Phase.FAILED
                || status.value().getPhase() == ReplicaStatus.Phase.SUCCEEDED)) {
            return java.util.Optional.empty();
        }
        NodeStatus.Phase nodePhase = NodeStatus.Phase.PHASE_UNSPECIFIED;
        if (assignment != null) {
            Entry<Node> node = caches.nodes().get(Keys.node(assignment.getNode()));
            nodePhase = node == null ? NodeStatus.Phase.PHASE_UNSPECIFIED : node.value().getStatus().getPhase();
        }
        boolean unreachable = nodePhase == NodeStatus.Phase.UNREACHABLE;
        boolean ready = status != null && nodePhase == NodeStatus.Phase.READY && status.value().getPhase() == ReplicaStatus.Phase.RUNNING
                && status.value().getReady() && assignment != null && status.value().getNode().equals(assignment.getNode());
        Map<MetricTarget.Resource, Double> used = new HashMap<>();
        Map<String, Map<MetricTarget.Resource, Double>> ofReplica = usage.byReplica().getOrDefault(replica, Map.of());
        for (MetricTarget t : targets) {
            double sum = 0;
            boolean all = !containers.isEmpty() && !unreachable;
            for (String c : containers) {
                Double v = ofReplica.getOrDefault(c, Map.of()).get(t.getResource());
                all &= v != null;
                sum += v == null ? 0 : v;
            }
            if (all) {
                used.put(t.getResource(), sum); // a replica's usage counts only with every container's
            }
        }
        return java.util.Optional.of(new HpaCalculation.Replica(replica, ready, unreachable, used));
    }

    private static Live live(Map<AppPools.Group, HpaCalculation.Decision> decisions) {
        Map<String, List<MetricStatus>> pools = new LinkedHashMap<>();
        Map<MetricTarget.Resource, double[]> total = new LinkedHashMap<>(); // resource -> {utilization sum, value sum, groups}
        for (Map.Entry<AppPools.Group, HpaCalculation.Decision> d : decisions.entrySet()) {
            List<MetricStatus> list = new ArrayList<>();
            for (HpaCalculation.Proposal p : d.getValue().proposals()) {
                if (p.error() != null) {
                    continue;
                }
                list.add(MetricStatus.newBuilder().setResource(p.resource()).setCurrentAverageUtilization(p.utilization())
                        .setCurrentAverageValue(p.averageValue()).build());
                double[] t = total.computeIfAbsent(p.resource(), r -> new double[3]);
                t[0] += p.utilization();
                t[1] += p.averageValue();
                t[2]++;
            }
            pools.put(d.getKey().pool(), list);
        }
        List<MetricStatus> all = new ArrayList<>();
        total.forEach((r, t) -> all.add(MetricStatus.newBuilder().setResource(r).setCurrentAverageUtilization((int) Math.round(t[0] / t[2]))
                .setCurrentAverageValue(t[1] / t[2]).build()));
        return new Live(all, pools);
    }

    /** One condition per type over the groups: a false one wins (named by its pool), else the first. */
    private static List<HpaCalculation.Condition> merged(Map<AppPools.Group, HpaCalculation.Decision> decisions) {
        Map<String, HpaCalculation.Condition> byType = new LinkedHashMap<>();
        boolean pools = decisions.size() > 1 || decisions.keySet().stream().anyMatch(g -> !g.pool().isEmpty());
        for (Map.Entry<AppPools.Group, HpaCalculation.Decision> d : decisions.entrySet()) {
            for (HpaCalculation.Condition c : d.getValue().conditions()) {
                HpaCalculation.Condition named = pools ? new HpaCalculation.Condition(c.type(), c.status(), c.reason(),
                        "pool " + d.getKey().pool() + ": " + c.message()) : c;
                HpaCalculation.Condition held = byType.get(c.type());
                if (held == null || (notable(c) && !notable(held))) {
                    byType.put(c.type(), named);
                }
            }
        }
        return List.copyOf(byType.values());
    }

    /** What an operator must see first: a false AbleToScale or ScalingActive, a true ScalingLimited. */
    private static boolean notable(HpaCalculation.Condition c) {
        return "ScalingLimited".equals(c.type()) ? c.status() : !c.status();
    }

    private static AutoscalerStatus withConditions(AutoscalerStatus.Builder status, List<HpaCalculation.Condition> conditions,
                                                   AutoscalerStatus old, Instant now) {
        Map<String, AutoscalerCondition> before = new HashMap<>();
        old.getConditionsList().forEach(c -> before.put(c.getType(), c));
        status.clearConditions();
        for (HpaCalculation.Condition c : conditions) {
            String value = c.status() ? "True" : "False";
            AutoscalerCondition previous = before.get(c.type());
            Timestamp since = previous != null && previous.getStatus().equals(value) ? previous.getLastTransitionTime() : Joiner.timestamp(now);
            status.addConditions(AutoscalerCondition.newBuilder().setType(c.type()).setStatus(value).setReason(c.reason())
                    .setMessage(c.message().length() > 512 ? c.message().substring(0, 509) + "..." : c.message()).setLastTransitionTime(since));
        }
        return status.build();
    }

    /** Writes the status when it changed (fenced, guarded on the Autoscaler's revision: an API update in between wins). */
    private void writeStatus(Entry<Autoscaler> entry, AutoscalerStatus.Builder status, List<HpaCalculation.Condition> conditions,
                             AutoscalerStatus old, Instant now) throws Exception {
        AutoscalerStatus next = withConditions(status, conditions, old, now);
        if (next.equals(old)) {
            return;
        }
        String key = entry.key();
        try {
            writer.commit(List.of(Write.put(key, entry.value().toBuilder().setStatus(next).build().toByteArray())),
                    List.of(leader.fence(), new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(entry.modRevision()))))
                    .get(COMMIT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TxnWriter.GuardFailed)) {
                throw e;
            } // changed meanwhile (an update wakes it again) or no longer leader
        }
    }

    private void forget(String key) {
        live.remove(key);
        histories.keySet().removeIf(k -> k.startsWith(key + "/"));
    }

    private static ObjectReference reference(String ns, String name) {
        return ObjectReference.newBuilder().setKind("Autoscaler").setNamespace(ns).setName(name).build();
    }

    /** The Autoscaler with what this process measured at its last evaluation (nothing on a non-leader). */
    public Autoscaler withLiveStatus(Autoscaler autoscaler) {
        Live l = live.get(key(autoscaler));
        if (l == null) {
            return autoscaler;
        }
        AutoscalerStatus.Builder status = autoscaler.getStatus().toBuilder().clearCurrentMetrics().addAllCurrentMetrics(l.total());
        for (int i = 0; i < status.getPoolsCount(); i++) {
            PoolScalingStatus p = status.getPools(i);
            status.setPools(i, p.toBuilder().clearCurrentMetrics().addAllCurrentMetrics(l.pools().getOrDefault(p.getName(), List.of())));
        }
        return autoscaler.toBuilder().setStatus(status).build();
    }

    /** Nothing queued or being reconciled now (the delayed evaluations do not count: they never stop). */
    public boolean idle() {
        WorkQueue<String> q = queue;
        return q == null || q.depth() + q.inProgress() == 0;
    }
}
