package dev.edgeplane.storage.csi;

import com.google.protobuf.Int64Value;
import com.google.protobuf.Timestamp;
import dev.edgeplane.csi.v1.CapacityRange;
import dev.edgeplane.csi.v1.ControllerExpandVolumeRequest;
import dev.edgeplane.csi.v1.ControllerExpandVolumeResponse;
import dev.edgeplane.csi.v1.ControllerGetCapabilitiesRequest;
import dev.edgeplane.csi.v1.ControllerGetCapabilitiesResponse;
import dev.edgeplane.csi.v1.ControllerGrpc;
import dev.edgeplane.csi.v1.ControllerServiceCapability;
import dev.edgeplane.csi.v1.CreateSnapshotRequest;
import dev.edgeplane.csi.v1.CreateSnapshotResponse;
import dev.edgeplane.csi.v1.CreateVolumeRequest;
import dev.edgeplane.csi.v1.CreateVolumeResponse;
import dev.edgeplane.csi.v1.DeleteSnapshotRequest;
import dev.edgeplane.csi.v1.DeleteSnapshotResponse;
import dev.edgeplane.csi.v1.DeleteVolumeRequest;
import dev.edgeplane.csi.v1.DeleteVolumeResponse;
import dev.edgeplane.csi.v1.GetCapacityRequest;
import dev.edgeplane.csi.v1.GetCapacityResponse;
import dev.edgeplane.csi.v1.ListSnapshotsRequest;
import dev.edgeplane.csi.v1.ListSnapshotsResponse;
import dev.edgeplane.csi.v1.ListVolumesRequest;
import dev.edgeplane.csi.v1.ListVolumesResponse;
import dev.edgeplane.csi.v1.Snapshot;
import dev.edgeplane.csi.v1.ValidateVolumeCapabilitiesRequest;
import dev.edgeplane.csi.v1.ValidateVolumeCapabilitiesResponse;
import dev.edgeplane.csi.v1.Volume;
import dev.edgeplane.csi.v1.VolumeCapability;
import dev.edgeplane.csi.v1.VolumeContentSource;
import dev.edgeplane.storage.backend.Backend;
import dev.edgeplane.storage.host.HostTools;
import dev.edgeplane.storage.metadata.BackendKind;
import dev.edgeplane.storage.metadata.Phase;
import dev.edgeplane.storage.metadata.SnapshotRecord;
import dev.edgeplane.storage.metadata.VolumeRecord;
import io.grpc.stub.StreamObserver;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.logging.Logger;

/**
 * CSI Controller: volumes and snapshots. Each mutation records its intent (phase PENDING or
 * DELETING) before touching the host and DONE after, so a restart can roll back or finish it.
 */
public final class ControllerService extends ControllerGrpc.ControllerImplBase {
    private static final Logger LOG = Logger.getLogger(ControllerService.class.getName());
    static final long MIB = 1024 * 1024;
    static final long DEFAULT_VOLUME_BYTES = 1024 * MIB;
    static final String PARAM_BACKEND = "backend";
    static final String PARAM_FS_TYPE = "fsType";

    private final DriverState state;

    public ControllerService(DriverState state) {
        this.state = state;
    }

    // ------------------------------------------------------------------ volumes

    @Override
    public void createVolume(CreateVolumeRequest req, StreamObserver<CreateVolumeResponse> out) {
        Errors.unary("CreateVolume", out, () -> CreateVolumeResponse.newBuilder().setVolume(create(req)).build());
    }

