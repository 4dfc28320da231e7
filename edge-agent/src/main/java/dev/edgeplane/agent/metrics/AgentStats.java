package dev.edgeplane.agent.metrics;

import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * What the agent's own parts tell metrics about themselves: the sync client reports the link going
 * up and down and the revisions it was told of and applied, pod workers their reconcile durations,
 * buffers their lengths and drops. Thread-safe; every hook is cheap (no I/O, no allocation worth
 * mentioning), so it can sit on hot paths.
 */
public final class AgentStats {
    private final LongSupplier nanoTime;
    private final Object link = new Object();
    private boolean up;
    private long since;
    private long connectedNanos;
    private long disconnectedNanos;
    private long offlineEpisodes;
    private final AtomicLong toldRevision = new AtomicLong();
    private final AtomicLong appliedRevision = new AtomicLong();
    private final Object reconcile = new Object();
    private double lastReconcileSeconds = -1;
    private double maxReconcileSeconds = -1;
    private final Map<String, LongSupplier> queues = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> dropped = new ConcurrentHashMap<>();
    private final Map<String, LongSupplier> observedSources = new ConcurrentHashMap<>();
    private final Map<String, long[]> observed = new ConcurrentHashMap<>();

    public AgentStats(LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
        this.since = nanoTime.getAsLong();
    }

    public static AgentStats system() {
        return new AgentStats(System::nanoTime);
    }

    /** A Sync stream is live (the server answered on it). */
    public void linkUp() {
        synchronized (link) {
            if (!up) {
                long now = nanoTime.getAsLong();
                disconnectedNanos += now - since;
                since = now;
                up = true;
            }
        }
    }

    /** The Sync stream is gone: one more offline episode if it had been up. */
    public void linkDown() {
        synchronized (link) {
            if (up) {
                long now = nanoTime.getAsLong();
                connectedNanos += now - since;
                since = now;
                up = false;
                offlineEpisodes++;
            }
        }
    }

    public boolean up() {
        synchronized (link) {
            return up;
        }
    }

    /** The control plane sent changes up to this revision. */
    public void toldRevision(long revision) {
        toldRevision.accumulateAndGet(revision, Math::max);
    }

    /** This revision is applied (journalled) and acked. */
    public void appliedRevision(long revision) {
        appliedRevision.accumulateAndGet(revision, Math::max);
    }

    public void reconciled(Duration took) {
        double seconds = took.toNanos() / 1e9;
        synchronized (reconcile) {
            lastReconcileSeconds = seconds;
            maxReconcileSeconds = Math.max(maxReconcileSeconds, seconds);
        }
    }

    /** A buffer whose length is agent_queue_length{queue=name}. */
    public void queue(String name, LongSupplier length) {
        queues.put(name, length);
    }

    /** Counts n messages of a kind (events, metrics) dropped from a full buffer. */
    public void dropped(String kind, long n) {
        if (n > 0) {
            dropped.computeIfAbsent(kind, k -> new AtomicLong()).addAndGet(n);
        }
    }

    /**
     * Counts drops of a buffer that only tells how many it dropped since it last reported them (the
     * event spool): every increase is a drop; a decrease means it reported, so the new figure is new drops.
     * Read once per sampling pass, so drops reported between two passes can be missed.
     */
    public void droppedObserved(String kind, LongSupplier notYetReported) {
        observed.put(kind, new long[1]);
        observedSources.put(kind, notYetReported);
    }

    /** Adds the agent_* link, sync, queue, drop and reconcile series (the max is per sampling interval). */
    void collect(Samples out) {
        synchronized (link) {
            long now = nanoTime.getAsLong();
            long open = now - since;
            // Milliseconds: exact decimals on the wire (a byte or two a sample, not a double's eight).
            out.counter("agent_connected_seconds_total", ((connectedNanos + (up ? open : 0)) / 1_000_000) / 1e3);
            out.counter("agent_disconnected_seconds_total", ((disconnectedNanos + (up ? 0 : open)) / 1_000_000) / 1e3);
            out.counter("agent_offline_episodes_total", offlineEpisodes);
        }
        out.gauge("agent_sync_lag_revisions", Math.max(0, toldRevision.get() - appliedRevision.get()));
        new TreeMap<>(queues).forEach((name, length) -> out.gauge("agent_queue_length", length.getAsLong(), "queue", name));
        observedSources.forEach((kind, source) -> {
            long now = source.getAsLong();
            long[] last = observed.get(kind);
            dropped(kind, now >= last[0] ? now - last[0] : now);
            last[0] = now;
        });
        for (String kind : new String[] {"events", "metrics"}) {
            dropped.computeIfAbsent(kind, k -> new AtomicLong());
        }
        new TreeMap<>(dropped).forEach((kind, n) -> out.counter("agent_messages_dropped_total", n.get(), "kind", kind));
        synchronized (reconcile) {
            if (lastReconcileSeconds >= 0) {
                out.gauge("agent_reconcile_duration_seconds", lastReconcileSeconds, "stat", "last");
                out.gauge("agent_reconcile_duration_seconds", maxReconcileSeconds, "stat", "max");
            }
            maxReconcileSeconds = lastReconcileSeconds;
        }
    }
}
