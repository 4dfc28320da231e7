package dev.edgeplane.controlplane.metrics;

import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

/**
 * A series' identity: its name and its labels (node included), kept as one flat array of interned
 * strings sorted by label name, so that a key costs a few dozen bytes and compares cheaply.
 */
public final class SeriesKey implements Comparable<SeriesKey> {
    private final String name;
    /** name0, value0, name1, value1, ... sorted by label name. */
    private final String[] labels;
    private final int hash;

    private SeriesKey(String name, String[] labels) {
        this.name = name;
        this.labels = labels;
        this.hash = 31 * name.hashCode() + Arrays.hashCode(labels);
    }

    public static SeriesKey of(String name, Map<String, String> labels) {
        return of(name, labels, s -> s);
    }

    static SeriesKey of(String name, Map<String, String> labels, java.util.function.UnaryOperator<String> intern) {
        TreeMap<String, String> sorted = new TreeMap<>(labels);
        String[] flat = new String[sorted.size() * 2];
        int i = 0;
        for (Map.Entry<String, String> label : sorted.entrySet()) {
            flat[i++] = intern.apply(label.getKey());
            flat[i++] = intern.apply(label.getValue());
        }
        return new SeriesKey(intern.apply(name), flat);
    }

    public String name() {
        return name;
    }

    /** The label's value, or "" when the series has no such label (as Prometheus treats it). */
    public String label(String labelName) {
        for (int i = 0; i < labels.length; i += 2) {
            if (labels[i].equals(labelName)) {
                return labels[i + 1];
            }
        }
        return "";
    }

    public Map<String, String> labels() {
        TreeMap<String, String> map = new TreeMap<>();
        for (int i = 0; i < labels.length; i += 2) {
            map.put(labels[i], labels[i + 1]);
        }
        return map;
    }

    public String node() {
        return label(MetricsStore.NODE_LABEL);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SeriesKey other && hash == other.hash && name.equals(other.name) && Arrays.equals(labels, other.labels);
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public int compareTo(SeriesKey other) {
        int c = name.compareTo(other.name);
        for (int i = 0; c == 0 && i < Math.min(labels.length, other.labels.length); i++) {
            c = labels[i].compareTo(other.labels[i]);
        }
        return c != 0 ? c : Integer.compare(labels.length, other.labels.length);
    }

    /** Prometheus-style: {@code name{a="1",b="2"}}; also the ListSeries page token. */
    @Override
    public String toString() {
        StringBuilder s = new StringBuilder(name).append('{');
        for (int i = 0; i < labels.length; i += 2) {
            s.append(i == 0 ? "" : ",").append(labels[i]).append("=\"")
                    .append(labels[i + 1].replace("\\", "\\\\").replace("\"", "\\\"")).append('"');
        }
        return s.append('}').toString();
    }
}