    private Volume create(CreateVolumeRequest req) {
        Validation.name("name", req.getName());
        Validation.capabilities("volume_capabilities", req.getVolumeCapabilitiesList());
        BackendKind kind = state.config.defaultBackend();
        String fsType = "";
        for (Map.Entry<String, String> p : req.getParametersMap().entrySet()) {
            switch (p.getKey()) {
                case PARAM_BACKEND -> kind = BackendKind.fromParameter(p.getValue()).orElseThrow(
                        () -> Errors.invalid("parameters.backend", "must be loopfs or btrfs, got '" + p.getValue() + "'"));
                case PARAM_FS_TYPE -> fsType = p.getValue();
                default -> {
                    // Prefixed keys (a StorageClass's own, e.g. example.com/tier) are kept with the volume.
                    if (!p.getKey().contains("/")) {
                        throw Errors.invalid("parameters." + p.getKey(), "unknown parameter");
                    }
                }
            }
        }
        Backend backend = state.backend(kind);
        for (VolumeCapability cap : req.getVolumeCapabilitiesList()) {
            String capFs = cap.getMount().getFsType();
            if (!capFs.isEmpty()) {
                if (!fsType.isEmpty() && !fsType.equals(capFs)) {
                    throw Errors.invalid("volume_capabilities.mount.fs_type",
                            "'" + capFs + "' contradicts parameter fsType '" + fsType + "'");
                }
                fsType = capFs;
            }
        }
        if (fsType.isEmpty()) {
            fsType = backend.fsTypes().get(0);
        }
        if (!backend.fsTypes().contains(fsType)) {
            throw Errors.invalid("parameters.fsType", kind.parameterValue() + " supports " + backend.fsTypes()
                    + ", not '" + fsType + "'");
        }

        SnapshotRecord source = null;
        if (req.hasVolumeContentSource()) {
            VolumeContentSource src = req.getVolumeContentSource();
            if (!src.hasSnapshot()) {
                throw Errors.invalid("volume_content_source", "only snapshot sources are supported");
            }
            String sid = src.getSnapshot().getSnapshotId();
            Validation.id("volume_content_source.snapshot.snapshot_id", sid);
            source = state.store.snapshot(sid).filter(SnapshotRecord::ready)
                    .orElseThrow(() -> Errors.notFound("snapshot " + sid));
            if (source.backend() != kind) {
                throw Errors.invalid("parameters.backend", "snapshot " + sid + " lives in "
                        + source.backend().parameterValue() + ", cannot restore into " + kind.parameterValue());
            }
            fsType = source.fsType();
        }
        long size = size(req.hasCapacityRange() ? req.getCapacityRange() : null,
                Math.max(backend.minimumVolumeBytes(fsType), source == null ? 0 : source.sizeBytes()));

        String id = Ids.volumeId(req.getName());
        Map<String, String> params = new HashMap<>(req.getParametersMap());
        params.keySet().removeIf(k -> k.startsWith(Validation.PROVISIONER_PREFIX));
        try (OperationLocks.Held volumeLock = state.locks.acquire(id, "CreateVolume");
             OperationLocks.Held snapshotLock = source == null ? () -> { }
                     : state.locks.acquire(source.id(), "CreateVolume from snapshot")) {
            var existing = state.store.volume(id);
            if (existing.isPresent()) {
                VolumeRecord v = existing.get();
                if (!v.name().equals(req.getName())) {
                    throw Errors.alreadyExists("volume ID " + id + " collides with volume " + v.name());
                }
                if (v.ready()) {
                    boolean sameSource = source == null ? v.sourceSnapshotId() == null
                            : source.id().equals(v.sourceSnapshotId());
                    CapacityRange r = req.getCapacityRange();
                    boolean fits = v.capacityBytes() >= r.getRequiredBytes()
                            && (r.getLimitBytes() == 0 || v.capacityBytes() <= r.getLimitBytes());
                    if (v.backend() == kind && v.fsType().equals(fsType) && sameSource && fits) {
                        return toVolume(v);
                    }
                    throw Errors.alreadyExists("volume " + req.getName() + " exists with other size, backend, "
                            + "fsType or source");
                }
                // A previous attempt died half way: start over from nothing.
                rollBack(v);
            }
            VolumeRecord record = new VolumeRecord(id, req.getName(), kind, fsType, size, params,
                    source == null ? null : source.id(), Phase.PENDING, System.currentTimeMillis(),
                    // a restore may land on a bigger device, or copy a source whose own growth was pending:
                    // growing a filesystem that already fills its device is a no-op, so always ask
                    source != null, null, List.of());
            synchronized (state.capacityLock) {
                checkCapacity(backend, kind, size, "capacity_range");
                state.store.put(record);
            }
            try {
                if (source == null) {
                    backend.createVolume(record);
                } else {
                    backend.restoreVolume(record, source);
                }
            } catch (RuntimeException e) {
                try {
                    rollBack(record);
                } catch (RuntimeException rollback) {
                    e.addSuppressed(rollback);
                }
                throw e;
            }
            VolumeRecord done = record.withPhase(Phase.DONE);
            state.store.put(done);
            LOG.info(() -> "created volume " + id + " (" + req.getName() + ", " + done.backend().parameterValue() + "/"
                    + done.fsType() + ", " + size + " bytes" + (done.sourceSnapshotId() == null ? ""
                    : ", from " + done.sourceSnapshotId()) + ")");
            return toVolume(done);
        }
    }

