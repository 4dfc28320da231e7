package dev.edgeplane.storage.csi;

import dev.edgeplane.csi.v1.CapacityRange;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class SizingTest {
    private static final long MIB = 1024 * 1024;

    private static CapacityRange range(long required, long limit) {
        return CapacityRange.newBuilder().setRequiredBytes(required).setLimitBytes(limit).build();
    }

    @Test
    void roundsUpToMiBRespectsMinimumAndLimit() {
        assertEquals(1024 * MIB, ControllerService.size(null, 16 * MIB));
        assertEquals(17 * MIB, ControllerService.size(range(16 * MIB + 1, 0), 16 * MIB));
        assertEquals(16 * MIB, ControllerService.size(range(MIB, 0), 16 * MIB));
        assertEquals(400 * MIB, ControllerService.size(range(0, 400 * MIB), 300 * MIB));
        assertEquals(1024 * MIB, ControllerService.size(range(0, 4096 * MIB), 16 * MIB));
        for (CapacityRange bad : List.of(range(0, 0), range(-1, 0), range(10 * MIB, 5 * MIB), range(MIB, 2 * MIB))) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> ControllerService.size(bad, 16 * MIB));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        }
    }

    @Test
    void pagesByIdAndRejectsForeignTokens() {
        List<String> ids = List.of("vol-c", "vol-a", "vol-b");
        var first = ControllerService.Page.of(ids, s -> s, 2, "");
        assertEquals(List.of("vol-a", "vol-b"), first.items());
        var second = ControllerService.Page.of(ids, s -> s, 2, first.nextToken());
        assertEquals(List.of("vol-c"), second.items());
        assertEquals("", second.nextToken());
        assertEquals(Status.Code.ABORTED, assertThrows(StatusRuntimeException.class,
                () -> ControllerService.Page.of(ids, s -> s, 2, "../x")).getStatus().getCode());
    }
}
