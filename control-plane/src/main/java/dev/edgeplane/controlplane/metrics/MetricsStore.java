package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.metrics.ValuePrecision;
import com.google.common.collect.Interner;
import com.google.common.collect.Interners;
import dev.edgeplane.api.v1.MetricKind;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Predicate;

/**
 * The agents' metrics in memory: one {@link StoredSeries} per (name, labels + node), indexed by node
 * only (for lookups, limits, node queries and dropping a deleted node). Bounded: at most
 * {@code maxSeries} series in all and {@code maxSeriesPerNode} per node; a series beyond that is
 * refused (and counted), never stored. Label strings are interned (weakly) because thousands of
 * series share the same names and values.
 */
public final class MetricsStore {
    public static final String NODE_LABEL = "node";

    /** Significant bits a gauge keeps unless configured ({@link MetricsConfig#precisionBits}): error at most 2^-12 = 0.024%. */
    public static final int DEFAULT_PRECISION_BITS = 12;

    /** Tiers finest first; limits on the number of series; significant bits of gauges (53 or more: lossless). */
    public record Settings(List<Tier> tiers, int maxSeries, int maxSeriesPerNode, int precisionBits) {
        public Settings {
            tiers = List.copyOf(tiers);
            if (tiers.isEmpty()) {
                throw new IllegalArgumentException("at least one tier is needed");
            }
            ValuePrecision.dropped(precisionBits); // checks the range
        }

        public Settings(List<Tier> tiers, int maxSeries, int maxSeriesPerNode) {
            this(tiers, maxSeries, maxSeriesPerNode, DEFAULT_PRECISION_BITS);
        }

        public Duration longestRetention() {
            return tiers.get(tiers.size() - 1).retention();
        }
    }

    /**
     * Heap a series costs besides its points (key, indexes, per-tier state, open chunks' spare room):
     * MetricsStoreBench's fixed_bytes_per_series at a week (865), rounded up.
     */
    static final int SERIES_OVERHEAD_BYTES = 900;
    /**
     * Encoded bytes per point of realistic agent series at the default precision, all tiers of a week
     * together (MetricsStoreBench: 1.6 raw 10 s, 0.72 at 1 min, 0.95 at 5 min; 0.81 over a week's
     * points), rounded up.
     */
    static final double BYTES_PER_POINT = 0.85;

    /** What one series costs when every tier is full (a week with the default tiers: ~4.6 KB, measured 4.4). */
    public static long seriesBytesAtFullRetention(List<Tier> tiers) {
        long points = 0;
        for (Tier tier : tiers) {
            // A tier keeps up to one chunk past its window.
            points += tier.slots() + TierSeries.Shape.of(tier, false).chunkPoints();
        }
        return SERIES_OVERHEAD_BYTES + (long) Math.ceil(points * BYTES_PER_POINT);
    }

    /**
     * The series limit when none is configured: as many series as fit in half of {@code maxHeapBytes}
     * at full retention (the other half is the rest of the control plane), at least 10,000.
     */
    public static int defaultMaxSeries(List<Tier> tiers, long maxHeapBytes) {
        return (int) Math.max(10_000, Math.min(Integer.MAX_VALUE, maxHeapBytes / 2 / seriesBytesAtFullRetention(tiers)));
    }

    private static final StoredSeries[] NONE = new StoredSeries[0];

    private final Settings settings;
    private final TierSeries.Shape[] shapes;
    /**
     * A node's series as an array replaced on every change (under {@link #membership}; series come
     * and go rarely): 4 bytes a series instead of a hash set's ~40. It is the only index: a key is
     * found among its node's few series, a name across the fleet by scanning every series (760,000
     * for 19,000 nodes: milliseconds, for queries and the 10-second Prometheus refresh), which saves
     * two hash entries (~90 bytes) a series.
     */
    private final Map<String, StoredSeries[]> byNode = new ConcurrentHashMap<>();
    private final Interner<String> strings = Interners.newWeakInterner();
    /** Creating and removing series (rare next to adding points) takes this lock so the limits hold exactly. */
    private final Object membership = new Object();
    /** Series in all; written under {@link #membership}. */
    private volatile int seriesCount;
    private final LongAdder pointsStored = new LongAdder();
    private final LongAdder pointsRefused = new LongAdder();
    private final LongAdder pointsTooOld = new LongAdder();
    private final LongAdder seriesRefused = new LongAdder();
    private final LongAdder seriesEvicted = new LongAdder();

    public MetricsStore(Settings settings) {
        this.settings = settings;
        this.shapes = new TierSeries.Shape[settings.tiers().size()];
        for (int i = 0; i < shapes.length; i++) {
            shapes[i] = TierSeries.Shape.of(settings.tiers().get(i), i == 0 && settings.tiers().get(i).keepsRawPoints(), settings.precisionBits());
        }
    }

    public Settings settings() {
        return settings;
    }

    public List<Tier> tiers() {
        return settings.tiers();
    }

    /** The key of a series an agent reports: its labels with {@code node} set from the certificate. */
    public SeriesKey key(String name, Map<String, String> labels, String node) {
        Map<String, String> all = new java.util.HashMap<>(labels);
        all.put(NODE_LABEL, node);
        return SeriesKey.of(name, all, strings::intern);
    }

