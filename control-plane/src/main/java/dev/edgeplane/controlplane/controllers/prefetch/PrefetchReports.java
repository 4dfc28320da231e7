package dev.edgeplane.controlplane.controllers.prefetch;

import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ImagePrefetchStatus;
import dev.edgeplane.api.v1.ImagePullReport;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * What agents report about their image_pull entries (StatusReport.image_pulls), folded into each
 * ImagePrefetch's status in batches: reports are kept in memory (the latest per prefetch and node)
 * and written once per {@link #FLUSH_PERIOD} per prefetch that has new ones, read-modify-write guarded
 * on the resource's mod_revision (the controller writes the same status: a lost race is retried at the
 * next flush). Never a write per report: a thousand nodes finishing in the same second are one write.
 * Runs on whichever replica holds the node's stream; the controller's leader need not be it.
 */
@ApplicationScoped
public class PrefetchReports {
    private static final Logger LOG = Logger.getLogger(PrefetchReports.class);
    static final Duration FLUSH_PERIOD = Duration.ofSeconds(1);
    /** Prefetches with unwritten reports; past this, new prefetches' reports wait for the agents' next full report. */
    private static final int MAX_PENDING_PREFETCHES = 10_000;

    private final EtcdStore store;
    private final StateCaches caches;
    private final Clock clock = Clock.systemUTC();
    /** "namespace/name" -> node -> the latest report not yet written. */
    private final Map<String, Map<String, ImagePullReport>> pending = new HashMap<>();
    private final ScheduledExecutorService flusher = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "edgeplane-prefetch-status");
        t.setDaemon(true);
        return t;
    });

    public PrefetchReports(EtcdStore store, StateCaches caches) {
        this.store = store;
        this.caches = caches;
        flusher.scheduleWithFixedDelay(this::flushQuietly, FLUSH_PERIOD.toMillis(), FLUSH_PERIOD.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Keeps the report's image pull part (the rest is NodeTracker's and VolumeReports'): only about the
     * prefetches the node has an entry for (a node reports on its own orders, nothing else).
     */
    public void report(String node, StatusReport report) {
        if (report.getImagePullsCount() == 0) {
            return;
        }
        synchronized (pending) {
            for (ImagePullReport r : report.getImagePullsList()) {
                String ns = r.getNamespace().isEmpty() ? "default" : r.getNamespace();
                if (caches.assignments().get(PrefetchTasks.key(node, ns, r.getName())) == null) {
                    LOG.debugf("image pull report of node %s about %s/%s ignored: no such entry of the node", node, ns, r.getName());
                    continue;
                }
                String key = ns + "/" + r.getName();
                Map<String, ImagePullReport> byNode = pending.get(key);
                if (byNode == null) {
                    if (pending.size() >= MAX_PENDING_PREFETCHES) {
                        LOG.warnf("image pull report of node %s about %s dropped: %d prefetches have unwritten reports", node, key, pending.size());
                        continue;
                    }
                    byNode = new HashMap<>();
                    pending.put(key, byNode);
                }
                byNode.put(node, r);
            }
        }
    }

    private void flushQuietly() {
        try {
            flush();
        } catch (RuntimeException e) {
            LOG.warnf("cannot record image pull reports: %s", e.getMessage());
        }
    }

    /** Writes what has been reported since the last flush: one guarded write per prefetch. */
    void flush() {
        Map<String, Map<String, ImagePullReport>> batch;
        synchronized (pending) {
            if (pending.isEmpty()) {
                return;
            }
            batch = new HashMap<>(pending);
            pending.clear();
        }
        for (Map.Entry<String, Map<String, ImagePullReport>> e : batch.entrySet()) {
            if (!write(e.getKey(), e.getValue())) {
                synchronized (pending) { // lost a race: again at the next flush, unless newer reports came meanwhile
                    Map<String, ImagePullReport> newer = pending.computeIfAbsent(e.getKey(), k -> new HashMap<>());
                    e.getValue().forEach(newer::putIfAbsent);
                }
            }
        }
    }

    /** False when the resource changed between read and write. */
    private boolean write(String prefetch, Map<String, ImagePullReport> reports) {
        int slash = prefetch.indexOf('/');
        String key = Keys.imagePrefetch(prefetch.substring(0, slash), prefetch.substring(slash + 1));
        Optional<Entry<ImagePrefetch>> current = store.get(key, ImagePrefetch.parser());
        if (current.isEmpty()) {
            return true; // deleted: nothing to record
        }
        ImagePrefetch stored = current.get().value();
        java.time.Instant now = clock.instant();
        ImagePrefetchStatus folded = PrefetchStatuses.withReports(stored, reports, now);
        if (folded.equals(stored.getStatus())) {
            return true;
        }
        ImagePrefetchStatus settled = PrefetchStatuses.settle(folded, stored.getStatus().getPhase() != ImagePrefetchStatus.Phase.PENDING,
                PrefetchStatuses.deadline(stored), now);
        ImagePrefetch next = stored.toBuilder().setStatus(settled).build();
        boolean written = store.update(key, next.toByteArray(), current.get().modRevision()).isPresent();
        if (written && settled.getPhase() != stored.getStatus().getPhase()) {
            LOG.infof("image prefetch %s: %s (%s)", prefetch, settled.getPhase(), settled.getMessage());
        }
        return written;
    }

    void stop(@Observes ShutdownEvent event) {
        flusher.shutdown();
        try {
            if (!flusher.awaitTermination(5, TimeUnit.SECONDS)) {
                flusher.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            flusher.shutdownNow();
        } catch (RejectedExecutionException e) {
            // already stopped
        }
    }
}
