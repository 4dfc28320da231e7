package dev.edgeplane.api;

import dev.edgeplane.api.v1.NodeStorage;
import dev.edgeplane.api.v1.StorageBackend;

/**
 * When a node's storage report is news (shared by the agent, which sends a heartbeat early for it, and
 * the control plane, which writes NodeStatus.storage only then): a backend or fs type came or went, or
 * a pool's size or free bytes moved by 1% of the pool (at least 16 MiB). Free bytes change
 * with every volume; the step keeps a busy node to a few writes, and placement's view at most a step
 * stale (the driver refuses what does not fit anyway).
 */
public final class StorageReports {
    /** The smallest move of free bytes that is news. */
    public static final long STEP_BYTES = 16L << 20;

    private StorageReports() {}

    /** @param before what was last sent or recorded, null for nothing */
    public static boolean moved(NodeStorage before, NodeStorage after) {
        if (before == null || before.getBackendsCount() != after.getBackendsCount()) {
            return true;
        }
        for (int i = 0; i < after.getBackendsCount(); i++) {
            StorageBackend was = before.getBackends(i);
            StorageBackend is = after.getBackends(i);
            if (!was.getName().equals(is.getName()) || !was.getFsTypesList().equals(is.getFsTypesList())) {
                return true;
            }
            // A loopfs pool on the host's filesystem grows and shrinks with everything else on it: sizes move by steps too.
            long step = Math.max(STEP_BYTES, is.getTotalBytes() / 100);
            if (Math.abs(was.getFreeBytes() - is.getFreeBytes()) >= step || Math.abs(was.getTotalBytes() - is.getTotalBytes()) >= step) {
                return true;
            }
        }
        return false;
    }
}
