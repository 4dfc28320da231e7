package dev.edgeplane.agent.metrics;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** The values of many series at one instant (a SampleFrame before series get wire ids). */
public record Frame(long timeUnixMs, Map<Series, Double> values) {
    public Frame {
        values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }
}
