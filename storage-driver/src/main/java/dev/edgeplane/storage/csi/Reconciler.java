package dev.edgeplane.storage.csi;

import dev.edgeplane.storage.backend.Backend;
import dev.edgeplane.storage.metadata.Phase;
import dev.edgeplane.storage.metadata.Publication;
import dev.edgeplane.storage.metadata.SnapshotRecord;
import dev.edgeplane.storage.metadata.VolumeRecord;
import dev.edgeplane.storage.mount.MountEntry;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;

/**
 * Runs once at start, before the socket is served: makes metadata and the host agree again.
 * <ul>
 *   <li>Staged filesystems are thawed (a crash mid-snapshot leaves them frozen).</li>
 *   <li>PENDING creates (volume, snapshot) are rolled back; DELETING ones are finished.</li>
 *   <li>PENDING stage/publish (the driver died between recording intent and confirming) are undone:
 *       their mounts are removed and the CO's retry redoes them from a clean state.</li>
 *   <li>DONE stage/publish whose mount vanished (host reboot) are mounted again; any path with a
 *       mount stacked twice is brought back to one.</li>
 *   <li>Each backend then releases what no record needs (loopfs: leaked loop devices).</li>
 * </ul>
 */
public final class Reconciler {
    private static final Logger LOG = Logger.getLogger(Reconciler.class.getName());
    private final DriverState state;

    public Reconciler(DriverState state) {
        this.state = state;
    }

    public void run() {
        // First of all: a crash between fsfreeze --freeze and --unfreeze (loopfs snapshot) leaves
        // writers, and even umount, blocked on that filesystem until someone thaws it.
        for (VolumeRecord v : state.store.volumes()) {
            if (v.staging() != null && state.mounter.isMounted(Path.of(v.staging().stagingPath()))) {
                state.mounter.thaw(Path.of(v.staging().stagingPath()));
            }
        }
        for (SnapshotRecord s : state.store.snapshots()) {
            Backend b = state.backends.get(s.backend());
            if (b == null) {
                LOG.warning("snapshot " + s.id() + " needs backend " + s.backend() + ", which is not configured");
            } else if (s.phase() != Phase.DONE) {
                b.deleteSnapshot(s);
                state.store.removeSnapshot(s.id());
                LOG.info(() -> "rolled back unfinished snapshot " + s.id() + " (" + s.phase() + ")");
            }
        }
        Map<dev.edgeplane.storage.metadata.BackendKind, List<VolumeRecord>> byBackend =
                new EnumMap<>(dev.edgeplane.storage.metadata.BackendKind.class);
        for (VolumeRecord v : state.store.volumes()) {
            Backend b = state.backends.get(v.backend());
            if (b == null) {
                LOG.warning("volume " + v.id() + " needs backend " + v.backend() + ", which is not configured");
                continue;
            }
            VolumeRecord now = v;
            try {
                now = reconcile(b, v);
            } catch (RuntimeException e) {
                LOG.warning("cannot reconcile volume " + v.id() + ": " + e.getMessage());
            }
            if (now != null) {
                byBackend.computeIfAbsent(v.backend(), k -> new ArrayList<>()).add(now);
            }
        }
        for (Map.Entry<dev.edgeplane.storage.metadata.BackendKind, Backend> e : state.backends.entrySet()) {
            e.getValue().reconcile(byBackend.getOrDefault(e.getKey(), List.of()));
        }
    }

    /** Returns the volume's record as it now stands, or null when it no longer exists. */
    private VolumeRecord reconcile(Backend b, VolumeRecord v) {
        if (v.phase() != Phase.DONE && !v.inUseOnNode()) {
            b.deleteVolume(v);
            state.store.removeVolume(v.id());
            LOG.info(() -> "rolled back unfinished volume " + v.id() + " (" + v.phase() + ")");
            return null;
        }
        VolumeRecord r = v;
        // Unfinished publications first: they sit on top of the staging mount.
        for (Publication p : v.publications()) {
            Path target = Path.of(p.targetPath());
            if (p.phase() != Phase.DONE) {
                unmountOurs(b, r, target);
                r = r.withoutPublication(p.targetPath());
                LOG.info(() -> "undid unfinished publish of " + v.id() + " at " + target);
            } else {
                state.mounter.unmountExtra(target);
            }
        }
        if (r.staging() != null) {
            Path staging = Path.of(r.staging().stagingPath());
            if (r.staging().phase() != Phase.DONE && r.publications().isEmpty()) {
                b.unstage(r, staging);
                r = r.withStaging(null);
                LOG.info(() -> "undid unfinished stage of " + v.id() + " at " + staging);
            } else {
                state.mounter.unmountExtra(staging);
                if (!state.mounter.isMounted(staging)) {
                    LOG.info(() -> "staging mount of " + v.id() + " is gone; mounting it again at " + staging);
                    if (b.stage(r, staging, List.of()) && r.fsResizePending()) {
                        r = r.withCapacity(r.capacityBytes(), false);
                    }
                }
            }
        }
        for (Publication p : r.publications()) {
            Path target = Path.of(p.targetPath());
            if (r.staging() != null && !state.mounter.isMounted(target)) {
                if (Files.isDirectory(target)) {
                    LOG.info(() -> "publish mount of " + v.id() + " at " + target + " is gone; binding it again");
                    state.mounter.bind(Path.of(r.staging().stagingPath()), target, p.readOnly());
                } else {
                    r = r.withoutPublication(p.targetPath());
                }
            }
        }
        if (!r.equals(v)) {
            state.store.put(r);
        }
        return r;
    }

    private void unmountOurs(Backend b, VolumeRecord v, Path target) {
        List<MountEntry> mounts = state.mounter.table().at(target);
        if (mounts.stream().allMatch(m -> b.isVolumeMount(v, m))) {
            state.mounter.unmountAll(target);
        } else {
            LOG.warning(target + " holds a mount that is not volume " + v.id() + "; leaving it");
        }
    }
}