    private void rollBack(VolumeRecord v) {
        state.backend(v.backend()).deleteVolume(v);
        state.store.removeVolume(v.id());
    }

    /** The size to allocate: required rounded up to whole MiB, at least {@code minimum}, within the limit. */
    static long size(CapacityRange range, long minimum) {
        if (range == null) {
            return Math.max(DEFAULT_VOLUME_BYTES, minimum);
        }
        long required = range.getRequiredBytes();
        long limit = range.getLimitBytes();
        if (required < 0 || limit < 0) {
            throw Errors.invalid("capacity_range", "sizes must not be negative");
        }
        if (required == 0 && limit == 0) {
            throw Errors.invalid("capacity_range", "size must be greater than zero");
        }
        if (limit > 0 && required > limit) {
            throw Errors.invalid("capacity_range", "required_bytes exceeds limit_bytes");
        }
        long size = required == 0 ? Math.min(limit, DEFAULT_VOLUME_BYTES) : required;
        size = Math.max(roundUpMiB(size), minimum);
        if (limit > 0 && size > limit) {
            throw Errors.invalid("capacity_range", "the smallest possible volume (" + size
                    + " bytes) exceeds limit_bytes " + limit);
        }
        return size;
    }

    static long roundUpMiB(long bytes) {
        return Math.floorDiv(bytes + MIB - 1, MIB) * MIB;
    }

    /** Beyond the pool's total size is a bad request; beyond what is still free is exhaustion. */
    private void checkCapacity(Backend backend, BackendKind kind, long extraBytes, String field) {
        long allocated = state.allocatedBytes(kind);
        long pool = backend.poolCapacityBytes(allocated);
        if (extraBytes > pool) {
            throw Errors.invalid(field, extraBytes + " bytes is beyond the " + kind.parameterValue()
                    + " pool (" + pool + " bytes)");
        }
        if (allocated + extraBytes > pool) {
            throw Errors.exhausted(kind.parameterValue() + " pool has " + Math.max(0, pool - allocated)
                    + " bytes left, " + extraBytes + " requested");
        }
    }

    /** loopfs needs loop devices and mkfs.&lt;fs&gt;; btrfs needs the btrfs program (its pool was checked at start). */
    private static boolean hostCanMake(BackendKind kind, String fsType) {
        return switch (kind) {
            case LOOPFS -> HostTools.hasLoopDevices() && HostTools.onPath("mkfs." + fsType);
            case BTRFS -> HostTools.onPath("btrfs");
        };
    }

    @Override
    public void deleteVolume(DeleteVolumeRequest req, StreamObserver<DeleteVolumeResponse> out) {
        Errors.unary("DeleteVolume", out, () -> {
            Validation.id("volume_id", req.getVolumeId());
            try (OperationLocks.Held lock = state.locks.acquire(req.getVolumeId(), "DeleteVolume")) {
                var existing = state.store.volume(req.getVolumeId());
                if (existing.isEmpty()) {
                    return DeleteVolumeResponse.getDefaultInstance(); // already gone: success, per CSI
                }
                VolumeRecord v = existing.get();
                Backend backend = state.backend(v.backend());
                if (v.inUseOnNode() || backend.inUse(v)) {
                    throw Errors.precondition("volume " + v.id() + " is published or staged on " + state.config.nodeId()
                            + "; unpublish and unstage it first");
                }
                state.store.put(v.withPhase(Phase.DELETING));
                backend.deleteVolume(v);
                state.store.removeVolume(v.id());
                LOG.info(() -> "deleted volume " + v.id() + " (" + v.name() + ")");
                return DeleteVolumeResponse.getDefaultInstance();
            }
        });
    }

