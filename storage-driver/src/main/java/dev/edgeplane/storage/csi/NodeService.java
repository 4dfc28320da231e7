package dev.edgeplane.storage.csi;

import dev.edgeplane.csi.v1.NodeExpandVolumeRequest;
import dev.edgeplane.csi.v1.NodeExpandVolumeResponse;
import dev.edgeplane.csi.v1.NodeGetCapabilitiesRequest;
import dev.edgeplane.csi.v1.NodeGetCapabilitiesResponse;
import dev.edgeplane.csi.v1.NodeGetInfoRequest;
import dev.edgeplane.csi.v1.NodeGetInfoResponse;
import dev.edgeplane.csi.v1.NodeGetVolumeStatsRequest;
import dev.edgeplane.csi.v1.NodeGetVolumeStatsResponse;
import dev.edgeplane.csi.v1.NodeGrpc;
import dev.edgeplane.csi.v1.NodePublishVolumeRequest;
import dev.edgeplane.csi.v1.NodePublishVolumeResponse;
import dev.edgeplane.csi.v1.NodeServiceCapability;
import dev.edgeplane.csi.v1.NodeStageVolumeRequest;
import dev.edgeplane.csi.v1.NodeStageVolumeResponse;
import dev.edgeplane.csi.v1.NodeUnpublishVolumeRequest;
import dev.edgeplane.csi.v1.NodeUnpublishVolumeResponse;
import dev.edgeplane.csi.v1.NodeUnstageVolumeRequest;
import dev.edgeplane.csi.v1.NodeUnstageVolumeResponse;
import dev.edgeplane.csi.v1.VolumeCapability;
import dev.edgeplane.csi.v1.VolumeCondition;
import dev.edgeplane.csi.v1.VolumeUsage;
import dev.edgeplane.storage.StepHook;
import dev.edgeplane.storage.backend.Backend;
import dev.edgeplane.storage.backend.VolumeStats;
import dev.edgeplane.storage.metadata.Phase;
import dev.edgeplane.storage.metadata.Publication;
import dev.edgeplane.storage.metadata.Staging;
import dev.edgeplane.storage.metadata.VolumeRecord;
import dev.edgeplane.storage.mount.MountEntry;
import io.grpc.stub.StreamObserver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.logging.Logger;

/**
 * CSI Node: stage (attach + mount once per host), publish (bind into each target), and back.
 * Intent is recorded before each mount, so after kill -9 every mount the driver made is named by
 * a record and {@link Reconciler} can finish or undo it.
 */
public final class NodeService extends NodeGrpc.NodeImplBase {
    private static final Logger LOG = Logger.getLogger(NodeService.class.getName());
    private final DriverState state;

    public NodeService(DriverState state) {
        this.state = state;
    }

    @Override
    public void nodeStageVolume(NodeStageVolumeRequest req, StreamObserver<NodeStageVolumeResponse> out) {
        Errors.unary("NodeStageVolume", out, () -> {
            Validation.id("volume_id", req.getVolumeId());
            Path staging = state.validation.path("staging_target_path", req.getStagingTargetPath());
            if (!req.hasVolumeCapability()) {
                throw Errors.invalid("volume_capability", "is required");
            }
            Validation.capability("volume_capability", req.getVolumeCapability());
            try (OperationLocks.Held lock = state.locks.acquire(req.getVolumeId(), "NodeStageVolume")) {
                VolumeRecord v = readyVolume(req.getVolumeId());
                Backend backend = state.backend(v.backend());
                String fs = req.getVolumeCapability().getMount().getFsType();
                if (!fs.isEmpty() && !fs.equals(v.fsType())) {
                    throw Errors.invalid("volume_capability.mount.fs_type", "volume has " + v.fsType() + ", not " + fs);
                }
                if (v.staging() != null && !v.staging().stagingPath().equals(staging.toString())) {
                    throw Errors.precondition("volume " + v.id() + " is already staged at " + v.staging().stagingPath());
                }
                if (v.staging() != null && v.staging().phase() == Phase.DONE && ourMounts(v, staging) == 1) {
                    return NodeStageVolumeResponse.getDefaultInstance();
                }
                VolumeRecord pending = v.withStaging(new Staging(staging.toString(), Phase.PENDING));
                state.store.put(pending);
                boolean grown;
                try {
                    grown = backend.stage(pending, staging, req.getVolumeCapability().getMount().getMountFlagsList());
                } catch (RuntimeException e) {
                    try {
                        backend.unstage(pending, staging);
                        state.store.put(pending.withStaging(null));
                    } catch (RuntimeException rollback) {
                        e.addSuppressed(rollback);
                    }
                    throw e;
                }
                state.store.put(pending.withStaging(new Staging(staging.toString(), Phase.DONE))
                        .withCapacity(v.capacityBytes(), !grown));
                LOG.info(() -> "staged " + v.id() + " at " + staging);
                return NodeStageVolumeResponse.getDefaultInstance();
            }
        });
    }

