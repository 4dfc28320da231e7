package dev.edgeplane.agent.metrics;

import dev.edgeplane.api.v1.MetricKind;
import java.util.Collections;
import java.util.SortedMap;
import java.util.TreeMap;

/** One time series: a name from docs/metrics.md, its labels (sorted, so equal series are equal) and its kind. */
public record Series(String name, SortedMap<String, String> labels, MetricKind kind) {
    public Series {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a series needs a name");
        }
        labels = Collections.unmodifiableSortedMap(new TreeMap<>(labels));
    }

    public static Series gauge(String name, String... labelPairs) {
        return new Series(name, pairs(labelPairs), MetricKind.GAUGE);
    }

    public static Series counter(String name, String... labelPairs) {
        return new Series(name, pairs(labelPairs), MetricKind.COUNTER);
    }

    private static SortedMap<String, String> pairs(String... labelPairs) {
        if (labelPairs.length % 2 != 0) {
            throw new IllegalArgumentException("labels come in name, value pairs");
        }
        SortedMap<String, String> labels = new TreeMap<>();
        for (int i = 0; i < labelPairs.length; i += 2) {
            labels.put(labelPairs[i], labelPairs[i + 1]);
        }
        return labels;
    }
}
