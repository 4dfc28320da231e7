package dev.edgeplane.api;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.NodeStorage;
import dev.edgeplane.api.v1.StorageBackend;
import org.junit.jupiter.api.Test;

/** Pure: which storage reports are news worth a write. */
class StorageReportsTest {
    private static final long GIB = 1L << 30;
    private static final long MIB = 1L << 20;

    static NodeStorage storage(long total, long free, String... fsTypes) {
        return NodeStorage.newBuilder().addBackends(StorageBackend.newBuilder().setName("loopfs").addAllFsTypes(java.util.List.of(fsTypes))
                .setTotalBytes(total).setFreeBytes(free)).build();
    }

    @Test
    void theFirstReportIsNews() {
        assertTrue(StorageReports.moved(null, storage(10 * GIB, 5 * GIB, "ext4")));
    }

    @Test
    void freeBytesMovingLessThanAStepAreNot() {
        NodeStorage before = storage(10 * GIB, 5 * GIB, "ext4");
        assertFalse(StorageReports.moved(before, storage(10 * GIB, 5 * GIB - 50 * MIB, "ext4")), "under 1% of 10 GiB");
        assertTrue(StorageReports.moved(before, storage(10 * GIB, 5 * GIB - 200 * MIB, "ext4")), "over 1% of 10 GiB");
        assertTrue(StorageReports.moved(storage(GIB, 512 * MIB, "ext4"), storage(GIB, 490 * MIB, "ext4")), "a small pool: 16 MiB is a step");
        assertTrue(StorageReports.moved(before, storage(11 * GIB, 5 * GIB, "ext4")), "the pool grew by a step");
    }

    @Test
    void aBackendOrFilesystemComingOrGoingIsNews() {
        NodeStorage before = storage(10 * GIB, 5 * GIB, "ext4");
        assertTrue(StorageReports.moved(before, storage(10 * GIB, 5 * GIB, "ext4", "xfs")));
        assertTrue(StorageReports.moved(before, NodeStorage.getDefaultInstance()));
    }
}