    @Override
    public void nodeUnstageVolume(NodeUnstageVolumeRequest req, StreamObserver<NodeUnstageVolumeResponse> out) {
        Errors.unary("NodeUnstageVolume", out, () -> {
            Validation.id("volume_id", req.getVolumeId());
            Path staging = state.validation.path("staging_target_path", req.getStagingTargetPath());
            try (OperationLocks.Held lock = state.locks.acquire(req.getVolumeId(), "NodeUnstageVolume")) {
                VolumeRecord v = state.store.volume(req.getVolumeId())
                        .orElseThrow(() -> Errors.notFound("volume " + req.getVolumeId()));
                if (v.staging() == null || !v.staging().stagingPath().equals(staging.toString())) {
                    return NodeUnstageVolumeResponse.getDefaultInstance(); // not staged there: nothing to do
                }
                if (!v.publications().isEmpty()) {
                    throw Errors.precondition("volume " + v.id() + " is still published at "
                            + v.publications().stream().map(Publication::targetPath).toList());
                }
                state.backend(v.backend()).unstage(v, staging);
                state.store.put(v.withStaging(null));
                LOG.info(() -> "unstaged " + v.id() + " from " + staging);
                return NodeUnstageVolumeResponse.getDefaultInstance();
            }
        });
    }

    @Override
    public void nodePublishVolume(NodePublishVolumeRequest req, StreamObserver<NodePublishVolumeResponse> out) {
        Errors.unary("NodePublishVolume", out, () -> {
            Validation.id("volume_id", req.getVolumeId());
            Path target = state.validation.path("target_path", req.getTargetPath());
            Path staging = state.validation.path("staging_target_path", req.getStagingTargetPath());
            if (!req.hasVolumeCapability()) {
                throw Errors.invalid("volume_capability", "is required");
            }
            Validation.capability("volume_capability", req.getVolumeCapability());
            if (target.equals(staging)) {
                throw Errors.invalid("target_path", "must differ from staging_target_path");
            }
            boolean readOnly = req.getReadonly() || req.getVolumeCapability().getAccessMode().getMode()
                    == VolumeCapability.AccessMode.Mode.SINGLE_NODE_READER_ONLY;
            try (OperationLocks.Held lock = state.locks.acquire(req.getVolumeId(), "NodePublishVolume")) {
                VolumeRecord v = readyVolume(req.getVolumeId());
                if (v.staging() == null || v.staging().phase() != Phase.DONE
                        || !v.staging().stagingPath().equals(staging.toString())) {
                    throw Errors.precondition("volume " + v.id() + " is not staged at " + staging);
                }
                var existing = v.publication(target.toString());
                if (existing.isPresent() && existing.get().phase() == Phase.DONE && ourMounts(v, target) == 1) {
                    if (existing.get().readOnly() != readOnly) {
                        throw Errors.alreadyExists("volume " + v.id() + " is published at " + target + " with readonly="
                                + existing.get().readOnly());
                    }
                    return NodePublishVolumeResponse.getDefaultInstance();
                }
                List<MountEntry> mounts = state.mounter.table().at(target);
                Backend backend = state.backend(v.backend());
                if (mounts.stream().anyMatch(m -> !backend.isVolumeMount(v, m))) {
                    throw Errors.precondition("target path " + target + " already has another mount");
                }
                VolumeRecord pending = v.withPublication(new Publication(target.toString(), readOnly, Phase.PENDING));
                state.store.put(pending);
                try {
                    publish(v, staging, target, readOnly);
                } catch (RuntimeException e) {
                    try {
                        state.mounter.unmountAll(target);
                        state.store.put(pending.withoutPublication(target.toString()));
                    } catch (RuntimeException rollback) {
                        e.addSuppressed(rollback);
                    }
                    throw e;
                }
                state.store.put(pending.withPublication(new Publication(target.toString(), readOnly, Phase.DONE)));
                LOG.info(() -> "published " + v.id() + " at " + target + (readOnly ? " read-only" : ""));
                return NodePublishVolumeResponse.getDefaultInstance();
            }
        });
    }

