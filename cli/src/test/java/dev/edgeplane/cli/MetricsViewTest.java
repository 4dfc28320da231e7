package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.edgeplane.api.v1.LabelMatcher;
import org.junit.jupiter.api.Test;

class MetricsViewTest {
    private static LabelMatcher m(String name, LabelMatcher.Op op, String value) {
        return LabelMatcher.newBuilder().setName(name).setOp(op).setValue(value).build();
    }

    @Test
    void matchersFromTheCommandLine() {
        assertEquals(m("node", LabelMatcher.Op.EQUAL, "edge-1"), MetricsView.matcher("node=edge-1"));
        assertEquals(m("app", LabelMatcher.Op.NOT_EQUAL, "web"), MetricsView.matcher("app!=web"));
        assertEquals(m("node", LabelMatcher.Op.REGEX, "edge-.*"), MetricsView.matcher("node=~edge-.*"));
        assertEquals(m("container", LabelMatcher.Op.NOT_REGEX, "side=car"), MetricsView.matcher("container!~side=car"));
        assertEquals(m("mount", LabelMatcher.Op.EQUAL, ""), MetricsView.matcher("mount="));
        assertThrows(UsageException.class, () -> MetricsView.matcher("node"));
        assertThrows(UsageException.class, () -> MetricsView.matcher("=edge-1"));
    }

    @Test
    void numbersForPeople() {
        assertEquals("250m", MetricsView.cores(0.25));
        assertEquals("1.50", MetricsView.cores(1.5));
        assertEquals("<unknown>", MetricsView.cores(Double.NaN));
        assertEquals("512Mi", MetricsView.bytes(512.0 * 1024 * 1024));
        assertEquals("3.2Gi", MetricsView.bytes(3.2 * 1024 * 1024 * 1024));
        assertEquals("900", MetricsView.bytes(900));
        assertEquals("25%", MetricsView.percent(1, 4));
        assertEquals("123456789012", MetricsView.number(123456789012.0));
        assertEquals("0.125", MetricsView.number(0.125));
        assertEquals("3.14159", MetricsView.number(Math.PI));
    }
}
