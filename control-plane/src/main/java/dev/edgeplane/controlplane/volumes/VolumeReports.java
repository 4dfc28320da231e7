package dev.edgeplane.controlplane.volumes;

import dev.edgeplane.api.PolicySnapshots;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PolicySnapshotOrigin;
import dev.edgeplane.api.v1.VolumeSnapshotSpec;
import dev.edgeplane.controlplane.api.Validation;

import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import dev.edgeplane.api.v1.ObjectReference;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeReport;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotReport;
import dev.edgeplane.api.v1.VolumeSnapshotStatus;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.time.Clock;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.jboss.logging.Logger;

/**
 * What agents report about the volumes and snapshots on their nodes (StatusReport.volumes and
 * .snapshots), written into Volume.status.node_status and VolumeSnapshot.status. Only the node a
 * resource is bound to may report on it, and only about the resource with the uid it was told
 * (never an older one of the same name). Writes compare mod_revision (the scheduler writes the
 * rest of a Volume's status) and happen only when something changed, on one thread, in order.
 * A DELETING volume reported DELETED is removed, with its node's volume task ({@link VolumeTasks}).
 */
@ApplicationScoped
public class VolumeReports {
    private static final Logger LOG = Logger.getLogger(VolumeReports.class);
    private static final int ATTEMPTS = 5;

