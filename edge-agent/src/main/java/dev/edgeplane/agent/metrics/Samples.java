package dev.edgeplane.agent.metrics;

import java.util.LinkedHashMap;
import java.util.Map;

/** Where collectors put one sampling pass's values. Not thread-safe: one pass, one thread. */
public final class Samples {
    private final Map<Series, Double> values = new LinkedHashMap<>();

    public void gauge(String name, double value, String... labelPairs) {
        put(Series.gauge(name, labelPairs), value);
    }

    public void counter(String name, double value, String... labelPairs) {
        put(Series.counter(name, labelPairs), value);
    }

    public void put(Series series, double value) {
        if (Double.isFinite(value)) { // NaN/inf would poison every average downstream
            values.put(series, value);
        }
    }

    public int size() {
        return values.size();
    }

    public Frame frame(long timeUnixMs) {
        return new Frame(timeUnixMs, values);
    }
}
