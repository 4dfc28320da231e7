package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.v1.Node;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.time.Clock;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Owns the process's {@link MetricsStore}: drops the series of nodes deleted through the API (from
 * the nodes watch) and evicts stale series periodically.
 */
@ApplicationScoped
public class AgentMetrics {
    private static final Logger LOG = Logger.getLogger(AgentMetrics.class);

    private final MetricsStore store;
    private final MetricsReceiver.ReceiverCounters receiverCounters = new MetricsReceiver.ReceiverCounters();
    private final MetricsReceiver receiver;
    private final MetricsConfig config;
    private final StateCaches caches;
    private final Clock clock = Clock.systemUTC();
    private ScheduledExecutorService evictor;

    public AgentMetrics(MetricsConfig config, StateCaches caches, RemoteWriter remoteWriter) {
        this.config = config;
        this.caches = caches;
        List<Tier> tiers = Tier.parseAll(config.tiers());
        int maxSeries = config.maxSeries() > 0 ? config.maxSeries() : MetricsStore.defaultMaxSeries(tiers, Runtime.getRuntime().maxMemory());
        this.store = new MetricsStore(new MetricsStore.Settings(tiers, maxSeries, config.maxSeriesPerNode(), config.precisionBits()));
        this.receiver = new MetricsReceiver(store, clock, config.maxClockAhead(), receiverCounters, remoteWriter);
    }

    /** Serves AgentService.ReportMetrics streams into the store. */
    public MetricsReceiver receiver() {
        return receiver;
    }

    public MetricsReceiver.ReceiverCounters receiverCounters() {
        return receiverCounters;
    }

    public MetricsStore store() {
        return store;
    }

    public MetricsConfig config() {
        return config;
    }

    public Clock clock() {
        return clock;
    }

    void onStart(@Observes StartupEvent event) {
        caches.nodes().subscribe(new PrefixCache.Listener<>() {
            @Override
            public void onEvents(List<PrefixCache.Event<Node>> events, long revision) {
                for (PrefixCache.Event<Node> e : events) {
                    if (e instanceof PrefixCache.Delete<Node> delete) {
                        String node = Keys.suffix(delete.key(), Keys.NODES);
                        int dropped = store.dropNode(node);
                        if (dropped > 0) {
                            LOG.infof("node %s was deleted: dropped its %d metric series", node, dropped);
                        }
                    }
                }
            }

            @Override
            public void onReset(Map<String, Entry<Node>> state, long revision) {
                Set<String> names = new HashSet<>();
                state.keySet().forEach(k -> names.add(Keys.suffix(k, Keys.NODES)));
                store.retainNodes(names);
            }
        });
        evictor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "edgeplane-metrics-evictor");
            t.setDaemon(true);
            return t;
        });
        long every = config.evictionInterval().toMillis();
        evictor.scheduleWithFixedDelay(this::evict, every, every, TimeUnit.MILLISECONDS);
        LOG.infof("metrics store: tiers %s, at most %d series (%d per node; about %d bytes a series at full retention)", config.tiers(),
                store.settings().maxSeries(), config.maxSeriesPerNode(), MetricsStore.seriesBytesAtFullRetention(store.tiers()));
    }

    private void evict() {
        try {
            int evicted = store.evictStale(clock.millis());
            if (evicted > 0) {
                LOG.infof("evicted %d metric series with no point for %s", evicted, store.settings().longestRetention());
            }
        } catch (RuntimeException e) {
            LOG.error("metric series eviction failed", e);
        }
    }

    void onStop(@Observes ShutdownEvent event) {
        if (evictor != null) {
            evictor.shutdownNow();
        }
    }
}
