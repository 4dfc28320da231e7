package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.CreateVolumeRequest;
import dev.edgeplane.api.v1.CreateVolumeSnapshotRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.DeleteVolumeRequest;
import dev.edgeplane.api.v1.DeleteVolumeSnapshotRequest;
import dev.edgeplane.api.v1.GetVolumeRequest;
import dev.edgeplane.api.v1.GetVolumeSnapshotRequest;
import dev.edgeplane.api.v1.ListVolumeSnapshotsRequest;
import dev.edgeplane.api.v1.ListVolumeSnapshotsResponse;
import dev.edgeplane.api.v1.ListVolumesRequest;
import dev.edgeplane.api.v1.ListVolumesResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.StorageClass;
import dev.edgeplane.api.v1.StorageClassSpec;
import dev.edgeplane.api.v1.UpdateVolumeRequest;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeServiceGrpc;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotStatus;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.quotas.StorageQuotas;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.scheduler.StorageFit;
import dev.edgeplane.controlplane.volumes.SnapshotTasks;
import dev.edgeplane.controlplane.volumes.StorageClasses;
import dev.edgeplane.controlplane.volumes.VolumeResize;
import dev.edgeplane.controlplane.volumes.VolumeTasks;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.PutOption;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import org.jboss.logging.Logger;

/**
 * VolumeService: Volumes at /edgeplane/volumes/&lt;ns&gt;/&lt;name&gt; and VolumeSnapshots at
 * /edgeplane/volumesnapshots/&lt;ns&gt;/&lt;name&gt;. The spec belongs to the caller; the status
 * (phase, bound node) to the platform: the scheduler binds a volume when it places its first consumer,
 * the node's agent reports what it did ({@link dev.edgeplane.controlplane.volumes.VolumeReports}).
 * A snapshot is taken by the node holding its volume: creating one also writes a task into that
 * node's desired state ({@link SnapshotTasks}), deleting one removes it. A volume created from a
 * snapshot is pinned to the snapshot's node and restored there on first use. Deleting a volume
 * bound to a node marks it DELETING and orders the node to delete its data ({@link VolumeTasks});
 * the resource goes when the node confirms.
 */
@GrpcService
@Blocking
public class VolumeApi extends VolumeServiceGrpc.VolumeServiceImplBase {
    private static final Logger LOG = Logger.getLogger(VolumeApi.class);
    /** A snapshot whose status the node keeps updating may change between check and delete a few times. */
    private static final int DELETE_ATTEMPTS = 5;

    private final EtcdStore store;
    private final StateCaches caches;
    private final ApiLimits limits;
    private final StorageQuotas quotas;
    private final StorageClasses storageClasses;

    public VolumeApi(EtcdStore store, StateCaches caches, dev.edgeplane.controlplane.ControlPlaneConfig config, StorageQuotas quotas,
                     StorageClasses storageClasses) {
        this.store = store;
        this.caches = caches;
        this.limits = ApiLimits.of(config.limits());
        this.quotas = quotas;
        this.storageClasses = storageClasses;
    }

    /**
     * Writes a Volume change (create or growth) within the namespace's storage quotas: RESOURCE_EXHAUSTED
     * naming the quota and its limit when it would take storage_bytes, volumes or (through the snapshot
     * policies selecting it) volume_snapshots over. {@code guards} are the write's own compares, e.g.
     * the volume's mod_revision as read; empty when they fail (nothing written).
     */
    OptionalLong writeVolumeWithinQuota(Volume volume, List<Cmp> guards, List<Op> ops) {
        TxnResponse response = quotas.commit(volume.getMetadata().getNamespace(), s -> s.withVolume(volume), guards, ops);
        return response.isSucceeded() ? OptionalLong.of(response.getHeader().getRevision()) : OptionalLong.empty();
    }

    private static String describe(String namespace, String name) {
        return "volume \"" + namespace + "/" + name + "\"";
    }

    private static Volume withVersion(Entry<Volume> entry) {
        return entry.value().toBuilder()
                .setMetadata(entry.value().getMetadata().toBuilder().setResourceVersion(entry.modRevision())).build();
    }