    /** The series, created if the limits allow; null if refused (counted). */
    public StoredSeries seriesFor(SeriesKey key, MetricKind kind) {
        StoredSeries existing = find(byNode.get(key.node()), key);
        if (existing != null) {
            return existing;
        }
        synchronized (membership) {
            StoredSeries[] ofNode = byNode.get(key.node());
            existing = find(ofNode, key);
            if (existing != null) {
                return existing;
            }
            if (seriesCount >= settings.maxSeries() || (ofNode != null && ofNode.length >= settings.maxSeriesPerNode())) {
                seriesRefused.increment();
                return null;
            }
            StoredSeries created = new StoredSeries(key, kind == MetricKind.COUNTER ? MetricKind.COUNTER : MetricKind.GAUGE, shapes);
            seriesCount++;
            StoredSeries[] grown = ofNode == null ? new StoredSeries[1] : java.util.Arrays.copyOf(ofNode, ofNode.length + 1);
            grown[grown.length - 1] = created;
            byNode.put(key.node(), grown);
            return created;
        }
    }

    private static StoredSeries find(StoredSeries[] ofNode, SeriesKey key) {
        if (ofNode != null) {
            for (StoredSeries s : ofNode) {
                if (s.key().equals(key)) {
                    return s;
                }
            }
        }
        return null;
    }

    /** Stores one point of a series from {@link #seriesFor} (null: refused, only counted). */
    public void add(StoredSeries target, long timeMs, double value, boolean backfill) {
        if (target == null) {
            pointsRefused.increment();
        } else if (target.add(timeMs, value, backfill)) {
            pointsStored.increment();
        } else {
            pointsTooOld.increment();
        }
    }

    /** Forgets every series of a node (the node was deleted). */
    public int dropNode(String node) {
        synchronized (membership) {
            StoredSeries[] gone = byNode.remove(node);
            if (gone == null) {
                return 0;
            }
            for (StoredSeries s : gone) {
                s.markRemoved();
            }
            seriesCount -= gone.length;
            return gone.length;
        }
    }

    /** Forgets the series of every node not in {@code keep}. */
    public int retainNodes(Set<String> keep) {
        int dropped = 0;
        for (String node : List.copyOf(byNode.keySet())) {
            if (!keep.contains(node)) {
                dropped += dropNode(node);
            }
        }
        return dropped;
    }

    /** Evicts series with no point newer than the longest retention before {@code nowMs}. */
    public int evictStale(long nowMs) {
        long cutoff = nowMs - settings.longestRetention().toMillis();
        int evicted = 0;
        for (StoredSeries[] ofNode : byNode.values()) {
            for (StoredSeries s : ofNode) {
                if (s.newestMs() < cutoff) {
                    synchronized (membership) {
                        if (!s.removed() && s.newestMs() < cutoff && removeFromNode(s)) {
                            s.markRemoved();
                            seriesCount--;
                            evicted++;
                        }
                    }
                }
            }
        }
        seriesEvicted.add(evicted);
        return evicted;
    }

    /** Takes the series out of its node's array; false if it was not there. */
    private boolean removeFromNode(StoredSeries s) {
        StoredSeries[] ofNode = byNode.get(s.key().node());
        if (ofNode == null) {
            return false;
        }
        int at = java.util.Arrays.asList(ofNode).indexOf(s);
        if (at < 0) {
            return false;
        }
        StoredSeries[] kept = new StoredSeries[ofNode.length - 1];
        System.arraycopy(ofNode, 0, kept, 0, at);
        System.arraycopy(ofNode, at + 1, kept, at, kept.length - at);
        if (kept.length == 0) {
            byNode.remove(s.key().node());
        } else {
            byNode.put(s.key().node(), kept);
        }
        return true;
    }

    /**
     * Series whose name is in {@code names} (empty: any name) and whose key passes {@code matchers};
     * a query pinned to one node (node="x") reads only that node's series.
     */
    public List<StoredSeries> select(Collection<String> names, LabelMatchers matchers) {
        java.util.Optional<String> node = matchers.required(NODE_LABEL);
        if (node.isEmpty()) {
            return select(names, (Predicate<SeriesKey>) matchers);
        }
        Set<String> wanted = Set.copyOf(names);
        List<StoredSeries> found = new ArrayList<>();
        for (StoredSeries s : byNode.getOrDefault(node.get(), NONE)) {
            if ((wanted.isEmpty() || wanted.contains(s.key().name())) && matchers.test(s.key())) {
                found.add(s);
            }
        }
        return found;
    }

    /** One node's series whose name is in {@code names}: what a reader of a few replicas needs, without a pass over the fleet. */
    public List<StoredSeries> ofNode(String node, Collection<String> names) {
        List<StoredSeries> found = new ArrayList<>();
        for (StoredSeries s : byNode.getOrDefault(node, NONE)) {
            if (names.contains(s.key().name())) {
                found.add(s);
            }
        }
        return found;
    }

    /** Series whose name is in {@code names} (empty: any name) and whose key passes {@code filter}. */
    public List<StoredSeries> select(Collection<String> names, Predicate<SeriesKey> filter) {
        Set<String> wanted = Set.copyOf(names);
        List<StoredSeries> found = new ArrayList<>();
        for (StoredSeries[] ofNode : byNode.values()) {
            for (StoredSeries s : ofNode) {
                if ((wanted.isEmpty() || wanted.contains(s.key().name())) && filter.test(s.key())) {
                    found.add(s);
                }
            }
        }
        return found;
    }

    public int seriesCount() {
        return seriesCount;
    }

    public int seriesCount(String node) {
        StoredSeries[] ofNode = byNode.get(node);
        return ofNode == null ? 0 : ofNode.length;
    }

    public int nodeCount() {
        return byNode.size();
    }

    public long pointsStored() {
        return pointsStored.sum();
    }

    /** Points of refused series (over a limit). */
    public long pointsRefused() {
        return pointsRefused.sum();
    }

    /** Points older than every tier keeps. */
    public long pointsTooOld() {
        return pointsTooOld.sum();
    }

    public long seriesRefused() {
        return seriesRefused.sum();
    }

    public long seriesEvicted() {
        return seriesEvicted.sum();
    }
}
