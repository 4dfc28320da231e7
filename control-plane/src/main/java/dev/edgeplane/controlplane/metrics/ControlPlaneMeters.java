package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.controlplane.nodes.NodeTracker;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.sync.AgentEndpoint;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.interceptor.Interceptor;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * The control plane's own meters on /metrics (Micrometer, Prometheus text format): connected agents,
 * the Sync fan-out time, the metrics store's counts, and the fleet gauges (nodes and replicas by phase,
 * per-node CPU and memory as latest values). Per-node gauges are capped at
 * {@code edgeplane.metrics.prometheus-max-nodes} nodes (the first by name, so the set is stable); the
 * rest are left out and counted in {@code edgeplane_fleet_node_gauges_omitted}. The per-object gauges
 * the alerting rules read are {@link FleetObjectGauges}, refreshed on the same thread.
 */
@ApplicationScoped
public class ControlPlaneMeters {
    private static final Logger LOG = Logger.getLogger(ControlPlaneMeters.class);
    static final String NODE_CPU = "node_cpu_usage_cores";
    static final String NODE_MEMORY = "node_memory_used_bytes";

    private final MeterRegistry registry;
    private final StateCaches caches;
    private final NodeTracker tracker;
    private final AgentMetrics metrics;
    private final FleetObjectGauges objects;
    private final int maxNodes;
    private final MultiGauge nodeCpu;
    private final MultiGauge nodeMemory;
    private final Timer fanout;
    /** Set by the listener before the fan-out, read by the one after it (same watch thread). */
    private final ThreadLocal<Long> fanoutStarted = new ThreadLocal<>();
    private volatile int omittedNodes;
    private final AgentEndpoint endpoint;
    private ScheduledExecutorService refresher;

    public ControlPlaneMeters(MeterRegistry registry, StateCaches caches, NodeTracker tracker, AgentMetrics metrics,
                              FleetObjectGauges objects, AgentEndpoint endpoint) {
        this.registry = registry;
        this.endpoint = endpoint;
        this.objects = objects;
        this.caches = caches;
        this.tracker = tracker;
        this.metrics = metrics;
        this.maxNodes = metrics.config().prometheusMaxNodes();
        this.nodeCpu = MultiGauge.builder("edgeplane.fleet.node.cpu.usage.cores")
                .description("CPU cores busy on the node (latest reported node_cpu_usage_cores)").register(registry);
        this.nodeMemory = MultiGauge.builder("edgeplane.fleet.node.memory.used.bytes")
                .description("Memory in use on the node (latest reported node_memory_used_bytes)").baseUnit("bytes").register(registry);
        this.fanout = Timer.builder("edgeplane.sync.fanout")
                .description("From a watch response on the assignments prefix reaching this process to its Changes being handed to every connected agent's Sync stream")
                .publishPercentiles(0.5, 0.99)
                .register(registry);
    }

    /**
     * Brackets the assignments cache's listeners: the first mark is taken before the Sync fan-out
     * (AssignmentIndex subscribes in ControlPlane's start), the second after it.
     */
    void beforeFanout(@Observes @Priority(Interceptor.Priority.PLATFORM_BEFORE) StartupEvent event) {
        caches.assignments().subscribe(new PrefixCache.Listener<>() {
            @Override
            public void onEvents(List<PrefixCache.Event<Assignment>> events, long revision) {
                fanoutStarted.set(System.nanoTime());
            }
        });
    }