    private final EtcdStore store;
    private final EventRecorder events;
    private final Clock clock = Clock.systemUTC();
    private final ExecutorService writer = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "edgeplane-volume-status");
        t.setDaemon(true);
        return t;
    });

    public VolumeReports(EtcdStore store, EventRecorder events) {
        this.store = store;
        this.events = events;
    }

    /** Queues the report's volume and snapshot parts (replicas are NodeTracker's). */
    public void report(String node, StatusReport report) {
        if (report.getVolumesCount() == 0 && report.getSnapshotsCount() == 0) {
            return;
        }
        try {
            writer.execute(() -> {
                try {
                    apply(node, report);
                } catch (RuntimeException e) {
                    LOG.warnf("cannot record volume reports of node %s: %s", node, e.getMessage());
                }
            });
        } catch (RejectedExecutionException e) {
            LOG.debug("volume report dropped: shutting down");
        }
    }

    void apply(String node, StatusReport report) {
        for (VolumeReport r : report.getVolumesList()) {
            String ns = r.getNamespace().isEmpty() ? "default" : r.getNamespace();
            if (r.getStatus().getState() == VolumeNodeStatus.State.DELETED && finishDeletion(node, ns, r)) {
                continue;
            }
            Optional<Volume> before = store.get(Keys.volume(ns, r.getName()), Volume.parser()).map(Entry::value);
            Optional<Volume> written = update(Keys.volume(ns, r.getName()), Volume.parser(), v -> withReport(node, r, v, clock));
            if (written.isPresent()) {
                VolumeNodeStatus s = written.get().getStatus().getNodeStatus();
                if (!s.getMessage().isEmpty()) {
                    events.warning(EventRecorder.volume(ns, r.getName()), "VolumeFailed", s.getMessage(), node);
                }
                resizeEvent(ns, r.getName(), node, before.map(Volume::getStatus).orElse(VolumeStatus.getDefaultInstance()),
                        written.get().getStatus());
                removeExpandOrderIfDone(written.get());
            }
        }
        for (VolumeSnapshotReport r : report.getSnapshotsList()) {
            String ns = r.getNamespace().isEmpty() ? "default" : r.getNamespace();
            if (r.hasPolicy() && !filePolicySnapshot(node, ns, r)) {
                continue;
            }
            Optional<VolumeSnapshot> before = store.get(Keys.volumeSnapshot(ns, r.getName()), VolumeSnapshot.parser()).map(Entry::value);
            Optional<VolumeSnapshot> written = update(Keys.volumeSnapshot(ns, r.getName()), VolumeSnapshot.parser(),
                    s -> withReport(node, r, s));
            if (written.isPresent()) {
                ObjectReference ref = ObjectReference.newBuilder().setKind("VolumeSnapshot").setNamespace(ns).setName(r.getName()).build();
                VolumeSnapshotStatus s = written.get().getStatus();
                if (s.getReadyToUse() && !before.map(b -> b.getStatus().getReadyToUse()).orElse(false)) {
                    LOG.infof("volume snapshot %s/%s ready on node %s (%s, %d bytes)", ns, r.getName(), node, s.getSnapshotId(), s.getSizeBytes());
                    events.info(ref, "SnapshotReady", "taken as " + s.getSnapshotId() + " (" + s.getSizeBytes() + " bytes)", node);
                } else if (!r.getError().isEmpty()) {
                    events.warning(ref, "SnapshotFailed", r.getError(), node);
                }
            }
        }
    }

    /** Kubernetes' resize events: VolumeResizeFailed, FileSystemResizePending, VolumeResizeSuccessful. */
    private void resizeEvent(String ns, String name, String node, VolumeStatus before, VolumeStatus after) {
        if (before.getResizeState() == after.getResizeState() && before.getResizeMessage().equals(after.getResizeMessage())) {
            return;
        }
        ObjectReference ref = EventRecorder.volume(ns, name);
        switch (after.getResizeState()) {
            case FAILED -> events.warning(ref, "VolumeResizeFailed", after.getResizeMessage(), node);
            case FILESYSTEM_RESIZE_PENDING -> events.info(ref, "FileSystemResizePending", after.getResizeMessage(), node);
            case NONE -> {
                if (before.getResizeState() != VolumeStatus.ResizeState.NONE) {
                    events.info(ref, "VolumeResizeSuccessful", "grown to " + after.getCapacityBytes() + " bytes", node);
                }
            }
            default -> { }
        }
    }

    /**
     * The node has grown the volume as far as its EXPAND order asked: the order goes, compared on its own
     * mod_revision (a newer order of a larger size, or a deletion, written meanwhile stays).
     */
    private void removeExpandOrderIfDone(Volume volume) {
        if (volume.getStatus().getNode().isEmpty()) {
            return;
        }
        String key = VolumeTasks.key(volume);
        Optional<Entry<dev.edgeplane.api.v1.Assignment>> order = store.get(key, dev.edgeplane.api.v1.Assignment.parser());
        if (order.isEmpty() || !order.get().value().getVolumeTask().getUid().equals(volume.getMetadata().getUid())
                || !VolumeResize.done(order.get().value().getVolumeTask(), volume)) {
            return;
        }
        TxnResponse response = store.await(store.client().getKVClient().txn()
                .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(order.get().modRevision())))
                .Then(Op.delete(EtcdStore.bytes(key), DeleteOption.DEFAULT)).commit(), "delete " + key);
        if (response.isSucceeded()) {
            LOG.infof("volume %s/%s grown to %d bytes on node %s: its order is done", volume.getMetadata().getNamespace(),
                    volume.getMetadata().getName(), volume.getStatus().getAllocatedBytes(), volume.getStatus().getNode());
        }
    }

    /**
     * A snapshot a policy took (or pruned) on the node: creates its VolumeSnapshot the first time it is
     * reported, removes it once reported deleted; true when the report should then be applied to the
     * resource's status as any snapshot report. Idempotent: name and uid derive from policy, volume and
     * slot ({@link PolicySnapshots}), so a report repeated after a reconnect finds its resource. Only
     * the node holding the volume may file one.
     */
    private boolean filePolicySnapshot(String node, String ns, VolumeSnapshotReport r) {
        PolicySnapshotOrigin origin = r.getPolicy();
        if (!Validation.isDnsLabel(ns) || !Validation.isDnsLabel(origin.getPolicy()) || !Validation.isDnsLabel(origin.getVolume())
                || !origin.hasScheduledTime()) {
            LOG.warnf("node %s reported a malformed policy snapshot %s/%s: ignored", node, ns, r.getName());
            return false;
        }
        java.time.Instant slot = Joiner.toInstant(origin.getScheduledTime());
        if (!r.getName().equals(PolicySnapshots.name(origin.getPolicy(), origin.getVolume(), slot))
                || !r.getUid().equals(PolicySnapshots.uid(origin.getPolicyUid(), origin.getVolume(), slot))) {
            LOG.warnf("node %s reported policy snapshot %s/%s under a name or uid not derived from its policy: ignored", node, ns, r.getName());
            return false;
        }
        String key = Keys.volumeSnapshot(ns, r.getName());
        Optional<Entry<VolumeSnapshot>> current = store.get(key, VolumeSnapshot.parser());
        ObjectReference ref = ObjectReference.newBuilder().setKind("VolumeSnapshot").setNamespace(ns).setName(r.getName()).build();
        if (r.getDeleted()) {
            if (current.isPresent() && current.get().value().getMetadata().getUid().equals(r.getUid())
                    && node.equals(current.get().value().getStatus().getNode())) {
                TxnResponse response = store.await(store.client().getKVClient().txn()
                        .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(current.get().modRevision())))
                        .Then(Op.delete(EtcdStore.bytes(key), DeleteOption.DEFAULT)).commit(), "delete " + key);
                if (response.isSucceeded()) {
                    LOG.infof("volume snapshot %s/%s pruned on node %s by policy %s; resource removed", ns, r.getName(), node,
                            origin.getPolicy());
                    events.info(ref, "SnapshotPruned", "deleted on node " + node + " under policy " + origin.getPolicy(), node);
                }
            }
            return false;
        }
        if (current.isPresent()) {
            return true; // filed before: its status follows the report
        }
        Optional<Volume> volume = store.get(Keys.volume(ns, origin.getVolume()), Volume.parser()).map(Entry::value);
        if (volume.isEmpty() || !node.equals(volume.get().getStatus().getNode())) {
            LOG.warnf("node %s reported policy snapshot %s/%s of volume %s, which is not on that node: ignored", node, ns, r.getName(),
                    origin.getVolume());
            return false;
        }
        VolumeSnapshot created = VolumeSnapshot.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName(r.getName()).setUid(r.getUid())
                        .setCreateTime(Joiner.timestamp(clock.instant())).setGeneration(1)
                        .putLabels(PolicySnapshots.POLICY_LABEL, origin.getPolicy())
                        .putLabels(PolicySnapshots.VOLUME_LABEL, origin.getVolume()))
                .setSpec(VolumeSnapshotSpec.newBuilder().setVolume(origin.getVolume()).setPolicy(origin.getPolicy()))
                .setStatus(VolumeSnapshotStatus.newBuilder().setNode(node).setScheduledTime(origin.getScheduledTime())
                        .setStorageClass(origin.getStorageClass().isEmpty() ? volume.get().getSpec().getStorageClass()
                                : origin.getStorageClass())
                        .setMessage("being taken on node " + node))
                .build();
        if (store.create(key, created.toByteArray()).isPresent()) {
            LOG.infof("volume snapshot %s/%s taken on node %s by policy %s for %s", ns, r.getName(), node, origin.getPolicy(), slot);
        }
        return true;
    }

    /**
     * The node deleted a DELETING volume on its order: the Volume and the node's volume task go in one
     * transaction (compared on the Volume's mod_revision). False when the report is not about that.
     */
    private boolean finishDeletion(String node, String ns, VolumeReport report) {
        String key = Keys.volume(ns, report.getName());
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            Optional<Entry<Volume>> current = store.get(key, Volume.parser());
            if (current.isEmpty()) {
                return true; // already removed (a report repeated after a reconnect)
            }
            Volume volume = current.get().value();
            if (volume.getStatus().getPhase() != VolumeStatus.Phase.DELETING
                    || !volume.getMetadata().getUid().equals(report.getUid()) || !node.equals(volume.getStatus().getNode())) {
                return false;
            }
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(current.get().modRevision())))
                    .Then(Op.delete(EtcdStore.bytes(key), DeleteOption.DEFAULT),
                            Op.delete(EtcdStore.bytes(VolumeTasks.key(volume)), DeleteOption.DEFAULT))
                    .commit(), "delete " + key);
            if (response.isSucceeded()) {
                LOG.infof("volume %s/%s deleted on node %s; resource removed", ns, report.getName(), node);
                events.info(EventRecorder.volume(ns, report.getName()), "VolumeDeleted",
                        "deleted on node " + node + " (" + report.getStatus().getVolumeId() + ")", node);
                return true;
            }
        }
        LOG.warnf("could not remove deleted volume %s: it kept changing", key);
        return true;
    }

    /** The volume with the node's report applied, or empty when the report does not apply or changes nothing. */
    static Optional<Volume> withReport(String node, VolumeReport report, Volume current, Clock clock) {
        if (!current.getMetadata().getUid().equals(report.getUid()) || !node.equals(current.getStatus().getNode())) {
            return Optional.empty();
        }
        VolumeNodeStatus reported = report.getStatus();
        VolumeNodeStatus old = current.getStatus().getNodeStatus();
        if (old.toBuilder().clearUpdateTime().build().equals(reported.toBuilder().clearUpdateTime().build())) {
            return Optional.empty();
        }
        if (!reported.hasUpdateTime()) {
            reported = reported.toBuilder().setUpdateTime(Joiner.timestamp(clock.instant())).build();
        }
        return Optional.of(current.toBuilder().setStatus(VolumeResize.derive(current.getSpec().getSizeBytes(),
                current.getStatus().toBuilder().setNodeStatus(reported).build())).build());
    }

    /** The snapshot with the node's report applied, or empty when the report does not apply or changes nothing. */
    static Optional<VolumeSnapshot> withReport(String node, VolumeSnapshotReport report, VolumeSnapshot current) {
        if (!current.getMetadata().getUid().equals(report.getUid()) || !node.equals(current.getStatus().getNode())) {
            return Optional.empty();
        }
        VolumeSnapshotStatus.Builder status = current.getStatus().toBuilder()
                .setReadyToUse(report.getReadyToUse())
                .setSnapshotId(report.getSnapshotId())
                .setSizeBytes(report.getSizeBytes())
                .setMessage(!report.getError().isEmpty() ? report.getError()
                        : report.getReadyToUse() ? "" : "being taken on node " + node);
        if (report.hasCreationTime()) {
            status.setCreationTime(report.getCreationTime());
        } else {
            status.clearCreationTime();
        }
        VolumeSnapshotStatus next = status.build();
        return next.equals(current.getStatus()) ? Optional.empty()
                : Optional.of(current.toBuilder().setStatus(next).build());
    }

    /** Read-modify-write guarded on mod_revision; the value written, or empty when nothing was. */
    private <T extends Message> Optional<T> update(String key, Parser<T> parser, Function<T, Optional<T>> change) {
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            Optional<Entry<T>> current = store.get(key, parser);
            if (current.isEmpty()) {
                return Optional.empty(); // deleted meanwhile: nothing to record
            }
            Optional<T> next = change.apply(current.get().value());
            if (next.isEmpty()) {
                return Optional.empty();
            }
            if (store.update(key, next.get().toByteArray(), current.get().modRevision()).isPresent()) {
                return next;
            }
        }
        LOG.warnf("could not record the node's report on %s: it kept changing", key);
        return Optional.empty();
    }

    void stop(@Observes ShutdownEvent event) {
        writer.shutdown();
        try {
            if (!writer.awaitTermination(5, TimeUnit.SECONDS)) {
                writer.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            writer.shutdownNow();
        }
    }
}