    @Override
    public void controllerExpandVolume(ControllerExpandVolumeRequest req,
                                       StreamObserver<ControllerExpandVolumeResponse> out) {
        Errors.unary("ControllerExpandVolume", out, () -> {
            Validation.id("volume_id", req.getVolumeId());
            if (!req.hasCapacityRange()) {
                throw Errors.invalid("capacity_range", "is required");
            }
            try (OperationLocks.Held lock = state.locks.acquire(req.getVolumeId(), "ControllerExpandVolume")) {
                VolumeRecord v = state.store.volume(req.getVolumeId()).filter(VolumeRecord::ready)
                        .orElseThrow(() -> Errors.notFound("volume " + req.getVolumeId()));
                Backend backend = state.backend(v.backend());
                long wanted = size(req.getCapacityRange(), backend.minimumVolumeBytes(v.fsType()));
                if (wanted <= v.capacityBytes()) {
                    return ControllerExpandVolumeResponse.newBuilder().setCapacityBytes(v.capacityBytes())
                            .setNodeExpansionRequired(v.fsResizePending()).build();
                }
                boolean nodeNeeded;
                synchronized (state.capacityLock) {
                    checkCapacity(backend, v.backend(), wanted - v.capacityBytes(), "capacity_range");
                    // Grow first, record after: a retry after a crash in between grows again (a no-op).
                    nodeNeeded = backend.expandVolume(v, wanted);
                    state.store.put(v.withCapacity(wanted, nodeNeeded || v.fsResizePending()));
                }
                LOG.info(() -> "expanded volume " + v.id() + " to " + wanted + " bytes");
                return ControllerExpandVolumeResponse.newBuilder().setCapacityBytes(wanted)
                        .setNodeExpansionRequired(nodeNeeded).build();
            }
        });
    }

    @Override
    public void validateVolumeCapabilities(ValidateVolumeCapabilitiesRequest req,
                                           StreamObserver<ValidateVolumeCapabilitiesResponse> out) {
        Errors.unary("ValidateVolumeCapabilities", out, () -> {
            Validation.id("volume_id", req.getVolumeId());
            if (req.getVolumeCapabilitiesCount() == 0) {
                throw Errors.invalid("volume_capabilities", "at least one capability is required");
            }
            VolumeRecord v = state.store.volume(req.getVolumeId()).filter(VolumeRecord::ready)
                    .orElseThrow(() -> Errors.notFound("volume " + req.getVolumeId()));
            for (VolumeCapability cap : req.getVolumeCapabilitiesList()) {
                String why = unsupported(cap, v);
                if (why != null) {
                    return ValidateVolumeCapabilitiesResponse.newBuilder().setMessage(why).build();
                }
            }
            return ValidateVolumeCapabilitiesResponse.newBuilder().setConfirmed(
                    ValidateVolumeCapabilitiesResponse.Confirmed.newBuilder()
                            .putAllVolumeContext(req.getVolumeContextMap())
                            .addAllVolumeCapabilities(req.getVolumeCapabilitiesList())
                            .putAllParameters(req.getParametersMap())).build();
        });
    }

    private static String unsupported(VolumeCapability cap, VolumeRecord v) {
        if (!cap.hasMount()) {
            return "only mount access is supported";
        }
        if (!Validation.SUPPORTED_MODES.contains(cap.getAccessMode().getMode())) {
            return "access mode " + cap.getAccessMode().getMode() + " is not supported";
        }
        String fs = cap.getMount().getFsType();
        if (!fs.isEmpty() && !fs.equals(v.fsType())) {
            return "volume has fs type " + v.fsType() + ", not " + fs;
        }
        return null;
    }

