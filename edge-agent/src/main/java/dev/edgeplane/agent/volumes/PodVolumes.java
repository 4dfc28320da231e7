package dev.edgeplane.agent.volumes;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.VolumeClaim;
import dev.edgeplane.csi.v1.ControllerGrpc;
import dev.edgeplane.csi.v1.CreateVolumeRequest;
import dev.edgeplane.csi.v1.CapacityRange;
import dev.edgeplane.csi.v1.DeleteVolumeRequest;
import dev.edgeplane.csi.v1.NodeGrpc;
import dev.edgeplane.csi.v1.NodePublishVolumeRequest;
import dev.edgeplane.csi.v1.NodeStageVolumeRequest;
import dev.edgeplane.csi.v1.NodeUnpublishVolumeRequest;
import dev.edgeplane.csi.v1.NodeUnstageVolumeRequest;
import dev.edgeplane.csi.v1.VolumeCapability;
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
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * The volumes of the agent's pods. Per pod (by pod UID) a directory {@code <root>/pods/<uid>} holds
 * its emptyDirs ({@code empty-dir/<name>}, removed with the pod), the publish targets of its named
 * volumes ({@code volumes/<name>}) and {@code claims.properties}, the record of which CSI volumes
 * it published, so a restarted agent can still unpublish them. Named volumes go through the CSI
 * driver like a kubelet would: CreateVolume (idempotent by name), NodeStageVolume to
 * {@code <root>/staging/<volume-id>}, NodePublishVolume to the pod's target. hostPath is used as is.
 */
public final class PodVolumes implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(PodVolumes.class.getName());
    private static final long RPC_SECONDS = 120;
    private static final VolumeCapability CAPABILITY = VolumeCapability.newBuilder()
            .setMount(VolumeCapability.MountVolume.getDefaultInstance())
            .setAccessMode(VolumeCapability.AccessMode.newBuilder()
                    .setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER))
            .build();

    private final Path root;
    private final ManagedChannel csi; // null: named volumes are refused
    private final AutoCloseable driver;

    /**
     * @param root   the agent's volume dir (emptyDirs, publish and staging targets)
     * @param csi    a channel to the CSI driver's Controller and Node services, or null
     * @param driver closed with this (an in-process driver), or null
     */
    public PodVolumes(Path root, ManagedChannel csi, AutoCloseable driver) {
        this.root = root.toAbsolutePath().normalize();
        this.csi = csi;
        this.driver = driver;
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
        Map<String, Path> paths = new LinkedHashMap<>();
        Path pod = podDir(podUid);
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
                    case VOLUME -> {
                        VolumeClaim claim = assignment.getVolumesMap().get(volume.getVolume());
                        if (claim == null) {
                            throw new VolumeException("volume " + volume.getVolume() + " is not resolved in the assignment", null);
                        }
                        Path target = pod.resolve("volumes").resolve(volume.getName());
                        String id = publish(assignment.getNamespace(), claim, target);
                        if (!(id + "," + claim.getDeleteOnRelease()).equals(claims.getProperty(volume.getName()))) {
                            claims.setProperty(volume.getName(), id + "," + claim.getDeleteOnRelease());
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
        try {
            long started = System.nanoTime();
            String id = controller().createVolume(CreateVolumeRequest.newBuilder()
                    .setName(csiName(namespace, claim))
                    .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(claim.getSizeBytes()))
                    .addVolumeCapabilities(CAPABILITY)
                    .putAllParameters(claim.getParametersMap())
                    .build()).getVolume().getVolumeId();
            Path staging = root.resolve("staging").resolve(id);
            Files.createDirectories(staging);
            node().nodeStageVolume(NodeStageVolumeRequest.newBuilder().setVolumeId(id)
                    .setStagingTargetPath(staging.toString()).setVolumeCapability(CAPABILITY).build());
            Files.createDirectories(target.getParent());
            node().nodePublishVolume(NodePublishVolumeRequest.newBuilder().setVolumeId(id)
                    .setStagingTargetPath(staging.toString()).setTargetPath(target.toString())
                    .setVolumeCapability(CAPABILITY).build());
            LOG.fine(() -> "volume " + namespace + "/" + claim.getName() + " (" + id + ") ready at " + target + " in "
                    + (System.nanoTime() - started) / 1_000_000 + " ms");
            return id;
        } catch (StatusRuntimeException e) {
            throw new VolumeException("volume " + claim.getName() + ": storage driver: " + e.getStatus().getCode() + " "
                    + (e.getStatus().getDescription() == null ? "" : e.getStatus().getDescription()), e);
        } catch (IOException e) {
            throw new VolumeException("volume " + claim.getName() + ": " + e.getMessage(), e);
        }
    }

    /**
     * The pod is gone: unpublish its named volumes and remove its emptyDirs. With {@code release}
     * (the replica is no longer desired) its volumes are also unstaged, and deleted when their
     * reclaim policy says so. Failures are logged and retried by the next removal.
     */
    public void podRemoved(String podUid, boolean release) {
        Path pod = podDir(podUid);
        if (!Files.isDirectory(pod)) {
            return;
        }
        Properties claims = readClaims(pod);
        boolean clean = true;
        for (String name : claims.stringPropertyNames()) {
            String[] record = claims.getProperty(name).split(",", 2);
            String id = record[0];
            boolean delete = record.length > 1 && Boolean.parseBoolean(record[1]);
            try {
                node().nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder().setVolumeId(id)
                        .setTargetPath(pod.resolve("volumes").resolve(name).toString()).build());
                if (release) {
                    Path staging = root.resolve("staging").resolve(id);
                    node().nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder().setVolumeId(id)
                            .setStagingTargetPath(staging.toString()).build());
                    Files.deleteIfExists(staging);
                    if (delete) {
                        controller().deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build());
                        LOG.info(() -> "deleted volume " + id + " (reclaim policy Delete)");
                    } else {
                        LOG.info(() -> "released volume " + id + " (reclaim policy Retain: the data stays)");
                    }
                }
            } catch (StatusRuntimeException | IOException | IllegalStateException e) {
                clean = false;
                LOG.warning("cannot release volume " + id + " of pod " + podUid + ": " + e.getMessage());
            }
        }
        if (clean) {
            deleteTree(pod);
        }
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
            claims.store(out, "CSI volumes published for this pod: name=volume-id,delete-on-release");
        }
        Files.move(tmp, pod.resolve("claims.properties"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static void deleteTree(Path dir) {
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
