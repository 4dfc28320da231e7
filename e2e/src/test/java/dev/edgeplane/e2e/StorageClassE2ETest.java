package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.CreateStorageClassRequest;
import dev.edgeplane.api.v1.CreateVolumeRequest;
import dev.edgeplane.api.v1.DeleteStorageClassRequest;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.GetVolumeRequest;
import dev.edgeplane.api.v1.ListStorageClassesRequest;
import dev.edgeplane.api.v1.NodeStorage;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.StorageBackend;
import dev.edgeplane.api.v1.StorageClass;
import dev.edgeplane.api.v1.StorageClassSpec;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeMount;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.testkit.Commands;
import dev.edgeplane.testkit.HostStorage;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Storage classes against two real agents, only one of which has a btrfs pool (a loop-backed btrfs
 * of 256 MiB): each agent reports what its CSI driver can serve; a btrfs Volume's consumer is placed
 * on the btrfs host and never on the other; a Volume bigger than any pool leaves its consumer
 * pending, saying why; an IMMEDIATE class binds its Volume at creation, before any consumer.
 */
class StorageClassE2ETest {
    static final String PLAIN = "edge-plain";
    static final String BTRFS = "edge-btrfs";
    static final long MIB = 1L << 20;

    @TempDir static Path dir;
    /** The btrfs host's pool: a loop-backed btrfs mounted outside {@link #dir}, whose mounts must all go. */
    static Path btrfs;
    static EdgeCluster cluster;

    @BeforeAll
    static void startEverything() throws Exception {
        btrfs = Files.createTempDirectory("edgeplane-e2e-classes-btrfs");
        Path image = btrfs.resolve("btrfs.img");
        Path mount = Files.createDirectories(btrfs.resolve("mnt"));
        try (var file = new java.io.RandomAccessFile(image.toFile(), "rw")) {
            file.setLength(256 * MIB);
        }
        Commands.run(List.of("mkfs.btrfs", "-q", "-f", image.toString()), Duration.ofSeconds(60));
        Commands.run(List.of("mount", "-o", "loop", image.toString(), mount.toString()), Duration.ofSeconds(60));
        Path pool = Files.createDirectories(mount.resolve("pool"));
        cluster = EdgeCluster.start(dir, Map.of(), EdgeCluster.FAST_AGENT, Map.of(BTRFS, List.of("--csi-btrfs-pool", pool.toString())),
                PLAIN, BTRFS);
    }

    @AfterAll
    static void stopEverything() throws Exception {
        try {
            if (cluster != null) {
                cluster.close();
            }
        } finally {
            HostStorage.releaseUnder(dir);
            if (btrfs != null) {
                HostStorage.releaseUnder(btrfs);
                Commands.run(List.of("rm", "-rf", btrfs.toString()), Duration.ofSeconds(30));
            }
        }
    }

    static NodeStorage storageOf(String node) {
        return cluster.cloud.nodes().getNode(GetNodeRequest.newBuilder().setName(node).build()).getStatus().getStorage();
    }

    static boolean has(NodeStorage storage, String backend) {
        return storage.getBackendsList().stream().anyMatch(b -> b.getName().equals(backend));
    }

    static Volume volume(String name) {
        return cluster.cloud.volumes().getVolume(GetVolumeRequest.newBuilder().setName(name).build());
    }