    @Override
    public void listVolumes(ListVolumesRequest req, StreamObserver<ListVolumesResponse> out) {
        Errors.unary("ListVolumes", out, () -> {
            List<VolumeRecord> all = state.store.volumes().stream().filter(VolumeRecord::ready).toList();
            Page<VolumeRecord> page = Page.of(all, VolumeRecord::id, req.getMaxEntries(), req.getStartingToken());
            ListVolumesResponse.Builder b = ListVolumesResponse.newBuilder().setNextToken(page.nextToken());
            for (VolumeRecord v : page.items()) {
                ListVolumesResponse.VolumeStatus.Builder status = ListVolumesResponse.VolumeStatus.newBuilder();
                if (v.inUseOnNode()) {
                    status.addPublishedNodeIds(state.config.nodeId());
                }
                b.addEntries(ListVolumesResponse.Entry.newBuilder().setVolume(toVolume(v)).setStatus(status));
            }
            return b.build();
        });
    }

    /**
     * What one backend and filesystem can still take (parameters "backend" and "fsType", as CreateVolume's;
     * no backend: the default one). A backend that is off here, a filesystem it does not make, or a host
     * that lacks loop devices or the mkfs program answers 0 with no maximum_volume_size: CSI's "cannot
     * serve". The agent reports this per backend in its heartbeats (NodeStatus.storage).
     */
    @Override
    public void getCapacity(GetCapacityRequest req, StreamObserver<GetCapacityResponse> out) {
        Errors.unary("GetCapacity", out, () -> {
            BackendKind kind = state.config.defaultBackend();
            String fsType = "";
            for (Map.Entry<String, String> p : req.getParametersMap().entrySet()) {
                if (p.getKey().equals(PARAM_BACKEND)) {
                    kind = BackendKind.fromParameter(p.getValue()).orElseThrow(() -> Errors.invalid(
                            "parameters.backend", "must be loopfs or btrfs, got '" + p.getValue() + "'"));
                } else if (p.getKey().equals(PARAM_FS_TYPE)) {
                    fsType = p.getValue();
                } else if (!p.getKey().contains("/")) {
                    throw Errors.invalid("parameters." + p.getKey(), "unknown parameter");
                }
            }
            Backend backend = state.backends.get(kind);
            if (backend == null) {
                return GetCapacityResponse.getDefaultInstance();
            }
            String fs = fsType.isEmpty() ? backend.fsTypes().get(0) : fsType;
            if (!backend.fsTypes().contains(fs) || !hostCanMake(kind, fs)) {
                return GetCapacityResponse.getDefaultInstance();
            }
            long available;
            synchronized (state.capacityLock) {
                long allocated = state.allocatedBytes(kind);
                available = Math.max(0, backend.poolCapacityBytes(allocated) - allocated);
            }
            return GetCapacityResponse.newBuilder().setAvailableCapacity(available)
                    .setMaximumVolumeSize(Int64Value.of(available))
                    .setMinimumVolumeSize(Int64Value.of(backend.minimumVolumeBytes(fs)))
                    .build();
        });
    }

    @Override
    public void controllerGetCapabilities(ControllerGetCapabilitiesRequest req,
                                          StreamObserver<ControllerGetCapabilitiesResponse> out) {
        Errors.unary("ControllerGetCapabilities", out, () -> {
            ControllerGetCapabilitiesResponse.Builder b = ControllerGetCapabilitiesResponse.newBuilder();
            for (ControllerServiceCapability.RPC.Type t : List.of(
                    ControllerServiceCapability.RPC.Type.CREATE_DELETE_VOLUME,
                    ControllerServiceCapability.RPC.Type.LIST_VOLUMES,
                    ControllerServiceCapability.RPC.Type.LIST_VOLUMES_PUBLISHED_NODES,
                    ControllerServiceCapability.RPC.Type.GET_CAPACITY,
                    ControllerServiceCapability.RPC.Type.CREATE_DELETE_SNAPSHOT,
                    ControllerServiceCapability.RPC.Type.LIST_SNAPSHOTS,
                    ControllerServiceCapability.RPC.Type.EXPAND_VOLUME)) {
                b.addCapabilities(ControllerServiceCapability.newBuilder()
                        .setRpc(ControllerServiceCapability.RPC.newBuilder().setType(t)));
            }
            return b.build();
        });
    }

