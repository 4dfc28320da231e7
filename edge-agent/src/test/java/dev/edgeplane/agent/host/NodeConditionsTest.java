package dev.edgeplane.agent.host;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.api.v1.NodeCondition;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The node's conditions from this machine's real /proc/meminfo and disk, with thresholds that force each verdict. */
class NodeConditionsTest {
    @TempDir
    Path dir;

    private List<String> types(NodeConditions conditions) {
        return conditions.current().stream().map(NodeCondition::getType).toList();
    }

    @Test
    void eachConditionHoldsExactlyWhenItsThresholdIsCrossed() {
        assertEquals(List.of(), types(new NodeConditions(new NodeConditions.Thresholds(1, 1, dir), () -> true)),
                "1 byte of memory and 1 % of disk free: a healthy machine");
        assertEquals(List.of("MemoryPressure"), types(new NodeConditions(new NodeConditions.Thresholds(Long.MAX_VALUE, 0, dir), () -> true)));
        assertEquals(List.of("DiskPressure"), types(new NodeConditions(new NodeConditions.Thresholds(0, 101, dir), () -> true)));
        assertEquals(List.of("RuntimeUnreachable"), types(new NodeConditions(new NodeConditions.Thresholds(0, 0, dir), () -> false)));
    }

    @Test
    void aConditionThatHoldsReadsTheSameOnEveryLookSoItIsNotReportedAsAChange() {
        NodeConditions pressed = new NodeConditions(new NodeConditions.Thresholds(Long.MAX_VALUE, 101, dir), () -> false);
        assertEquals(pressed.current(), pressed.current());
        assertEquals("free space on " + dir + " below 101%", pressed.current().get(1).getMessage());
    }
}
