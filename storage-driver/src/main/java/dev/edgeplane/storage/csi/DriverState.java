package dev.edgeplane.storage.csi;

import dev.edgeplane.storage.StorageDriverConfig;
import dev.edgeplane.storage.backend.Backend;
import dev.edgeplane.storage.metadata.BackendKind;
import dev.edgeplane.storage.metadata.MetadataStore;
import dev.edgeplane.storage.metadata.Phase;
import dev.edgeplane.storage.metadata.SnapshotRecord;
import dev.edgeplane.storage.metadata.VolumeRecord;
import dev.edgeplane.storage.mount.Mounter;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/** What the Controller and Node services share: metadata, backends, per-object locks. */
public final class DriverState {
    final StorageDriverConfig config;
    final MetadataStore store;
    final Map<BackendKind, Backend> backends;
    final OperationLocks locks = new OperationLocks();
    final Mounter mounter;
    final Validation validation;
    /** Serialises capacity decisions so two creates cannot both take the last free bytes. */
    final Object capacityLock = new Object();

    public DriverState(StorageDriverConfig config, MetadataStore store, Map<BackendKind, Backend> backends,
                       Mounter mounter) {
        this.config = config;
        this.store = store;
        this.backends = new EnumMap<>(backends);
        this.mounter = mounter;
        List<Path> protectedDirs = new ArrayList<>(List.of(config.stateDir(), config.loopfsDir()));
        if (config.btrfsPool() != null) {
            protectedDirs.add(config.btrfsPool());
        }
        this.validation = new Validation(protectedDirs);
    }

    Backend backend(BackendKind kind) {
        Backend b = backends.get(kind);
        if (b == null) {
            throw Errors.invalid("parameters.backend", kind.parameterValue() + " is not configured on this node");
        }
        return b;
    }

    /** Bytes this driver has promised out of a backend's pool (volumes' sizes, loopfs snapshot copies). */
    long allocatedBytes(BackendKind kind) {
        Backend b = backend(kind);
        long total = 0;
        for (VolumeRecord v : store.volumes()) {
            if (v.backend() == kind) {
                total += v.capacityBytes();
            }
        }
        for (SnapshotRecord s : store.snapshots()) {
            if (s.backend() == kind && s.phase() != Phase.DELETING) {
                total += b.snapshotAllocatedBytes(s);
            }
        }
        return total;
    }
}