    // ------------------------------------------------------------------ snapshots

    @Override
    public void createSnapshot(CreateSnapshotRequest req, StreamObserver<CreateSnapshotResponse> out) {
        Errors.unary("CreateSnapshot", out, () -> {
            Validation.name("name", req.getName());
            Validation.id("source_volume_id", req.getSourceVolumeId());
            for (String key : req.getParametersMap().keySet()) {
                if (!key.startsWith(Validation.PROVISIONER_PREFIX)) {
                    throw Errors.invalid("parameters." + key, "unknown parameter");
                }
            }
            String sid = Ids.snapshotId(req.getName());
            var done = state.store.snapshot(sid).filter(SnapshotRecord::ready);
            if (done.isPresent()) {
                return CreateSnapshotResponse.newBuilder().setSnapshot(sameSource(done.get(), req)).build();
            }
            // One snapshot in progress per volume: the volume's lock is held for the whole copy.
            try (OperationLocks.Held volumeLock = state.locks.acquire(req.getSourceVolumeId(), "CreateSnapshot " + sid);
                 OperationLocks.Held snapshotLock = state.locks.acquire(sid, "CreateSnapshot")) {
                VolumeRecord v = state.store.volume(req.getSourceVolumeId()).filter(VolumeRecord::ready)
                        .orElseThrow(() -> Errors.notFound("volume " + req.getSourceVolumeId()));
                var existing = state.store.snapshot(sid);
                if (existing.isPresent()) {
                    SnapshotRecord s = existing.get();
                    if (s.ready()) {
                        return CreateSnapshotResponse.newBuilder().setSnapshot(sameSource(s, req)).build();
                    }
                    state.backend(s.backend()).deleteSnapshot(s);
                    state.store.removeSnapshot(sid);
                }
                Backend backend = state.backend(v.backend());
                SnapshotRecord record = new SnapshotRecord(sid, req.getName(), v.id(), v.backend(), v.fsType(),
                        v.capacityBytes(), Phase.PENDING, System.currentTimeMillis());
                synchronized (state.capacityLock) {
                    checkCapacity(backend, v.backend(), backend.snapshotAllocatedBytes(record), "source_volume_id");
                    state.store.put(record);
                }
                Path stagedAt = v.staging() != null && state.mounter.isMounted(Path.of(v.staging().stagingPath()))
                        ? Path.of(v.staging().stagingPath()) : null;
                long started = System.nanoTime();
                try {
                    backend.createSnapshot(v, record, stagedAt);
                } catch (RuntimeException e) {
                    try {
                        backend.deleteSnapshot(record);
                        state.store.removeSnapshot(sid);
                    } catch (RuntimeException rollback) {
                        e.addSuppressed(rollback);
                    }
                    throw e;
                }
                SnapshotRecord ready = record.withPhase(Phase.DONE);
                state.store.put(ready);
                LOG.info(() -> String.format("snapshot %s of %s taken in %d ms%s", sid, v.id(),
                        (System.nanoTime() - started) / 1_000_000, stagedAt == null ? "" : " (frozen while mounted)"));
                return CreateSnapshotResponse.newBuilder().setSnapshot(toSnapshot(ready)).build();
            }
        });
    }

    private static Snapshot sameSource(SnapshotRecord s, CreateSnapshotRequest req) {
        if (!s.sourceVolumeId().equals(req.getSourceVolumeId())) {
            throw Errors.alreadyExists("snapshot " + req.getName() + " exists for another volume " + s.sourceVolumeId());
        }
        return toSnapshot(s);
    }