    static Volume createVolume(String name, String storageClass, long bytes) {
        return cluster.cloud.volumes().createVolume(CreateVolumeRequest.newBuilder().setVolume(Volume.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(bytes).setStorageClass(storageClass)
                        .setReclaimPolicy(VolumeSpec.ReclaimPolicy.DELETE))).build());
    }

    /** A sleeping App mounting {@code volume} at /data. */
    static App appUsing(String name, String volume) {
        App app = cluster.app(name, 1, "sh", "-c", "exec sleep 3600");
        var template = app.getSpec().getTemplate();
        return app.toBuilder().setSpec(app.getSpec().toBuilder().setTemplate(template.toBuilder()
                .addVolumes(PodVolume.newBuilder().setName("data").setVolume(volume))
                .setContainers(0, template.getContainers(0).toBuilder()
                        .addVolumeMounts(VolumeMount.newBuilder().setName("data").setMountPath("/data"))))).build();
    }

    static Status.Code code(Runnable call) {
        try {
            call.run();
            return Status.Code.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        }
    }

    @Test
    void eachNodeReportsTheBackendsItsDriverServes() {
        Await.until("both nodes report their storage", EdgeCluster.CONVERGE, cluster::diagnostics,
                () -> has(storageOf(PLAIN), "loopfs") && has(storageOf(BTRFS), "btrfs"));
        assertTrue(!has(storageOf(PLAIN), "btrfs"), "no btrfs pool on " + PLAIN + ": " + storageOf(PLAIN));
        StorageBackend pool = storageOf(BTRFS).getBackendsList().stream().filter(b -> b.getName().equals("btrfs")).findFirst().orElseThrow();
        assertEquals(List.of("btrfs"), pool.getFsTypesList());
        assertTrue(pool.getTotalBytes() > 128 * MIB && pool.getTotalBytes() <= 256 * MIB, "the 256 MiB pool: " + pool);
        assertTrue(pool.getFreeBytes() > 0 && pool.getFreeBytes() <= pool.getTotalBytes(), pool.toString());

        List<String> builtIn = cluster.cloud.storageClasses().listStorageClasses(ListStorageClassesRequest.getDefaultInstance())
                .getStorageClassesList().stream().map(c -> c.getMetadata().getName()).toList();
        assertTrue(builtIn.containsAll(List.of("btrfs", "loopfs", "loopfs-xfs")), builtIn.toString());
    }

    @Test
    void aBtrfsVolumesConsumerIsPlacedOnTheHostWithTheBtrfsPoolOnly() {
        Await.until("the btrfs host reports its pool", EdgeCluster.CONVERGE, cluster::diagnostics, () -> has(storageOf(BTRFS), "btrfs"));
        createVolume("db-data", "btrfs", 64 * MIB);
        cluster.create(appUsing("db", "db-data"));
        Await.until("db runs on " + BTRFS, EdgeCluster.CONVERGE, cluster::diagnostics,
                () -> !cluster.host(BTRFS).runningIds("db").isEmpty());
        assertEquals(BTRFS, volume("db-data").getStatus().getNode());
        assertTrue(cluster.host(PLAIN).allIds("db").isEmpty(), "nothing of db on the host without btrfs");
        cluster.delete("db");
    }

    @Test
    void aVolumeNoPoolHasRoomForLeavesItsConsumerPending() {
        Await.until("both nodes report their storage", EdgeCluster.CONVERGE, cluster::diagnostics,
                () -> has(storageOf(PLAIN), "loopfs") && has(storageOf(BTRFS), "btrfs"));
        createVolume("huge", "btrfs", 1024 * MIB); // the only btrfs pool has 256 MiB
        cluster.create(appUsing("hoard", "huge"));
        Await.until("hoard says why it is pending", EdgeCluster.CONVERGE, cluster::diagnostics,
                () -> cluster.get("hoard").getStatus().getMessage().contains("insufficient btrfs storage"));
        String message = cluster.get("hoard").getStatus().getMessage();
        assertTrue(message.contains("1 insufficient btrfs storage") && message.contains("1 no btrfs storage"), message);
        assertTrue(volume("huge").getStatus().getNode().isEmpty(), "not bound");
        assertTrue(cluster.host(PLAIN).allIds("hoard").isEmpty() && cluster.host(BTRFS).allIds("hoard").isEmpty());
        cluster.delete("hoard");
    }

    @Test
    void anImmediateClassBindsItsVolumeAtCreationAndCannotBeDeletedWhileUsed() {
        Await.until("the btrfs host reports its pool", EdgeCluster.CONVERGE, cluster::diagnostics, () -> has(storageOf(BTRFS), "btrfs"));
        cluster.cloud.storageClasses().createStorageClass(CreateStorageClassRequest.newBuilder().setStorageClass(StorageClass.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("btrfs-now"))
                .setSpec(StorageClassSpec.newBuilder().setBackend("btrfs")
                        .setVolumeBindingMode(StorageClassSpec.VolumeBindingMode.IMMEDIATE))).build());
        Volume early = createVolume("early", "btrfs-now", 32 * MIB);
        assertEquals(BTRFS, early.getStatus().getNode(), "bound at creation: " + early.getStatus().getMessage());
        assertEquals(VolumeStatus.Phase.PENDING, early.getStatus().getPhase(), "not created on the node before it is used");

        // Too big for any pool: stays unbound, saying why.
        Volume tooBig = createVolume("too-big", "btrfs-now", 1024 * MIB);
        assertTrue(tooBig.getStatus().getNode().isEmpty());
        assertTrue(tooBig.getStatus().getMessage().contains("insufficient btrfs storage"), tooBig.getStatus().getMessage());

        try {
            cluster.cloud.storageClasses().deleteStorageClass(DeleteStorageClassRequest.newBuilder().setName("btrfs-now").build());
            throw new AssertionError("a class in use was deleted");
        } catch (StatusRuntimeException e) {
            assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().contains("default/early"), e.getStatus().getDescription());
        }
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> createVolume("nowhere", "no-such-class", 32 * MIB)));
    }

    @Test
    void edgectlAppliesListsAndDescribesStorageClasses() throws Exception {
        Await.until("the btrfs host reports its pool", EdgeCluster.CONVERGE, cluster::diagnostics, () -> has(storageOf(BTRFS), "btrfs"));
        Path manifest = dir.resolve("gold.yaml");
        Files.writeString(manifest, String.join("\n",
                "kind: StorageClass",
                "metadata:",
                "  name: gold",
                "spec:",
                "  backend: loopfs",
                "  fsType: xfs",
                "  reclaimPolicy: DELETE",
                "  allowVolumeExpansion: true",
                "  volumeBindingMode: IMMEDIATE",
                ""));
        assertTrue(cluster.edgectl("apply", "-f", manifest.toString()).contains("storageclass/gold created"));
        assertTrue(cluster.edgectl("apply", "-f", manifest.toString()).contains("storageclass/gold unchanged"));
        String table = cluster.edgectl("get", "storageclasses");
        String gold = table.lines().filter(l -> l.startsWith("gold ")).findFirst().orElse("");
        assertTrue(gold.contains("loopfs") && gold.contains("xfs") && gold.contains("Delete") && gold.contains("Immediate")
                && gold.contains("true"), table);
        assertTrue(table.lines().anyMatch(l -> l.startsWith("loopfs (default) ")), table);
        String described = cluster.edgectl("describe", "storageclass", "btrfs");
        assertTrue(described.contains(BTRFS) && !described.contains(PLAIN), described);
        assertTrue(cluster.edgectl("describe", "node", BTRFS).contains("btrfs (btrfs): "));
        cluster.edgectl("delete", "storageclass", "gold");
        assertEquals(Status.Code.NOT_FOUND, code(() -> cluster.cloud.storageClasses().getStorageClass(
                dev.edgeplane.api.v1.GetStorageClassRequest.newBuilder().setName("gold").build())));
    }
}
