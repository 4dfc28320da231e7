package dev.edgeplane.agent.volumes;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.VolumeClaim;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeReport;
import dev.edgeplane.csi.v1.ControllerExpandVolumeRequest;
import dev.edgeplane.csi.v1.ControllerExpandVolumeResponse;
import dev.edgeplane.csi.v1.ControllerGrpc;
import dev.edgeplane.csi.v1.CreateSnapshotRequest;
import dev.edgeplane.csi.v1.CreateVolumeRequest;
import dev.edgeplane.csi.v1.CapacityRange;
import dev.edgeplane.csi.v1.DeleteSnapshotRequest;
import dev.edgeplane.csi.v1.DeleteVolumeRequest;
import dev.edgeplane.csi.v1.NodeExpandVolumeRequest;
import dev.edgeplane.csi.v1.NodeGrpc;
import dev.edgeplane.csi.v1.NodePublishVolumeRequest;
import dev.edgeplane.csi.v1.NodeStageVolumeRequest;
import dev.edgeplane.csi.v1.NodeUnpublishVolumeRequest;
import dev.edgeplane.csi.v1.NodeUnstageVolumeRequest;
import dev.edgeplane.csi.v1.Snapshot;
import dev.edgeplane.csi.v1.VolumeCapability;
import dev.edgeplane.csi.v1.VolumeContentSource;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * The volumes of the agent's pods. Per pod (by pod UID) a directory {@code <root>/pods/<uid>} holds
 * its emptyDirs ({@code empty-dir/<name>}, removed with the pod), the publish targets of its named
 * volumes ({@code volumes/<name>}) and {@code claims.properties}, the record of which CSI volumes
 * it published, so a restarted agent can still unpublish them. Named volumes go through the CSI
 * driver like a kubelet would: CreateVolume (idempotent by name), NodeStageVolume to
 * {@code <root>/staging/<volume-id>}, NodePublishVolume to the pod's target. hostPath is used as is.
 * What happens to each named volume (created, staged, published, deleted, the driver's errors) is
 * told to {@link #onVolumeReport}, for the control plane; a volume restored from a snapshot is
 * created with the snapshot as its content source. A pod going away (scaled to 0, replaced, the
 * agent restarted) never deletes a volume: only {@link #deleteVolume}, on the control plane's
 * order, does. {@code <root>/volumes.properties} records the CSI id of every volume this agent
 * created (CSI name = id), so an order that comes without an id still finds it.
 * <p>A claim asking more than its existing volume has is grown, never created again (CSI
 * CreateVolume is idempotent only for the same size): ControllerExpandVolume first, then
 * NodeExpandVolume on the mounted volume, while the pod keeps running. A volume this pod already
 * published stays in use whatever the driver says on a later pass (a failed resize, a busy driver):
 * the error is reported on the volume, the running pod is left alone.
 */
public final class PodVolumes implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(PodVolumes.class.getName());
    private static final long RPC_SECONDS = 120;
    /** Marks a pod directory whose removal is not finished ("release" or "keep"). */
    private static final String REMOVAL_FILE = "removing";
    /** How often {@link #retryRemovals} is meant to run (the reconciler's volume cleanup). */
    public static final java.time.Duration RETRY_PERIOD = java.time.Duration.ofSeconds(10);
    private static final int MAX_RETRIES_PER_PASS = 64;
    private static final int BUSY_ATTEMPTS = 40;
    private static final java.time.Duration BUSY_WAIT = java.time.Duration.ofMillis(250);
    private static final VolumeCapability CAPABILITY = VolumeCapability.newBuilder()
            .setMount(VolumeCapability.MountVolume.getDefaultInstance())
            .setAccessMode(VolumeCapability.AccessMode.newBuilder()
                    .setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER))
            .build();

    private final Path root;
    private final ConfigVolumes configVolumes = new ConfigVolumes();
    private final ManagedChannel csi; // null: named volumes are refused
    private final AutoCloseable driver;
    private volatile Consumer<VolumeReport> reports = report -> { };
    /** The last state each volume (namespace/name/uid) reached on this node since the agent started. */
    private final Map<String, VolumeNodeStatus> lastKnown = new java.util.concurrent.ConcurrentHashMap<>();
    /**
     * Volume id -> the capacity at which its mounted filesystem could not be grown (ext4 without
     * CAP_SYS_RESOURCE): not asked again for that size on every pass; it grows at the next stage.
     */
    private final Map<String, Long> nodeExpandRefused = new java.util.concurrent.ConcurrentHashMap<>();
    private final Path createdFile;
    /** Serialise preparing, removing and retrying the removal of one pod (by UID stripe). */
    private final Object[] podLocks = new Object[32];

    /**
     * @param root   the agent's volume dir (emptyDirs, publish and staging targets)
     * @param csi    a channel to the CSI driver's Controller and Node services, or null
     * @param driver closed with this (an in-process driver), or null
     */
    public PodVolumes(Path root, ManagedChannel csi, AutoCloseable driver) {
        this.root = root.toAbsolutePath().normalize();
        this.createdFile = this.root.resolve("volumes.properties");
        this.csi = csi;
        this.driver = driver;
        for (int i = 0; i < podLocks.length; i++) {
            podLocks[i] = new Object();
        }
    }

    /** Where volume state changes go (the agent's status reports). */
    public void onVolumeReport(Consumer<VolumeReport> listener) {
        reports = listener;
    }

    /** No named volumes (no CSI driver); emptyDir and hostPath still work. */
    public static PodVolumes withoutDriver(Path root) {
        return new PodVolumes(root, null, null);
    }

    /** Why a pod's volumes are not ready: the replica stays PENDING with this message. */
    public static final class VolumeException extends Exception {
        public VolumeException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** Makes every volume of the pod ready and returns its host path, by PodVolume name. */
    public Map<String, Path> prepare(Assignment assignment, String podUid) throws VolumeException {
        synchronized (lockOf(podUid)) {
            Path pod = podDir(podUid);
            try {
                Files.deleteIfExists(pod.resolve(REMOVAL_FILE)); // wanted again (a dead pod recreated): no longer being removed
            } catch (IOException e) {
                throw new VolumeException("pod " + podUid + ": " + e.getMessage(), e);
            }
            return prepareLocked(assignment, pod);
        }
    }

    private Map<String, Path> prepareLocked(Assignment assignment, Path pod) throws VolumeException {
        Map<String, Path> paths = new LinkedHashMap<>();
        Properties claims = readClaims(pod);
        for (PodVolume volume : assignment.getTemplate().getVolumesList()) {
            try {
                switch (volume.getSourceCase()) {
                    case EMPTY_DIR -> {
                        Path dir = pod.resolve("empty-dir").resolve(volume.getName());
                        Files.createDirectories(dir);
                        paths.put(volume.getName(), dir);
                    }
                    case HOST_PATH -> paths.put(volume.getName(), Path.of(volume.getHostPath().getPath()));
                    case CONFIG_MAP, SECRET -> {
                        // Every pass: a changed ConfigMap or Secret reaches the running pod's files.
                        Path dir = pod.resolve("config").resolve(volume.getName());
                        configVolumes.prepare(assignment, volume, dir);
                        paths.put(volume.getName(), dir);
                    }
                    case VOLUME -> {
                        VolumeClaim claim = assignment.getVolumesMap().get(volume.getVolume());
                        if (claim == null) {
                            throw new VolumeException("volume " + volume.getVolume() + " is not resolved in the assignment", null);
                        }
                        Path target = pod.resolve("volumes").resolve(volume.getName());
                        String who = assignment.getNamespace() + "/" + claim.getName() + "/" + claim.getUid();
                        String id;
                        try {
                            id = publish(assignment.getNamespace(), claim, target);
                        } catch (VolumeException e) {
                            String published = claims.getProperty(volume.getName(), "");
                            if (published.endsWith("," + who) && Files.isDirectory(target)) {
                                // Published for this pod before: whatever the driver says now (busy taking a snapshot,
                                // a resize refused), the pod keeps what it has; the error is on the volume's report,
                                // and the next pass asks again.
                                if (!busy(e)) {
                                    LOG.warning("volume " + who + " stays published for pod " + pod.getFileName() + ": " + e.getMessage());
                                }
                                paths.put(volume.getName(), target);
                                continue;
                            }
                            throw e;
                        }
                        String record = id + "," + claim.getDeleteOnRelease() + "," + who;
                        if (!record.equals(claims.getProperty(volume.getName()))) {
                            claims.setProperty(volume.getName(), record);
                            writeClaims(pod, claims);
                        }
                        paths.put(volume.getName(), target);
                    }
                    default -> throw new VolumeException("volume " + volume.getName() + " has no source", null);
                }
            } catch (IOException e) {
                throw new VolumeException("volume " + volume.getName() + ": " + e.getMessage(), e);
            }
        }
        return paths;
    }

    /** The CSI volume name of a claim: stable per Volume resource (a re-created Volume gets a new uid). */
    public static String csiName(String namespace, VolumeClaim claim) {
        return namespace + "-" + claim.getName() + (claim.getUid().isEmpty() ? "" : "-" + claim.getUid());
    }

    private String publish(String namespace, VolumeClaim claim, Path target) throws VolumeException {
        if (csi == null) {
            throw new VolumeException("volume " + claim.getName() + ": this agent has no storage driver", null);
        }
        String key = namespace + "/" + claim.getName() + "/" + claim.getUid();
        // A failure reports the last state that was reached, with the error.
        VolumeNodeStatus.Builder state = lastKnown.getOrDefault(key, VolumeNodeStatus.getDefaultInstance()).toBuilder().clearMessage();
        try {
            long started = System.nanoTime();
            String knownId = created().getProperty(csiName(namespace, claim), "");
            // An existing volume is grown to the claim's size, never created again with another size.
            Expansion grown = knownId.isEmpty() ? Expansion.NOT_FOUND : expandController(knownId, claim.getSizeBytes());
            long required = grown == Expansion.NOT_FOUND || grown.error().isEmpty() ? claim.getSizeBytes()
                    // the growth failed: take the volume as it is (it exists: the driver did not say NOT_FOUND)
                    : Math.max(1, Math.min(claim.getSizeBytes(), state.getCapacityBytes()));
            CreateVolumeRequest.Builder create = CreateVolumeRequest.newBuilder()
                    .setName(csiName(namespace, claim))
                    .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(required))
                    .addVolumeCapabilities(CAPABILITY)
                    .putAllParameters(claim.getParametersMap());
            if (!claim.getSourceSnapshotId().isEmpty()) {
                create.setVolumeContentSource(VolumeContentSource.newBuilder().setSnapshot(
                        VolumeContentSource.SnapshotSource.newBuilder().setSnapshotId(claim.getSourceSnapshotId())));
            }
            var created = controller().createVolume(create.build()).getVolume();
            String id = created.getVolumeId();
            recordCreated(csiName(namespace, claim), id);
            state.setState(VolumeNodeStatus.State.CREATED).setVolumeId(id).setCapacityBytes(created.getCapacityBytes());
            Path staging = root.resolve("staging").resolve(id);
            Files.createDirectories(staging);
            node().nodeStageVolume(NodeStageVolumeRequest.newBuilder().setVolumeId(id)
                    .setStagingTargetPath(staging.toString()).setVolumeCapability(CAPABILITY).build());
            state.setState(VolumeNodeStatus.State.STAGED);
            Files.createDirectories(target.getParent());
            node().nodePublishVolume(NodePublishVolumeRequest.newBuilder().setVolumeId(id)
                    .setStagingTargetPath(staging.toString()).setTargetPath(target.toString())
                    .setVolumeCapability(CAPABILITY).build());
            state.setState(VolumeNodeStatus.State.PUBLISHED);
            if (grown != Expansion.NOT_FOUND) {
                Expansion after = grown;
                if (grown.filesystemPending() && grown.error().isEmpty()) {
                    after = expandController(id, claim.getSizeBytes()); // the stage just now may have grown it
                    after = after == Expansion.NOT_FOUND ? grown : after;
                    if (after.filesystemPending() && after.error().isEmpty()) {
                        after = expandNode(id, staging, after.capacityBytes());
                    }
                }
                state.setCapacityBytes(Math.max(after.capacityBytes(), created.getCapacityBytes()))
                        .setFilesystemResizePending(after.filesystemPending()).setResizeError(after.error());
            } else {
                state.setFilesystemResizePending(false).clearResizeError();
            }
            lastKnown.put(key, state.build());
            report(namespace, claim.getName(), claim.getUid(), state);
            LOG.fine(() -> "volume " + namespace + "/" + claim.getName() + " (" + id + ") ready at " + target + " in "
                    + (System.nanoTime() - started) / 1_000_000 + " ms");
            return id;
        } catch (StatusRuntimeException e) {
            String message = "storage driver: " + e.getStatus().getCode() + " "
                    + (e.getStatus().getDescription() == null ? "" : e.getStatus().getDescription());
            if (e.getStatus().getCode() != io.grpc.Status.Code.ABORTED) { // ABORTED: another operation on it is pending
                report(namespace, claim.getName(), claim.getUid(), state.setMessage(message));
            }
            throw new VolumeException("volume " + claim.getName() + ": " + message, e);
        } catch (IOException e) {
            report(namespace, claim.getName(), claim.getUid(), state.setMessage(e.getMessage()));
            throw new VolumeException("volume " + claim.getName() + ": " + e.getMessage(), e);
        }
    }

    /**
     * What growing a volume came to: its backing's size, whether its filesystem still has to grow,
     * and the driver's error ("" when none). {@link #NOT_FOUND}: the driver has no such volume.
     */
    record Expansion(long capacityBytes, boolean filesystemPending, String error) {
        static final Expansion NOT_FOUND = new Expansion(0, false, "");
    }

    /**
     * ControllerExpandVolume to at least {@code bytes} (a no-op when the volume has that already; it
     * then says whether its filesystem still lags). ABORTED (busy) is thrown; other refusals (no room
     * in the pool, say) come back as the expansion's error: the volume stays usable at its old size.
     */
    private Expansion expandController(String id, long bytes) {
        try {
            ControllerExpandVolumeResponse r = controller().controllerExpandVolume(ControllerExpandVolumeRequest.newBuilder()
                    .setVolumeId(id).setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(bytes))
                    .setVolumeCapability(CAPABILITY).build());
            return new Expansion(r.getCapacityBytes(), r.getNodeExpansionRequired(), "");
        } catch (StatusRuntimeException e) {
            io.grpc.Status.Code code = e.getStatus().getCode();
            if (code == io.grpc.Status.Code.NOT_FOUND) {
                return Expansion.NOT_FOUND;
            }
            if (code == io.grpc.Status.Code.ABORTED) {
                throw e;
            }
            return new Expansion(0, false, "cannot grow to " + bytes + " bytes: storage driver: " + code + " "
                    + (e.getStatus().getDescription() == null ? "" : e.getStatus().getDescription()));
        }
    }

    /**
     * NodeExpandVolume on the staged volume: grows its filesystem while it stays mounted. A driver
     * that cannot (ext4 without CAP_SYS_RESOURCE) is asked once per size; the filesystem then grows
     * when the volume is next staged, and the expansion says so.
     */
    private Expansion expandNode(String id, Path staging, long capacity) {
        Long refusedAt = nodeExpandRefused.get(id);
        if (refusedAt != null && refusedAt == capacity) {
            return new Expansion(capacity, true, "");
        }
        try {
            long grown = node().nodeExpandVolume(NodeExpandVolumeRequest.newBuilder().setVolumeId(id)
                    .setVolumePath(staging.toString()).setVolumeCapability(CAPABILITY).build()).getCapacityBytes();
            nodeExpandRefused.remove(id);
            LOG.info(() -> "volume " + id + " grown to " + grown + " bytes while mounted");
            return new Expansion(Math.max(grown, capacity), false, "");
        } catch (StatusRuntimeException e) {
            io.grpc.Status.Code code = e.getStatus().getCode();
            if (code == io.grpc.Status.Code.ABORTED) {
                throw e;
            }
            String why = e.getStatus().getDescription() == null ? code.toString() : e.getStatus().getDescription();
            if (code == io.grpc.Status.Code.FAILED_PRECONDITION) {
                // Cannot grow mounted (or not staged): not an error, the next stage grows it.
                nodeExpandRefused.put(id, capacity);
                LOG.info(() -> "volume " + id + ": filesystem grows at its next stage (" + why + ")");
                return new Expansion(capacity, true, "");
            }
            return new Expansion(capacity, true, "cannot grow the filesystem: storage driver: " + code + " " + why);
        }
    }

    /**
     * Grows a volume of this node that no pod here uses, on the control plane's order (VolumeTask
     * EXPAND): its backing at once, its filesystem too when it is staged, else at its next stage.
     * Reports what it came to. {@code volumeId} is the id the control plane last heard of, or "".
     *
     * @return false when this node never had the volume (nothing to grow: it is created at the new size)
     * @throws StatusRuntimeException ABORTED when the driver is busy with the volume: ask again later
     */
    public boolean expandVolume(String namespace, VolumeClaim volume, String volumeId) {
        String key = namespace + "/" + volume.getName() + "/" + volume.getUid();
        String id = !volumeId.isEmpty() ? volumeId : created().getProperty(csiName(namespace, volume), "");
        if (id.isEmpty()) {
            return false;
        }
        Expansion grown = expandController(id, volume.getSizeBytes());
        if (grown == Expansion.NOT_FOUND) {
            return false;
        }
        Path staging = root.resolve("staging").resolve(id);
        if (grown.filesystemPending() && grown.error().isEmpty() && Files.isDirectory(staging)) {
            grown = expandNode(id, staging, grown.capacityBytes());
        }
        VolumeNodeStatus.Builder state = lastKnown.getOrDefault(key, VolumeNodeStatus.newBuilder()
                .setState(VolumeNodeStatus.State.CREATED).setVolumeId(id).build()).toBuilder()
                .setFilesystemResizePending(grown.filesystemPending()).setResizeError(grown.error());
        if (grown.capacityBytes() > 0) {
            state.setCapacityBytes(grown.capacityBytes());
        }
        lastKnown.put(key, state.build());
        report(namespace, volume.getName(), volume.getUid(), state);
        return true;
    }

    /** Whether the last growth of this volume on this node failed (VolumeNodeStatus.resize_error). */
    public boolean lastResizeFailed(String namespace, VolumeClaim volume) {
        VolumeNodeStatus last = lastKnown.get(namespace + "/" + volume.getName() + "/" + volume.getUid());
        return last != null && !last.getResizeError().isEmpty();
    }

    /** The driver refused because another operation on the volume is in progress (CSI's ABORTED). */
    private static boolean busy(VolumeException e) {
        return e.getCause() instanceof StatusRuntimeException sre && sre.getStatus().getCode() == io.grpc.Status.Code.ABORTED;
    }

    private void report(String namespace, String name, String uid, VolumeNodeStatus.Builder state) {
        reports.accept(VolumeReport.newBuilder().setNamespace(namespace).setName(name).setUid(uid).setStatus(state).build());
    }

    /** Reports a pod's released volume from its claims record ("id,delete,namespace/name/uid"; older records lack the last part). */
    private void reportReleased(String[] record, VolumeNodeStatus.State state) {
        if (record.length < 3) {
            return;
        }
        String[] who = record[2].split("/", 3);
        if (who.length == 3) {
            VolumeNodeStatus last = lastKnown.remove(record[2]);
            VolumeNodeStatus.Builder released = VolumeNodeStatus.newBuilder().setState(state).setVolumeId(record[0]);
            if (last != null) {
                // its size goes on being known: a growth ordered while no pod uses it starts from it
                released.setCapacityBytes(last.getCapacityBytes()).setFilesystemResizePending(last.getFilesystemResizePending())
                        .setResizeError(last.getResizeError());
                lastKnown.put(record[2], released.build());
            }
            report(who[0], who[1], who[2], released);
        }
    }

    /**
     * Takes a snapshot of a volume of this node through CSI (idempotent by name: a retry after a
     * crash finds the one already taken).
     */
    public Snapshot createSnapshot(String name, String sourceVolumeId) {
        return controller().createSnapshot(CreateSnapshotRequest.newBuilder().setName(name)
                .setSourceVolumeId(sourceVolumeId).build()).getSnapshot();
    }

    /** Deletes a snapshot through CSI (a snapshot already gone is fine). */
    public void deleteSnapshot(String snapshotId) {
        controller().deleteSnapshot(DeleteSnapshotRequest.newBuilder().setSnapshotId(snapshotId).build());
    }

    /** CSI GetCapacity of the driver for these parameters (backend, fsType). */
    public dev.edgeplane.csi.v1.GetCapacityResponse capacity(java.util.Map<String, String> parameters) {
        return controller().getCapacity(dev.edgeplane.csi.v1.GetCapacityRequest.newBuilder().putAllParameters(parameters).build());
    }

    /**
     * Bytes the driver's volumes hold, per backend (CSI ListVolumes, their volume_context "backend"),
     * reading at most {@code maxPages} pages of 500.
     */
    public java.util.Map<String, Long> volumeBytesByBackend(int maxPages) {
        java.util.Map<String, Long> bytes = new java.util.HashMap<>();
        String token = "";
        for (int page = 0; page < maxPages; page++) {
            var response = controller().listVolumes(dev.edgeplane.csi.v1.ListVolumesRequest.newBuilder()
                    .setMaxEntries(500).setStartingToken(token).build());
            response.getEntriesList().forEach(e -> bytes.merge(e.getVolume().getVolumeContextOrDefault("backend", ""),
                    e.getVolume().getCapacityBytes(), Long::sum));
            token = response.getNextToken();
            if (token.isEmpty()) {
                break;
            }
        }
        return bytes;
    }

    /** False when named volumes (and so snapshots) are refused: no storage driver. */
    public boolean hasDriver() {
        return csi != null;
    }

    /**
     * The pod is about to go: its directory records that (with {@code release}) before anything is
     * stopped, so a removal that fails or is cut short by a crash is finished by {@link #retryRemovals}.
     */
    public void podRemoving(String podUid, boolean release) {
        Path pod = podDir(podUid);
        if (!Files.isDirectory(pod)) {
            return;
        }
        synchronized (lockOf(podUid)) {
            try {
                Path tmp = pod.resolve(REMOVAL_FILE + ".tmp");
                Files.writeString(tmp, release ? "release" : "keep");
                Files.move(tmp, pod.resolve(REMOVAL_FILE), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException e) {
                LOG.warning("cannot record the removal of pod " + podUid + ": " + e.getMessage());
            }
        }
    }

    /**
     * The pod is gone: unpublish its named volumes and remove its emptyDirs. With {@code release}
     * (the replica is no longer desired, e.g. scaled to 0) its volumes are also unstaged, unless
     * another pod on this node still publishes one (it unstages it when it goes); they and their
     * data stay whatever their reclaim policy (the control plane orders a deletion through a volume
     * task: {@link #deleteVolume}). The driver busy with a volume (another pod's call) is waited for,
     * briefly; other failures are logged and left to {@link #retryRemovals}.
     */
    public void podRemoved(String podUid, boolean release) {
        Path pod = podDir(podUid);
        synchronized (lockOf(podUid)) {
            removeLocked(podUid, pod, release);
        }
    }

    private void removeLocked(String podUid, Path pod, boolean release) {
        if (!Files.isDirectory(pod)) {
            return;
        }
        Properties claims = readClaims(pod);
        boolean clean = true;
        for (String name : claims.stringPropertyNames()) {
            String[] record = claims.getProperty(name).split(",", 3);
            String id = record[0];
            try {
                whenNotBusy(() -> node().nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder().setVolumeId(id)
                        .setTargetPath(pod.resolve("volumes").resolve(name).toString()).build()));
                if (release) {
                    Path staging = root.resolve("staging").resolve(id);
                    try {
                        whenNotBusy(() -> node().nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder().setVolumeId(id)
                                .setStagingTargetPath(staging.toString()).build()));
                    } catch (StatusRuntimeException e) {
                        if (e.getStatus().getCode() == io.grpc.Status.Code.FAILED_PRECONDITION) {
                            // Another pod of this node still publishes it (a surge replica, say): it unstages it when it goes.
                            LOG.info(() -> "volume " + id + " stays staged for another pod: " + e.getStatus().getDescription());
                            continue;
                        }
                        throw e;
                    }
                    Files.deleteIfExists(staging);
                    LOG.info(() -> "released volume " + id + " (unstaged; the data stays until the control plane orders a deletion)");
                    reportReleased(record, VolumeNodeStatus.State.CREATED);
                } else {
                    reportReleased(record, VolumeNodeStatus.State.STAGED);
                }
            } catch (StatusRuntimeException | IOException | IllegalStateException e) {
                clean = false;
                LOG.warning("cannot release volume " + id + " of pod " + podUid + " (retried every "
                        + RETRY_PERIOD.toSeconds() + "s): " + e.getMessage());
            }
        }
        if (clean) {
            deleteTree(pod);
            configVolumes.forget(pod);
        }
    }

    /**
     * Finishes the removals that failed or were cut short (a crash, the driver refusing): every pod
     * directory marked by {@link #podRemoving} whose pod has no sandbox left ({@code liveUids}: the
     * UIDs of the sandboxes the runtime lists, whatever their state).
     *
     * @return how many pod directories were retried
     */
    public int retryRemovals(Set<String> liveUids) {
        Path pods = root.resolve("pods");
        if (!Files.isDirectory(pods)) {
            return 0;
        }
        List<Path> marked;
        try (Stream<Path> dirs = Files.list(pods)) {
            marked = dirs.filter(dir -> Files.exists(dir.resolve(REMOVAL_FILE))).limit(MAX_RETRIES_PER_PASS).toList();
        } catch (IOException e) {
            LOG.warning("cannot list " + pods + ": " + e.getMessage());
            return 0;
        }
        int retried = 0;
        for (Path dir : marked) {
            String uid = dir.getFileName().toString();
            if (liveUids.contains(uid)) {
                continue; // its sandbox is back (adopted after a restart): not orphaned
            }
            synchronized (lockOf(uid)) {
                boolean release;
                try {
                    release = Files.readString(dir.resolve(REMOVAL_FILE)).trim().equals("release");
                } catch (IOException e) {
                    continue; // prepared again meanwhile (a pod with this UID is wanted again), or finished
                }
                retried++;
                LOG.info(() -> "finishing the removal of pod " + uid + "'s volumes");
                removeLocked(uid, dir, release);
            }
        }
        return retried;
    }

    /** Runs a CSI call, waiting while the driver answers ABORTED (another operation on the volume is in progress), boundedly. */
    private static void whenNotBusy(Runnable call) {
        for (int attempt = 1; ; attempt++) {
            try {
                call.run();
                return;
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() != io.grpc.Status.Code.ABORTED || attempt >= BUSY_ATTEMPTS) {
                    throw e;
                }
            }
            try {
                Thread.sleep(BUSY_WAIT.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted");
            }
        }
    }

    private Object lockOf(String podUid) {
        return podLocks[Math.floorMod(podUid.hashCode(), podLocks.length)];
    }

    /**
     * Deletes a volume on the control plane's order (reclaim policy Delete, or a released Volume
     * deleted through the API): unstages it if a pod left it staged, deletes it through CSI, and
     * reports it DELETED. Idempotent: a volume already gone (or never created here) is reported
     * DELETED too. {@code volumeId} is the id the control plane last heard of, or "".
     *
     * @return the CSI id deleted, or "" when this node never had the volume
     * @throws StatusRuntimeException when the driver refuses (e.g. a pod still publishes it): ask again later
     */
    public String deleteVolume(String namespace, VolumeClaim volume, String volumeId) {
        String name = csiName(namespace, volume);
        String key = namespace + "/" + volume.getName() + "/" + volume.getUid();
        String id = !volumeId.isEmpty() ? volumeId : created().getProperty(name, "");
        if (!id.isEmpty()) {
            Path staging = root.resolve("staging").resolve(id);
            try {
                try {
                    node().nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder().setVolumeId(id)
                            .setStagingTargetPath(staging.toString()).build());
                } catch (StatusRuntimeException e) {
                    if (e.getStatus().getCode() != io.grpc.Status.Code.NOT_FOUND) {
                        throw e;
                    }
                }
                controller().deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build());
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() != io.grpc.Status.Code.ABORTED) { // ABORTED: another operation on it is pending
                    report(namespace, volume.getName(), volume.getUid(), lastKnown.getOrDefault(key, VolumeNodeStatus.newBuilder()
                            .setState(VolumeNodeStatus.State.CREATED).setVolumeId(id).build()).toBuilder()
                            .setMessage("cannot delete: storage driver: " + e.getStatus().getCode() + " "
                                    + (e.getStatus().getDescription() == null ? "" : e.getStatus().getDescription())));
                }
                throw e;
            }
            try {
                Files.deleteIfExists(staging);
            } catch (IOException e) {
                LOG.warning("cannot remove " + staging + ": " + e.getMessage());
            }
        }
        forgetCreated(name);
        lastKnown.remove(key);
        nodeExpandRefused.remove(id);
        report(namespace, volume.getName(), volume.getUid(), VolumeNodeStatus.newBuilder()
                .setState(VolumeNodeStatus.State.DELETED).setVolumeId(id));
        return id;
    }

    private synchronized Properties created() {
        Properties created = new Properties();
        if (Files.exists(createdFile)) {
            try (InputStream in = Files.newInputStream(createdFile)) {
                created.load(in);
            } catch (IOException e) {
                LOG.warning("cannot read " + createdFile + ": " + e.getMessage());
            }
        }
        return created;
    }

    private synchronized void recordCreated(String name, String id) throws IOException {
        Properties created = created();
        if (!id.equals(created.getProperty(name))) {
            created.setProperty(name, id);
            writeCreated(created);
        }
    }

    private synchronized void forgetCreated(String name) {
        Properties created = created();
        if (created.remove(name) != null) {
            try {
                writeCreated(created);
            } catch (IOException e) {
                LOG.warning("cannot update " + createdFile + ": " + e.getMessage());
            }
        }
    }

    private void writeCreated(Properties created) throws IOException {
        Files.createDirectories(root);
        Path tmp = root.resolve("volumes.properties.tmp");
        try (OutputStream out = Files.newOutputStream(tmp)) {
            created.store(out, "CSI volumes this agent created: csi-name=volume-id");
        }
        Files.move(tmp, createdFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private Path podDir(String podUid) {
        if (!podUid.matches("[A-Za-z0-9-]+")) {
            throw new IllegalArgumentException("bad pod uid " + podUid);
        }
        return root.resolve("pods").resolve(podUid);
    }

    private ControllerGrpc.ControllerBlockingStub controller() {
        if (csi == null) {
            throw new IllegalStateException("no storage driver");
        }
        return ControllerGrpc.newBlockingStub(csi).withDeadlineAfter(RPC_SECONDS, TimeUnit.SECONDS);
    }

    private NodeGrpc.NodeBlockingStub node() {
        if (csi == null) {
            throw new IllegalStateException("no storage driver");
        }
        return NodeGrpc.newBlockingStub(csi).withDeadlineAfter(RPC_SECONDS, TimeUnit.SECONDS);
    }

    private static Properties readClaims(Path pod) {
        Properties claims = new Properties();
        Path file = pod.resolve("claims.properties");
        if (Files.exists(file)) {
            try (InputStream in = Files.newInputStream(file)) {
                claims.load(in);
            } catch (IOException e) {
                LOG.warning("cannot read " + file + ": " + e.getMessage());
            }
        }
        return claims;
    }

    private static void writeClaims(Path pod, Properties claims) throws IOException {
        Files.createDirectories(pod);
        Path tmp = pod.resolve("claims.properties.tmp");
        try (OutputStream out = Files.newOutputStream(tmp)) {
            claims.store(out, "CSI volumes published for this pod: name=volume-id,delete-on-release (informational),namespace/volume/uid");
        }
        Files.move(tmp, pod.resolve("claims.properties"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** Removes a file, a symlink (not what it points to) or a directory tree; failures are logged. */
    static void deleteTree(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            LOG.warning("cannot delete " + dir + ": " + e.getMessage());
        }
    }

    @Override
    public void close() {
        if (csi != null) {
            csi.shutdownNow();
        }
        if (driver != null) {
            try {
                driver.close();
            } catch (Exception e) {
                LOG.warning("closing the storage driver: " + e.getMessage());
            }
        }
    }
}