    /** Bind-mounts the staging mount on the target, at most once, then makes it read-only if asked. */
    void publish(VolumeRecord v, Path staging, Path target, boolean readOnly) {
        try {
            Files.createDirectories(target);
        } catch (IOException e) {
            throw new IllegalStateException("cannot create target path " + target + ": " + e.getMessage());
        }
        List<MountEntry> mounts = state.mounter.table().at(target);
        if (mounts.isEmpty()) {
            state.mounter.bind(staging, target, false);
        } else {
            state.mounter.unmountExtra(target);
        }
        state.config.hook().reached(StepHook.PUBLISH_AFTER_MOUNT, v.id());
        if (readOnly && !state.mounter.table().at(target).get(0).readOnly()) {
            state.mounter.remountBindReadOnly(target);
        }
    }

    @Override
    public void nodeUnpublishVolume(NodeUnpublishVolumeRequest req, StreamObserver<NodeUnpublishVolumeResponse> out) {
        Errors.unary("NodeUnpublishVolume", out, () -> {
            Validation.id("volume_id", req.getVolumeId());
            Path target = state.validation.path("target_path", req.getTargetPath());
            try (OperationLocks.Held lock = state.locks.acquire(req.getVolumeId(), "NodeUnpublishVolume")) {
                VolumeRecord v = state.store.volume(req.getVolumeId())
                        .orElseThrow(() -> Errors.notFound("volume " + req.getVolumeId()));
                Backend backend = state.backend(v.backend());
                List<MountEntry> mounts = state.mounter.table().at(target);
                if (mounts.stream().anyMatch(m -> !backend.isVolumeMount(v, m))) {
                    throw Errors.precondition("target path " + target + " holds a mount of another volume");
                }
                state.mounter.unmountAll(target);
                try {
                    Files.deleteIfExists(target);
                } catch (IOException e) {
                    LOG.warning("cannot remove target path " + target + ": " + e);
                }
                if (v.publication(target.toString()).isPresent()) {
                    state.store.put(v.withoutPublication(target.toString()));
                }
                LOG.info(() -> "unpublished " + v.id() + " from " + target);
                return NodeUnpublishVolumeResponse.getDefaultInstance();
            }
        });
    }