    static Validation validate(Volume volume, ApiLimits limits) {
        Validation v = new Validation();
        v.dnsLabel("volume.metadata.name", volume.getMetadata().getName());
        v.dnsLabel("volume.metadata.namespace", volume.getMetadata().getNamespace());
        v.labels("volume.metadata.labels", volume.getMetadata().getLabelsMap(), limits.maxLabels());
        v.annotations("volume.metadata.annotations", volume.getMetadata().getAnnotationsMap(), limits.maxAnnotationsBytes());
        VolumeSpec spec = volume.getSpec();
        if (spec.getSizeBytes() < StorageClasses.MIN_BYTES) {
            v.add("volume.spec.size_bytes", "must be at least " + StorageClasses.MIN_BYTES + " (16 MiB), got " + spec.getSizeBytes());
        } else if (spec.getSizeBytes() > VolumeResize.MAX_BYTES) {
            v.add("volume.spec.size_bytes", "must be at most " + VolumeResize.MAX_BYTES + " (16 TiB), got " + spec.getSizeBytes());
        }
        if (spec.getAccessMode() == VolumeSpec.AccessMode.UNRECOGNIZED) {
            v.add("volume.spec.access_mode", "unknown access mode");
        }
        if (spec.getReclaimPolicy() == VolumeSpec.ReclaimPolicy.UNRECOGNIZED) {
            v.add("volume.spec.reclaim_policy", "unknown reclaim policy");
        }
        return v;
    }

    /**
     * The Volume's storage class as stored now; an unknown one is a violation of spec.storage_class
     * (the caller throws). A known class fills in the reclaim policy the Volume leaves unspecified.
     */
    private Optional<StorageClass> storageClassOf(VolumeSpec.Builder spec, Validation v) {
        Optional<StorageClass> storageClass = storageClasses.read(spec.getStorageClass());
        if (storageClass.isEmpty()) {
            v.add("volume.spec.storage_class", "unknown storage class \"" + spec.getStorageClass() + "\" (known: "
                    + storageClasses.names() + ")");
        } else if (spec.getReclaimPolicy() == VolumeSpec.ReclaimPolicy.RECLAIM_POLICY_UNSPECIFIED) {
            spec.setReclaimPolicy(storageClass.get().getSpec().getReclaimPolicy());
        }
        if (spec.getReclaimPolicy() == VolumeSpec.ReclaimPolicy.RECLAIM_POLICY_UNSPECIFIED) {
            spec.setReclaimPolicy(VolumeSpec.ReclaimPolicy.RETAIN);
        }
        return storageClass;
    }

    /** Defaults filled in (the class left for {@link #storageClassOf}), status cleared: what a caller may set. */
    private static Volume normalise(Volume volume, String defaultClass) {
        VolumeSpec.Builder spec = volume.getSpec().toBuilder();
        if (spec.getStorageClass().isEmpty()) {
            spec.setStorageClass(defaultClass);
        }
        if (spec.getAccessMode() == VolumeSpec.AccessMode.ACCESS_MODE_UNSPECIFIED) {
            spec.setAccessMode(VolumeSpec.AccessMode.READ_WRITE_ONCE);
        }
        return volume.toBuilder()
                .setMetadata(volume.getMetadata().toBuilder().setNamespace(Calls.orDefault(volume.getMetadata().getNamespace())))
                .setSpec(spec).clearStatus().build();
    }