    void afterFanout(@Observes @Priority(Interceptor.Priority.LIBRARY_AFTER + 1000) StartupEvent event) {
        caches.assignments().subscribe(new PrefixCache.Listener<>() {
            @Override
            public void onEvents(List<PrefixCache.Event<Assignment>> events, long revision) {
                Long at = fanoutStarted.get();
                if (at != null) {
                    fanout.record(System.nanoTime() - at, TimeUnit.NANOSECONDS);
                    fanoutStarted.remove();
                }
            }
        });
        register();
        refresher = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "edgeplane-fleet-gauges");
            t.setDaemon(true);
            return t;
        });
        long every = metrics.config().prometheusRefreshInterval().toMillis();
        refresher.scheduleWithFixedDelay(this::refreshNodeGauges, 0, every, TimeUnit.MILLISECONDS);
        refresher.scheduleWithFixedDelay(this::refreshObjectGauges, 0, every, TimeUnit.MILLISECONDS);
    }

    private void register() {
        Gauge.builder("edgeplane.agents.connected", this, m -> m.connectedAgents())
                .description("Nodes with a live Sync stream on this control plane").register(registry);
        FunctionCounter.builder("edgeplane.agent.tls.sessions.resumed", endpoint, e -> e.sessionTickets().resumed())
                .description("Agent connections that resumed a TLS session from a ticket (no certificate signatures)").register(registry);
        FunctionCounter.builder("edgeplane.agent.tls.tickets.issued", endpoint, e -> e.sessionTickets().issued())
                .description("TLS session tickets issued to agents (each handshake, full or resumed, gets some)").register(registry);
        FunctionCounter.builder("edgeplane.agent.handshakes", endpoint, e -> e.gate().handshakes())
                .description("Agent connections whose TLS handshake ended after the handshake gate let them start").register(registry);
        FunctionCounter.builder("edgeplane.agent.handshakes.expired", endpoint, e -> e.gate().expired())
                .description("Agent connections closed unread: they waited too long for a TLS handshake slot").register(registry);
        FunctionCounter.builder("edgeplane.agent.handshakes.stalled", endpoint, e -> e.gate().stalled())
                .description("Agent TLS handshakes that gave their slot up unfinished: their clients were quiet too long").register(registry);
        FunctionCounter.builder("edgeplane.agent.accept.pauses", endpoint, e -> e.gate().acceptPauses())
                .description("Times the agent endpoint stopped accepting (handshake queue full or descriptors spent)").register(registry);
        Gauge.builder("edgeplane.agent.handshakes.waiting", endpoint, e -> e.gate().waiting())
                .description("Agent connections waiting, unread, for a TLS handshake slot").register(registry);
        for (NodeStatus.Phase phase : NodeStatus.Phase.values()) {
            if (phase != NodeStatus.Phase.UNRECOGNIZED) {
                Gauge.builder("edgeplane.fleet.nodes", this, m -> m.nodesIn(phase)).tag("phase", phase.name())
                        .description("Nodes by phase").register(registry);
            }
        }
        for (ReplicaStatus.Phase phase : ReplicaStatus.Phase.values()) {
            if (phase != ReplicaStatus.Phase.UNRECOGNIZED) {
                Gauge.builder("edgeplane.fleet.replicas", this, m -> m.replicasIn(phase)).tag("phase", phase.name())
                        .description("Replicas by their last reported phase").register(registry);
            }
        }
        Gauge.builder("edgeplane.fleet.node.gauges.omitted", this, m -> m.omittedNodes)
                .description("Nodes left out of the per-node gauges (over edgeplane.metrics.prometheus-max-nodes)").register(registry);
        MetricsStore store = metrics.store();
        MetricsReceiver.ReceiverCounters receiver = metrics.receiverCounters();
        Gauge.builder("edgeplane.metrics.series", store, MetricsStore::seriesCount)
                .description("Agent metric series held in memory").register(registry);
        Gauge.builder("edgeplane.metrics.series.limit", store, s -> s.settings().maxSeries())
                .description("edgeplane.metrics.max-series").register(registry);
        Gauge.builder("edgeplane.metrics.streams", receiver, MetricsReceiver.ReceiverCounters::openStreams)
                .description("Open ReportMetrics streams").register(registry);
        FunctionCounter.builder("edgeplane.metrics.batches", receiver, MetricsReceiver.ReceiverCounters::batches)
                .description("Metric batches stored and acked").register(registry);
        FunctionCounter.builder("edgeplane.metrics.batches.invalid", receiver, MetricsReceiver.ReceiverCounters::invalidBatches)
                .description("Malformed metric batches (the stream ended with INVALID_ARGUMENT)").register(registry);
        FunctionCounter.builder("edgeplane.metrics.points.ingested", store, MetricsStore::pointsStored)
                .description("Agent metric points stored").register(registry);
        FunctionCounter.builder("edgeplane.metrics.points.refused", store, MetricsStore::pointsRefused).tags(Tags.of("reason", "series_limit"))
                .description("Agent metric points not stored").register(registry);
        FunctionCounter.builder("edgeplane.metrics.points.refused", store, MetricsStore::pointsTooOld).tags(Tags.of("reason", "too_old"))
                .description("Agent metric points not stored").register(registry);
        FunctionCounter.builder("edgeplane.metrics.points.refused", receiver, MetricsReceiver.ReceiverCounters::pointsFromTheFuture).tags(Tags.of("reason", "future"))
                .description("Agent metric points not stored").register(registry);
        FunctionCounter.builder("edgeplane.metrics.series.refused", store, MetricsStore::seriesRefused)
                .description("New series refused by edgeplane.metrics.max-series or max-series-per-node").register(registry);
        FunctionCounter.builder("edgeplane.metrics.series.evicted", store, MetricsStore::seriesEvicted)
                .description("Series evicted after no point for the longest tier's retention").register(registry);
    }

    private double connectedAgents() {
        int connected = 0;
        for (Entry<Node> node : caches.nodes().all()) {
            if (tracker.isConnected(Keys.suffix(node.key(), Keys.NODES))) {
                connected++;
            }
        }
        return connected;
    }

    private double nodesIn(NodeStatus.Phase phase) {
        return caches.nodes().all().stream().filter(e -> e.value().getStatus().getPhase() == phase).count();
    }

    private double replicasIn(ReplicaStatus.Phase phase) {
        return caches.replicaStatuses().all().stream().filter(e -> e.value().getPhase() == phase).count();
    }

    /** Latest CPU and memory per node from the metrics store, for at most maxNodes nodes. */
    void refreshNodeGauges() {
        try {
            Map<String, List<MultiGauge.Row<?>>> rows = Map.of(NODE_CPU, new ArrayList<>(), NODE_MEMORY, new ArrayList<>());
            List<StoredSeries> found = metrics.store().select(List.of(NODE_CPU, NODE_MEMORY), k -> true);
            found.sort(Comparator.comparing((StoredSeries s) -> s.key().node()));
            java.util.Set<String> nodes = new java.util.TreeSet<>();
            found.forEach(s -> nodes.add(s.key().node()));
            java.util.Set<String> shown = new java.util.HashSet<>(nodes.stream().limit(maxNodes).toList());
            for (StoredSeries s : found) {
                double latest = s.latest();
                if (shown.contains(s.key().node()) && !Double.isNaN(latest)) {
                    rows.get(s.key().name()).add(MultiGauge.Row.of(Tags.of("node", s.key().node()), latest));
                }
            }
            nodeCpu.register(rows.get(NODE_CPU), true);
            nodeMemory.register(rows.get(NODE_MEMORY), true);
            omittedNodes = nodes.size() - shown.size();
        } catch (RuntimeException e) {
            LOG.warn("refreshing the per-node gauges failed", e);
        }
    }

    private void refreshObjectGauges() {
        try {
            objects.refresh();
        } catch (RuntimeException e) {
            LOG.warn("refreshing the per-object gauges failed", e);
        }
    }

    void onStop(@Observes ShutdownEvent event) {
        if (refresher != null) {
            refresher.shutdownNow();
        }
    }
}