    @Override
    public void deleteSnapshot(DeleteSnapshotRequest req, StreamObserver<DeleteSnapshotResponse> out) {
        Errors.unary("DeleteSnapshot", out, () -> {
            Validation.id("snapshot_id", req.getSnapshotId());
            try (OperationLocks.Held lock = state.locks.acquire(req.getSnapshotId(), "DeleteSnapshot")) {
                var existing = state.store.snapshot(req.getSnapshotId());
                if (existing.isEmpty()) {
                    return DeleteSnapshotResponse.getDefaultInstance();
                }
                // Neither backend makes a restored volume depend on its snapshot (loopfs copies,
                // btrfs snapshots are independent subvolumes), so nothing here refuses the delete;
                // a restore still copying holds this snapshot's lock and makes us ABORTED instead.
                SnapshotRecord s = existing.get();
                state.store.put(s.withPhase(Phase.DELETING));
                state.backend(s.backend()).deleteSnapshot(s);
                state.store.removeSnapshot(s.id());
                LOG.info(() -> "deleted snapshot " + s.id() + " (" + s.name() + ")");
                return DeleteSnapshotResponse.getDefaultInstance();
            }
        });
    }

    @Override
    public void listSnapshots(ListSnapshotsRequest req, StreamObserver<ListSnapshotsResponse> out) {
        Errors.unary("ListSnapshots", out, () -> {
            List<SnapshotRecord> all = new ArrayList<>();
            for (SnapshotRecord s : state.store.snapshots()) {
                if (s.phase() == Phase.DELETING) {
                    continue;
                }
                if (!req.getSnapshotId().isEmpty() && !s.id().equals(req.getSnapshotId())) {
                    continue;
                }
                if (!req.getSourceVolumeId().isEmpty() && !s.sourceVolumeId().equals(req.getSourceVolumeId())) {
                    continue;
                }
                all.add(s);
            }
            Page<SnapshotRecord> page = Page.of(all, SnapshotRecord::id, req.getMaxEntries(), req.getStartingToken());
            ListSnapshotsResponse.Builder b = ListSnapshotsResponse.newBuilder().setNextToken(page.nextToken());
            page.items().forEach(s -> b.addEntries(ListSnapshotsResponse.Entry.newBuilder().setSnapshot(toSnapshot(s))));
            return b.build();
        });
    }

    // ------------------------------------------------------------------ mapping

    Volume toVolume(VolumeRecord v) {
        Volume.Builder b = Volume.newBuilder().setVolumeId(v.id()).setCapacityBytes(v.capacityBytes())
                .putVolumeContext(PARAM_BACKEND, v.backend().parameterValue())
                .putVolumeContext(PARAM_FS_TYPE, v.fsType());
        if (v.sourceSnapshotId() != null) {
            b.setContentSource(VolumeContentSource.newBuilder().setSnapshot(
                    VolumeContentSource.SnapshotSource.newBuilder().setSnapshotId(v.sourceSnapshotId())));
        }
        return b.build();
    }

    static Snapshot toSnapshot(SnapshotRecord s) {
        return Snapshot.newBuilder().setSnapshotId(s.id()).setSourceVolumeId(s.sourceVolumeId())
                .setSizeBytes(s.sizeBytes()).setReadyToUse(s.ready())
                .setCreationTime(Timestamp.newBuilder().setSeconds(s.createdAtMillis() / 1000)
                        .setNanos((int) (s.createdAtMillis() % 1000) * 1_000_000))
                .build();
    }

    /** ID-keyed pages: a token is the last ID served, so deletions between pages skip nothing. */
    record Page<T>(List<T> items, String nextToken) {
        static <T> Page<T> of(List<T> all, Function<T, String> id, int maxEntries, String startingToken) {
            if (maxEntries < 0) {
                throw Errors.invalid("max_entries", "must not be negative");
            }
            if (!startingToken.isEmpty() && !Validation.wellFormedId(startingToken)) {
                throw Errors.aborted("starting_token '" + startingToken + "' is not valid");
            }
            List<T> sorted = all.stream().sorted((a, b) -> id.apply(a).compareTo(id.apply(b)))
                    .filter(t -> startingToken.isEmpty() || id.apply(t).compareTo(startingToken) > 0).toList();
            if (maxEntries == 0 || sorted.size() <= maxEntries) {
                return new Page<>(sorted, "");
            }
            List<T> items = sorted.subList(0, maxEntries);
            return new Page<>(items, id.apply(items.get(items.size() - 1)));
        }
    }
}