    @Override
    public void createVolume(CreateVolumeRequest request, StreamObserver<Volume> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Volume requested = request.getVolume();
            String ns = Calls.orDefault(requested.getMetadata().getNamespace());
            Optional<Entry<VolumeSnapshot>> source = sourceSnapshot(ns, requested.getSpec().getSourceSnapshot());
            if (source.isPresent()) {
                requested = withSnapshotDefaults(requested, source.get().value());
            }
            Volume normalised = normalise(requested, storageClasses.defaultName());
            Validation v = validate(normalised, limits);
            VolumeSpec.Builder withClass = normalised.getSpec().toBuilder();
            Optional<StorageClass> storageClass = storageClassOf(withClass, v);
            Volume volume = normalised.toBuilder().setSpec(withClass).build();
            source.ifPresent(snapshot -> validateRestore(v, volume, snapshot.value()));
            v.throwIfInvalid();
            ObjectMeta meta = volume.getMetadata().toBuilder().setUid(UUID.randomUUID().toString())
                    .setCreateTime(Joiner.timestamp(Instant.now())).setGeneration(1).setResourceVersion(0).build();
            VolumeStatus.Builder status = VolumeStatus.newBuilder().setPhase(VolumeStatus.Phase.PENDING)
                    .setMessage("waiting for its first consumer");
            source.ifPresent(snapshot -> status.setNode(snapshot.value().getStatus().getNode())
                    .setSourceSnapshotId(snapshot.value().getStatus().getSnapshotId())
                    .setMessage("restored from snapshot " + snapshot.value().getMetadata().getName() + " on node "
                            + snapshot.value().getStatus().getNode() + " when first used"));
            if (source.isEmpty() && storageClass.get().getSpec().getVolumeBindingMode() == StorageClassSpec.VolumeBindingMode.IMMEDIATE) {
                bindAtCreation(volume, storageClass.get(), status);
            }
            Volume stored = volume.toBuilder().setMetadata(meta).setStatus(status).build();
            String key = Keys.volume(meta.getNamespace(), meta.getName());
            OptionalLong revision = source.isEmpty()
                    ? writeVolumeWithinQuota(stored, List.of(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.version(0))),
                            List.of(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(stored.toByteArray()), PutOption.DEFAULT)))
                    : createGuarded(stored, key, stored.toByteArray(), source.get());
            if (revision.isEmpty()) {
                throw Calls.exists(describe(meta.getNamespace(), meta.getName()));
            }
            LOG.infof("created %s (%d bytes, %s)", describe(meta.getNamespace(), meta.getName()),
                    stored.getSpec().getSizeBytes(), stored.getSpec().getStorageClass());
            return withVersion(new Entry<>(key, stored, revision.getAsLong(), revision.getAsLong()));
        });
    }

    @Override
    public void getVolume(GetVolumeRequest request, StreamObserver<Volume> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            return withVersion(store.get(Keys.volume(ns, request.getName()), Volume.parser())
                    .orElseThrow(() -> Calls.notFound(describe(ns, request.getName()))));
        });
    }

    @Override
    public void listVolumes(ListVolumesRequest request, StreamObserver<ListVolumesResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String prefix = Keys.VOLUMES;
            if (!request.getNamespace().isEmpty()) {
                new Validation().dnsLabel("namespace", request.getNamespace()).throwIfInvalid();
                prefix = Keys.VOLUMES + request.getNamespace() + "/";
            }
            Listing.Page<Volume> page = Listing.list(store, limits, prefix, request.getPageSize(), request.getPageToken(),
                    request.getLabelSelector(), Volume.parser(), x -> x.getMetadata().getLabelsMap());
            ListVolumesResponse.Builder response = ListVolumesResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addVolumes(withVersion(e)));
            return response.build();
        });
    }

    @Override
    public void updateVolume(UpdateVolumeRequest request, StreamObserver<Volume> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Volume normalised = normalise(request.getVolume(), storageClasses.defaultName());
            Validation v = validate(normalised, limits);
            VolumeSpec.Builder withClass = normalised.getSpec().toBuilder();
            storageClassOf(withClass, v);
            Volume volume = normalised.toBuilder().setSpec(withClass).build();
            String ns = volume.getMetadata().getNamespace();
            String name = volume.getMetadata().getName();
            v.throwIfInvalid();
            String key = Keys.volume(ns, name);
            Entry<Volume> current = store.get(key, Volume.parser()).orElseThrow(() -> Calls.notFound(describe(ns, name)));
            long given = volume.getMetadata().getResourceVersion();
            if (given != 0 && given != current.modRevision()) {
                throw Calls.stale(describe(ns, name), given, current.modRevision());
            }
            VolumeSpec old = current.value().getSpec();
            if (!old.getStorageClass().equals(volume.getSpec().getStorageClass())) {
                v.add("volume.spec.storage_class", "cannot change (was \"" + old.getStorageClass() + "\")");
            }
            if (old.getAccessMode() != volume.getSpec().getAccessMode()) {
                v.add("volume.spec.access_mode", "cannot change");
            }
            if (!old.getSourceSnapshot().equals(volume.getSpec().getSourceSnapshot())) {
                v.add("volume.spec.source_snapshot", "cannot change (was \"" + old.getSourceSnapshot() + "\")");
            }
            if (volume.getSpec().getSizeBytes() < old.getSizeBytes()) {
                v.add("volume.spec.size_bytes", "can only grow: shrinking a volume is not supported (is "
                        + old.getSizeBytes() + ", got " + volume.getSpec().getSizeBytes() + ")");
            } else if (volume.getSpec().getSizeBytes() > old.getSizeBytes() && !storageClasses.allowsExpansion(old.getStorageClass())) {
                v.add("volume.spec.size_bytes", "cannot grow: storage class \"" + old.getStorageClass()
                        + "\" does not allow volume expansion (allow_volume_expansion)");
            }
            v.throwIfInvalid();
            boolean grows = volume.getSpec().getSizeBytes() > old.getSizeBytes();
            if (grows) {
                // Its class allowing it (allow_volume_expansion) is checked with the fields above; what blocks a
                // growth the spec allows is the volume's own state.
                if (current.value().getStatus().getPhase() == VolumeStatus.Phase.DELETING) {
                    throw Status.FAILED_PRECONDITION.withDescription(describe(ns, name)
                            + " is being deleted: it cannot grow").asRuntimeException();
                }
            }
            boolean specChanged = !old.equals(volume.getSpec());
            ObjectMeta meta = current.value().getMetadata().toBuilder()
                    .clearLabels().putAllLabels(volume.getMetadata().getLabelsMap())
                    .clearAnnotations().putAllAnnotations(volume.getMetadata().getAnnotationsMap())
                    .setGeneration(current.value().getMetadata().getGeneration() + (specChanged ? 1 : 0))
                    .setResourceVersion(0).build();
            Volume stored = VolumeResize.derive(current.value().toBuilder().setMetadata(meta).setSpec(volume.getSpec()).build());
            // A volume that exists on its node grows there: an EXPAND order in the node's desired state, in
            // the same transaction (a replica using it also grows it from its claim's size).
            // Within the namespace's storage quotas (a growth adds bytes; new labels may bring it under more snapshot policies).
            List<Op> ops = new java.util.ArrayList<>();
            ops.add(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(stored.toByteArray()), PutOption.DEFAULT));
            if (grows && VolumeResize.needsOrder(stored)) {
                ops.add(Op.put(EtcdStore.bytes(VolumeTasks.key(stored)), EtcdStore.bytes(VolumeTasks.expand(stored).toByteArray()),
                        PutOption.DEFAULT));
            }
            OptionalLong revision = writeVolumeWithinQuota(stored,
                    List.of(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(current.modRevision()))), ops);
            if (revision.isEmpty()) {
                throw given != 0 ? Calls.stale(describe(ns, name), given, -1) : Calls.conflict(describe(ns, name));
            }
            if (grows) {
                LOG.infof("%s grows from %d to %d bytes (%s)", describe(ns, name), old.getSizeBytes(),
                        stored.getSpec().getSizeBytes(), stored.getStatus().getResizeState());
            }
            return withVersion(new Entry<>(key, stored, revision.getAsLong(), current.createRevision()));
        });
    }

    /**
     * Binding mode IMMEDIATE: binds the new volume to the node that serves its class with the most free
     * bytes ({@link StorageFit#immediateNode}); with none, it stays unbound saying why, and binds with
     * its first consumer.
     */
    private void bindAtCreation(Volume volume, StorageClass storageClass, VolumeStatus.Builder status) {
        StorageFit.Need need = new StorageFit.Need(volume.getMetadata().getName(), storageClass.getSpec().getBackend(),
                storageClass.getSpec().getFsType(), volume.getSpec().getSizeBytes());
        StringBuilder why = new StringBuilder();
        List<dev.edgeplane.api.v1.Node> nodes = caches.nodes().all().stream().map(Entry::value).toList();
        Optional<String> node = StorageFit.immediateNode(need, nodes, why);
        if (node.isPresent()) {
            // No bind_time yet: that marks its first consumer, and a volume no consumer ever used is not
            // released or deleted for want of an App (as a restored one, also pinned at creation).
            status.setNode(node.get())
                    .setMessage("bound to " + node.get() + " at creation (binding mode Immediate); created there when first used");
        } else {
            status.setMessage("binding mode Immediate: no node can hold it now (" + why
                    + "); it binds with its first consumer instead");
        }
    }

    /** The ready snapshot a new volume is restored from, if it names one. */
    private Optional<Entry<VolumeSnapshot>> sourceSnapshot(String ns, String name) {
        if (name.isEmpty()) {
            return Optional.empty();
        }
        new Validation().dnsLabel("volume.spec.source_snapshot", name).dnsLabel("volume.metadata.namespace", ns).throwIfInvalid();
        Entry<VolumeSnapshot> snapshot = store.get(Keys.volumeSnapshot(ns, name), VolumeSnapshot.parser())
                .orElseThrow(() -> Calls.notFound(describeSnapshot(ns, name)));
        if (!snapshot.value().getStatus().getReadyToUse()) {
            throw Status.FAILED_PRECONDITION.withDescription(describeSnapshot(ns, name) + " is not ready to use yet"
                    + (snapshot.value().getStatus().getMessage().isEmpty() ? "" : " (" + snapshot.value().getStatus().getMessage() + ")")
                    + ": wait for ready_to_use").asRuntimeException();
        }
        return Optional.of(snapshot);
    }

    /** Size 0 and storage class "" mean the snapshot's. */
    private static Volume withSnapshotDefaults(Volume volume, VolumeSnapshot snapshot) {
        VolumeSpec.Builder spec = volume.getSpec().toBuilder();
        if (spec.getSizeBytes() == 0) {
            spec.setSizeBytes(snapshot.getStatus().getSizeBytes());
        }
        if (spec.getStorageClass().isEmpty() && !snapshot.getStatus().getStorageClass().isEmpty()) {
            spec.setStorageClass(snapshot.getStatus().getStorageClass());
        }
        return volume.toBuilder().setSpec(spec).build();
    }

    static void validateRestore(Validation v, Volume volume, VolumeSnapshot snapshot) {
        String snapshotClass = snapshot.getStatus().getStorageClass();
        if (!snapshotClass.isEmpty() && !snapshotClass.equals(volume.getSpec().getStorageClass())) {
            v.add("volume.spec.storage_class", "must be the snapshot's storage class \"" + snapshotClass + "\" to restore from it, got \""
                    + volume.getSpec().getStorageClass() + "\"");
        }
        if (volume.getSpec().getSizeBytes() < snapshot.getStatus().getSizeBytes()) {
            v.add("volume.spec.size_bytes", "must be at least the snapshot's size " + snapshot.getStatus().getSizeBytes()
                    + ", got " + volume.getSpec().getSizeBytes());
        }
    }

    /**
     * Creates a restored volume only while its snapshot is unchanged (not deleted meanwhile), and
     * rewrites the snapshot's key in the same transaction: its mod_revision moves, so a
     * DeleteVolumeSnapshot that checked for dependents before this restore fails its compare.
     */
    private OptionalLong createGuarded(Volume volume, String key, byte[] value, Entry<VolumeSnapshot> snapshot) {
        OptionalLong revision = writeVolumeWithinQuota(volume,
                List.of(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.version(0)),
                        new Cmp(EtcdStore.bytes(snapshot.key()), Cmp.Op.EQUAL, CmpTarget.modRevision(snapshot.modRevision()))),
                List.of(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(value), PutOption.DEFAULT),
                        Op.put(EtcdStore.bytes(snapshot.key()), EtcdStore.bytes(snapshot.value().toByteArray()), PutOption.DEFAULT)));
        if (revision.isPresent()) {
            return revision;
        }
        if (store.get(key).isEmpty()) {
            throw Calls.conflict(describeSnapshot(snapshot.value().getMetadata().getNamespace(), snapshot.value().getMetadata().getName()));
        }
        return OptionalLong.empty();
    }

    @Override
    public void deleteVolume(DeleteVolumeRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            String name = request.getName();
            new Validation().dnsLabel("name", name).dnsLabel("namespace", ns).throwIfInvalid();
            String key = Keys.volume(ns, name);
            Entry<Volume> current = store.get(key, Volume.parser()).orElseThrow(() -> Calls.notFound(describe(ns, name)));
            Volume volume = current.value();
            String node = volume.getStatus().getNode();
            boolean nodeGone = !node.isEmpty() && store.get(Keys.node(node)).isEmpty();
            boolean deleting = volume.getStatus().getPhase() == VolumeStatus.Phase.DELETING;
            if (deleting && !nodeGone) {
                return DeleteResponse.getDefaultInstance(); // asked again: its node has the order already
            }
            if (!deleting) {
                Optional<String> user = userOf(ns, name);
                if (user.isPresent()) {
                    throw Status.FAILED_PRECONDITION.withDescription(describe(ns, name) + " is used by app \"" + ns + "/"
                            + user.get() + "\": delete the app (or drop the volume from its template) first").asRuntimeException();
                }
                if (request.getResourceVersion() != 0 && request.getResourceVersion() != current.modRevision()) {
                    throw Calls.stale(describe(ns, name), request.getResourceVersion(), current.modRevision());
                }
            }
            if (node.isEmpty() || nodeGone) {
                // On no node (never used), or its node was removed from the platform (no one left to confirm): gone at once.
                List<Op> ops = new java.util.ArrayList<>(List.of(Op.delete(EtcdStore.bytes(key), DeleteOption.DEFAULT)));
                if (nodeGone) {
                    ops.add(Op.delete(EtcdStore.bytes(VolumeTasks.key(volume)), DeleteOption.DEFAULT));
                }
                TxnResponse response = store.await(store.client().getKVClient().txn()
                        .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(current.modRevision())))
                        .Then(ops.toArray(Op[]::new)).commit(), "delete " + key);
                if (!response.isSucceeded()) {
                    throw Calls.conflict(describe(ns, name));
                }
                LOG.infof("deleted %s%s", describe(ns, name), nodeGone ? " (its node " + node + " is gone)" : "");
                return DeleteResponse.getDefaultInstance();
            }
            // Bound to a node: the resource stays DELETING (visible, its node's errors reported on it) until the
            // node confirms the data is gone; then VolumeReports removes it and the task together.
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(current.modRevision())))
                    .Then(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(VolumeTasks.deleting(volume, "deleted through the API")
                                    .toByteArray()), PutOption.DEFAULT),
                            Op.put(EtcdStore.bytes(VolumeTasks.key(volume)), EtcdStore.bytes(VolumeTasks.delete(volume).toByteArray()),
                                    PutOption.DEFAULT))
                    .commit(), "delete " + key);
            if (!response.isSucceeded()) {
                throw Calls.conflict(describe(ns, name));
            }
            LOG.infof("deleting %s: node %s told to delete its data", describe(ns, name), node);
            return DeleteResponse.getDefaultInstance();
        });
    }

    /** A volume of the namespace restored from {@code snapshot} that its node has not created yet: it still needs it. */
    private Optional<String> restoreWaitingFor(String namespace, String snapshot) {
        for (Entry<byte[]> e : store.listAll(Keys.VOLUMES + namespace + "/").entries()) {
            Volume volume = EtcdStore.decode(Volume.parser(), e.value());
            if (volume.getSpec().getSourceSnapshot().equals(snapshot)
                    && volume.getStatus().getNodeStatus().getState() == VolumeNodeStatus.State.STATE_UNSPECIFIED
                    && volume.getStatus().getPhase() != VolumeStatus.Phase.DELETING) {
                return Optional.of(volume.getMetadata().getName());
            }
        }
        return Optional.empty();
    }

    /** An App of the namespace whose template names the volume (from the apps cache). */
    private Optional<String> userOf(String namespace, String volume) {
        for (Entry<App> app : caches.apps().list(Keys.APPS + namespace + "/")) {
            App value = app.value();
            {
                for (PodVolume pv : value.getSpec().getTemplate().getVolumesList()) {
                    if (pv.getSourceCase() == PodVolume.SourceCase.VOLUME && pv.getVolume().equals(volume)) {
                        return Optional.of(value.getMetadata().getName());
                    }
                }
            }
        }
        return Optional.empty();
    }

    // --- snapshots: recorded here and handed to the volume's node as a task of its desired state.

    private static String describeSnapshot(String namespace, String name) {
        return "volume snapshot \"" + namespace + "/" + name + "\"";
    }

    private static VolumeSnapshot snapshotWithVersion(Entry<VolumeSnapshot> entry) {
        return entry.value().toBuilder()
                .setMetadata(entry.value().getMetadata().toBuilder().setResourceVersion(entry.modRevision())).build();
    }

    @Override
    public void createVolumeSnapshot(CreateVolumeSnapshotRequest request, StreamObserver<VolumeSnapshot> responseObserver) {
        Calls.unary(responseObserver, () -> {
            VolumeSnapshot snapshot = request.getSnapshot();
            String ns = Calls.orDefault(snapshot.getMetadata().getNamespace());
            String name = snapshot.getMetadata().getName();
            new Validation().dnsLabel("snapshot.metadata.name", name).dnsLabel("snapshot.metadata.namespace", ns)
                    .dnsLabel("snapshot.spec.volume", snapshot.getSpec().getVolume())
                    .labels("snapshot.metadata.labels", snapshot.getMetadata().getLabelsMap(), limits.maxLabels())
                    .annotations("snapshot.metadata.annotations", snapshot.getMetadata().getAnnotationsMap(), limits.maxAnnotationsBytes())
                    .throwIfInvalid();
            String volumeName = snapshot.getSpec().getVolume();
            Volume volume = store.get(Keys.volume(ns, volumeName), Volume.parser())
                    .orElseThrow(() -> Calls.notFound(describe(ns, volumeName))).value();
            String node = volume.getStatus().getNode();
            VolumeNodeStatus onNode = volume.getStatus().getNodeStatus();
            if (node.isEmpty()) {
                throw Status.FAILED_PRECONDITION.withDescription(describe(ns, volumeName) + " is not bound to a node yet (phase "
                        + volume.getStatus().getPhase() + "): it holds no data until an App has used it").asRuntimeException();
            }
            if (onNode.getVolumeId().isEmpty() || onNode.getState() == VolumeNodeStatus.State.DELETED) {
                throw Status.FAILED_PRECONDITION.withDescription(describe(ns, volumeName) + " is bound to node " + node
                        + " but not created there yet" + (onNode.getMessage().isEmpty() ? "" : " (" + onNode.getMessage() + ")")
                        + "; retry once it is").asRuntimeException();
            }
            snapshot = snapshot.toBuilder().setSpec(snapshot.getSpec().toBuilder().clearPolicy()).build(); // set by the platform only
            ObjectMeta meta = snapshot.getMetadata().toBuilder().setNamespace(ns).setUid(UUID.randomUUID().toString())
                    .setCreateTime(Joiner.timestamp(Instant.now())).setGeneration(1).setResourceVersion(0).build();
            VolumeSnapshot stored = snapshot.toBuilder().setMetadata(meta).setStatus(VolumeSnapshotStatus.newBuilder()
                    .setNode(node).setStorageClass(volume.getSpec().getStorageClass())
                    .setMessage("waiting for node " + node + " to take it")).build();
            String key = Keys.volumeSnapshot(ns, name);
            // The snapshot and the node's task appear together, or neither does; within the volume_snapshots quota.
            TxnResponse response = quotas.commit(ns, s -> s.withSnapshot(stored),
                    List.of(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.version(0))),
                    List.of(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(stored.toByteArray()), PutOption.DEFAULT),
                            Op.put(EtcdStore.bytes(SnapshotTasks.key(node, ns, name)),
                                    EtcdStore.bytes(SnapshotTasks.task(stored, node, onNode.getVolumeId()).toByteArray()), PutOption.DEFAULT)));
            if (!response.isSucceeded()) {
                throw Calls.exists(describeSnapshot(ns, name));
            }
            long revision = response.getHeader().getRevision();
            LOG.infof("created %s of %s on node %s", describeSnapshot(ns, name), describe(ns, volumeName), node);
            return snapshotWithVersion(new Entry<>(key, stored, revision, revision));
        });
    }

    @Override
    public void getVolumeSnapshot(GetVolumeSnapshotRequest request, StreamObserver<VolumeSnapshot> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            return snapshotWithVersion(store.get(Keys.volumeSnapshot(ns, request.getName()), VolumeSnapshot.parser())
                    .orElseThrow(() -> Calls.notFound(describeSnapshot(ns, request.getName()))));
        });
    }

    @Override
    public void listVolumeSnapshots(ListVolumeSnapshotsRequest request, StreamObserver<ListVolumeSnapshotsResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String prefix = Keys.VOLUME_SNAPSHOTS;
            if (!request.getNamespace().isEmpty()) {
                new Validation().dnsLabel("namespace", request.getNamespace()).throwIfInvalid();
                prefix = Keys.VOLUME_SNAPSHOTS + request.getNamespace() + "/";
            }
            Listing.Page<VolumeSnapshot> page = Listing.list(store, limits, prefix, request.getPageSize(), request.getPageToken(),
                    "", VolumeSnapshot.parser(), x -> x.getMetadata().getLabelsMap());
            ListVolumeSnapshotsResponse.Builder response = ListVolumeSnapshotsResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addSnapshots(snapshotWithVersion(e)));
            return response.build();
        });
    }

    @Override
    public void deleteVolumeSnapshot(DeleteVolumeSnapshotRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            String name = request.getName();
            new Validation().dnsLabel("name", name).dnsLabel("namespace", ns).throwIfInvalid();
            for (int attempt = 0; attempt < DELETE_ATTEMPTS; attempt++) {
                if (deleteSnapshotOnce(ns, name, () -> { })) {
                    return DeleteResponse.getDefaultInstance();
                }
            }
            throw Calls.conflict(describeSnapshot(ns, name));
        });
    }

    /**
     * One check-and-delete of a snapshot: false when the snapshot changed between the check and the
     * delete (e.g. a restore from it was created: {@link #createGuarded} rewrites the snapshot's key),
     * so the caller checks again. The delete compares the snapshot's mod_revision as the check read it,
     * which makes the dependency check and the delete one step. {@code afterCheck} runs between the two
     * (tests use it to race a restore).
     */
    boolean deleteSnapshotOnce(String ns, String name, Runnable afterCheck) {
        String key = Keys.volumeSnapshot(ns, name);
        Entry<VolumeSnapshot> current = store.get(key, VolumeSnapshot.parser())
                .orElseThrow(() -> Calls.notFound(describeSnapshot(ns, name)));
        String policy = current.value().getSpec().getPolicy();
        if (!policy.isEmpty() && store.get(Keys.volumeSnapshotPolicy(ns, policy)).isPresent()) {
            throw Status.FAILED_PRECONDITION.withDescription(describeSnapshot(ns, name) + " belongs to volume snapshot policy \""
                    + ns + "/" + policy + "\": its node prunes it under the policy's retention (lower keep_count or "
                    + "keep_age_seconds, or delete the policy, which deletes its snapshots)").asRuntimeException();
        }
        Optional<String> dependent = restoreWaitingFor(ns, name);
        if (dependent.isPresent()) {
            throw Status.FAILED_PRECONDITION.withDescription(describe(ns, dependent.get()) + " is restored from "
                    + describeSnapshot(ns, name) + " and not yet created on node " + current.value().getStatus().getNode()
                    + ": use it from an App first (or delete it)").asRuntimeException();
        }
        afterCheck.run();
        String node = current.value().getStatus().getNode();
        List<Op> ops = new java.util.ArrayList<>(List.of(Op.delete(EtcdStore.bytes(key), DeleteOption.DEFAULT)));
        if (!node.isEmpty()) {
            ops.add(Op.delete(EtcdStore.bytes(SnapshotTasks.key(node, ns, name)), DeleteOption.DEFAULT));
        }
        TxnResponse response = store.await(store.client().getKVClient().txn()
                .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(current.modRevision())))
                .Then(ops.toArray(Op[]::new)).commit(), "delete " + key);
        if (!response.isSucceeded()) {
            LOG.debugf("%s changed while being deleted; checking again", describeSnapshot(ns, name));
            return false;
        }
        LOG.infof("deleted %s (node %s deletes its copy)", describeSnapshot(ns, name), node.isEmpty() ? "-" : node);
        return true;
    }
}
