package dev.edgeplane.controlplane.nodes;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.NodeStorage;
import dev.edgeplane.api.v1.StorageBackend;
import org.junit.jupiter.api.Test;

/** What an agent may say about its storage (Heartbeat.storage): bounded, or ignored with what was recorded kept. */
class NodeStorageReportTest {
    private static StorageBackend loopfs() {
        return StorageBackend.newBuilder().setName("loopfs").addFsTypes("ext4").addFsTypes("xfs")
                .setTotalBytes(80L << 30).setFreeBytes(60L << 30).build();
    }

    @Test
    void aReportAsAnAgentSendsItIsAccepted() {
        assertTrue(NodeStatuses.storageWellFormed(NodeStorage.newBuilder().addBackends(loopfs())
                .addBackends(StorageBackend.newBuilder().setName("btrfs").addFsTypes("btrfs").setTotalBytes(1L << 30)).build()));
        assertTrue(NodeStatuses.storageWellFormed(NodeStorage.getDefaultInstance()), "no backend: nothing to serve");
    }

    @Test
    void tooManyOrTooLongOrNegativeIsRefused() {
        NodeStorage.Builder many = NodeStorage.newBuilder();
        for (int i = 0; i <= NodeStatuses.MAX_STORAGE_BACKENDS; i++) {
            many.addBackends(loopfs().toBuilder().setName("b" + i));
        }
        assertFalse(NodeStatuses.storageWellFormed(many.build()), "more backends than " + NodeStatuses.MAX_STORAGE_BACKENDS);
        assertFalse(NodeStatuses.storageWellFormed(one(loopfs().toBuilder().setName("x".repeat(NodeStatuses.MAX_STORAGE_NAME + 1)))));
        assertFalse(NodeStatuses.storageWellFormed(one(loopfs().toBuilder().setName(""))), "a backend has a name");
        StorageBackend.Builder fsTypes = loopfs().toBuilder().clearFsTypes();
        for (int i = 0; i <= NodeStatuses.MAX_FS_TYPES; i++) {
            fsTypes.addFsTypes("fs" + i);
        }
        assertFalse(NodeStatuses.storageWellFormed(one(fsTypes)), "more fs types than " + NodeStatuses.MAX_FS_TYPES);
        assertFalse(NodeStatuses.storageWellFormed(one(loopfs().toBuilder().addFsTypes(""))));
        assertFalse(NodeStatuses.storageWellFormed(one(loopfs().toBuilder().setFreeBytes(-1))));
        assertFalse(NodeStatuses.storageWellFormed(one(loopfs().toBuilder().setTotalBytes(-1))));
    }

    private static NodeStorage one(StorageBackend.Builder backend) {
        return NodeStorage.newBuilder().addBackends(backend).build();
    }
}