    @Override
    public void nodeGetVolumeStats(NodeGetVolumeStatsRequest req, StreamObserver<NodeGetVolumeStatsResponse> out) {
        Errors.unary("NodeGetVolumeStats", out, () -> {
            Validation.id("volume_id", req.getVolumeId());
            Path path = state.validation.path("volume_path", req.getVolumePath());
            VolumeRecord v = state.store.volume(req.getVolumeId()).filter(VolumeRecord::ready)
                    .orElseThrow(() -> Errors.notFound("volume " + req.getVolumeId()));
            Backend backend = state.backend(v.backend());
            if (state.mounter.table().at(path).stream().noneMatch(m -> backend.isVolumeMount(v, m))) {
                throw Errors.notFound("volume " + v.id() + " at " + path);
            }
            VolumeStats s = backend.stats(v, path);
            NodeGetVolumeStatsResponse.Builder b = NodeGetVolumeStatsResponse.newBuilder()
                    .addUsage(VolumeUsage.newBuilder().setUnit(VolumeUsage.Unit.BYTES).setTotal(s.totalBytes())
                            .setUsed(s.usedBytes()).setAvailable(s.availableBytes()))
                    .setVolumeCondition(VolumeCondition.newBuilder().setAbnormal(false).setMessage("mounted"));
            if (s.totalInodes() > 0) {
                b.addUsage(VolumeUsage.newBuilder().setUnit(VolumeUsage.Unit.INODES).setTotal(s.totalInodes())
                        .setUsed(s.usedInodes()).setAvailable(s.freeInodes()));
            }
            return b.build();
        });
    }

    @Override
    public void nodeExpandVolume(NodeExpandVolumeRequest req, StreamObserver<NodeExpandVolumeResponse> out) {
        Errors.unary("NodeExpandVolume", out, () -> {
            Validation.id("volume_id", req.getVolumeId());
            state.validation.path("volume_path", req.getVolumePath());
            try (OperationLocks.Held lock = state.locks.acquire(req.getVolumeId(), "NodeExpandVolume")) {
                VolumeRecord v = readyVolume(req.getVolumeId());
                if (v.staging() == null || v.staging().phase() != Phase.DONE) {
                    throw Errors.precondition("volume " + v.id() + " is not staged on this node");
                }
                if (req.hasCapacityRange() && req.getCapacityRange().getRequiredBytes() > v.capacityBytes()) {
                    throw Errors.invalid("capacity_range", "exceeds the volume's size " + v.capacityBytes()
                            + "; call ControllerExpandVolume first");
                }
                state.backend(v.backend()).nodeExpand(v, Path.of(v.staging().stagingPath()));
                state.store.put(v.withCapacity(v.capacityBytes(), false));
                return NodeExpandVolumeResponse.newBuilder().setCapacityBytes(v.capacityBytes()).build();
            }
        });
    }

    @Override
    public void nodeGetCapabilities(NodeGetCapabilitiesRequest req, StreamObserver<NodeGetCapabilitiesResponse> out) {
        Errors.unary("NodeGetCapabilities", out, () -> {
            NodeGetCapabilitiesResponse.Builder b = NodeGetCapabilitiesResponse.newBuilder();
            for (NodeServiceCapability.RPC.Type t : List.of(NodeServiceCapability.RPC.Type.STAGE_UNSTAGE_VOLUME,
                    NodeServiceCapability.RPC.Type.GET_VOLUME_STATS, NodeServiceCapability.RPC.Type.EXPAND_VOLUME,
                    NodeServiceCapability.RPC.Type.VOLUME_CONDITION)) {
                b.addCapabilities(NodeServiceCapability.newBuilder()
                        .setRpc(NodeServiceCapability.RPC.newBuilder().setType(t)));
            }
            return b.build();
        });
    }

    @Override
    public void nodeGetInfo(NodeGetInfoRequest req, StreamObserver<NodeGetInfoResponse> out) {
        Errors.unary("NodeGetInfo", out, () -> NodeGetInfoResponse.newBuilder().setNodeId(state.config.nodeId()).build());
    }

    private VolumeRecord readyVolume(String id) {
        VolumeRecord v = state.store.volume(id).orElseThrow(() -> Errors.notFound("volume " + id));
        if (!v.ready()) {
            throw Errors.precondition("volume " + id + " is being created or deleted");
        }
        return v;
    }

    private int ourMounts(VolumeRecord v, Path path) {
        Backend backend = state.backend(v.backend());
        return (int) state.mounter.table().at(path).stream().filter(m -> backend.isVolumeMount(v, m)).count();
    }
}
