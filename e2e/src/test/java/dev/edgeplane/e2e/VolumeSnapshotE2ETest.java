package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateVolumeRequest;
import dev.edgeplane.api.v1.CreateVolumeSnapshotRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.DeleteVolumeSnapshotRequest;
import dev.edgeplane.api.v1.EnvVar;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.GetVolumeRequest;
import dev.edgeplane.api.v1.GetVolumeSnapshotRequest;
import dev.edgeplane.api.v1.HostPathSource;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.UpdateAppRequest;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeMount;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotSpec;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.testkit.Commands;
import dev.edgeplane.testkit.HostStorage;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A VolumeSnapshot through the whole platform, on a real loop device: an App writes to its volume;
 * the snapshot is taken by the node's agent through its in-process CSI driver and becomes
 * ready_to_use; the App overwrites the data; a Volume restored from the snapshot (pinned to the
 * same node) and mounted by a second App shows the OLD data. The snapshot cannot be deleted while
 * the restored volume still needs it; afterwards it is deleted on the node, and deleting the Apps
 * deletes both volumes (Delete): no mount, loop device, CSI volume or snapshot is left behind.
 * The same Apps also mount a btrfs volume (the agent's driver has a pool on a loop-backed btrfs
 * outside the test dir): it is snapshotted and restored beside the loopfs one, at the cost of a
 * snapshot and a restore, no extra pods.
 */
class VolumeSnapshotE2ETest {
    static final Duration CONVERGE = EdgeCluster.CONVERGE;
    static final String NODE = "edge-snap";

    @TempDir static Path dir;
    /** A loop-backed btrfs mounted here for the driver's btrfs pool; outside {@link #dir}, whose mounts must all go. */
    static Path btrfs;
    static EdgeCluster cluster;

    @BeforeAll
    static void startEverything() throws Exception {
        btrfs = Files.createTempDirectory("edgeplane-e2e-btrfs");
        Path image = btrfs.resolve("btrfs.img");
        Path mount = Files.createDirectories(btrfs.resolve("mnt"));
        try (var file = new java.io.RandomAccessFile(image.toFile(), "rw")) {
            file.setLength(256L << 20);
        }
        Commands.run(List.of("mkfs.btrfs", "-q", "-f", image.toString()), Duration.ofSeconds(60));
        Commands.run(List.of("mount", "-o", "loop", image.toString(), mount.toString()), Duration.ofSeconds(60));
        Path pool = Files.createDirectories(mount.resolve("pool"));
        cluster = EdgeCluster.start(dir, NODE, List.of("--backoff-initial", "1s", "--backoff-max", "2s", "--sync-period", "2s",
                "--csi-btrfs-pool", pool.toString()));
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

    /** {@link #app} with a second volume, {@code volumeB}, at /data-b. */
    static App app(String name, String volume, String volumeB, Path out, String script, String version, String image) {
        App app = app(name, volume, out, script, version, image);
        PodTemplate template = app.getSpec().getTemplate();
        return app.toBuilder().setSpec(app.getSpec().toBuilder().setTemplate(template.toBuilder()
                .addVolumes(PodVolume.newBuilder().setName("data-b").setVolume(volumeB))
                .setContainers(0, template.getContainers(0).toBuilder()
                        .addVolumeMounts(VolumeMount.newBuilder().setName("data-b").setMountPath("/data-b"))))).build();
    }

    /** An App mounting {@code volume} at /data and a host dir at /out, running {@code script} in {@code image}. */
    static App app(String name, String volume, Path out, String script, String version, String image) {
        return App.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(AppSpec.newBuilder().setReplicas(1).setTemplate(PodTemplate.newBuilder()
                        .setTerminationGraceSeconds(1)
                        .addVolumes(PodVolume.newBuilder().setName("data").setVolume(volume))
                        .addVolumes(PodVolume.newBuilder().setName("out").setHostPath(HostPathSource.newBuilder().setPath(out.toString())))
                        .addContainers(Container.newBuilder().setName("main").setImage(image)
                                .addAllCommand(List.of("sh", "-c", script))
                                .addEnv(EnvVar.newBuilder().setName("VERSION").setValue(version))
                                .addVolumeMounts(VolumeMount.newBuilder().setName("data").setMountPath("/data"))
                                .addVolumeMounts(VolumeMount.newBuilder().setName("out").setMountPath("/out")))))
                .build();
    }

    static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file).trim() : "";
        } catch (IOException e) {
            return "";
        }
    }

    static Volume volume(String name) {
        return cluster.cloud.volumes().getVolume(GetVolumeRequest.newBuilder().setName(name).build());
    }

    static VolumeSnapshot snapshot(String name) {
        return cluster.cloud.volumes().getVolumeSnapshot(GetVolumeSnapshotRequest.newBuilder().setName(name).build());
    }

    static Status.Code code(Runnable call) {
        try {
            call.run();
            return Status.Code.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        }
    }

    /** edgectl, as operators run it, against this cluster; fails the test on a non-zero exit. */
    static String edgectl(String... args) {
        List<String> cmd = new java.util.ArrayList<>(Binaries.edgectl());
        cmd.addAll(List.of("--insecure", "--server", cluster.cloud.apiAddress(), "--token-file", cluster.cloud.adminTokenFile().toString()));
        cmd.addAll(List.of(args));
        Commands.Result r = Commands.exec(cmd, java.util.Map.of(), Duration.ofSeconds(120));
        assertEquals(0, r.exitCode(), String.join(" ", args) + ": " + r.output());
        return r.output();
    }

    static String lineOf(String table, String name) {
        return table.lines().filter(l -> l.contains(" " + name + " ")).findFirst().orElse("");
    }

    static boolean emptyDir(Path path) {
        if (!Files.isDirectory(path)) {
            return true;
        }
        try (Stream<Path> entries = Files.list(path)) {
            return entries.findAny().isEmpty();
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void snapshotIsTakenOnTheNodeAndARestoredVolumeShowsTheOldData() throws Exception {
        Path out = Files.createDirectories(dir.resolve("out"));
        Path csi = cluster.host.stateDir().resolve("csi");
        cluster.cloud.volumes().createVolume(CreateVolumeRequest.newBuilder().setVolume(Volume.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("data"))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(32L << 20).setReclaimPolicy(VolumeSpec.ReclaimPolicy.DELETE))).build());
        cluster.cloud.volumes().createVolume(CreateVolumeRequest.newBuilder().setVolume(Volume.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("data-b"))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(32L << 20).setStorageClass("btrfs")
                        .setReclaimPolicy(VolumeSpec.ReclaimPolicy.DELETE))).build());
        VolumeSnapshot request = VolumeSnapshot.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("before-upgrade"))
                .setSpec(VolumeSnapshotSpec.newBuilder().setVolume("data")).build();
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> cluster.cloud.volumes().createVolumeSnapshot(
                CreateVolumeSnapshotRequest.newBuilder().setSnapshot(request).build())), "a volume on no node has nothing to snapshot");

        // 1. The App writes "old"; its volume is bound, and the agent reports it published.
        String writer = "echo $VERSION > /data/value && echo $VERSION > /data-b/value && sync && cp /data-b/value /out/writer-b"
                + " && cp /data/value /out/writer; sleep 3600";
        cluster.cloud.apps().createApp(CreateAppRequest.newBuilder().setApp(app("writer", "data", "data-b", out, writer, "old", cluster.image))
                .build());
        Await.until("the writer wrote \"old\"", CONVERGE, cluster.host::logTail, () -> read(out.resolve("writer")).equals("old"));
        assertEquals("old", read(out.resolve("writer-b")));
        Await.until("the node reports the volume published", CONVERGE, cluster.host::logTail,
                () -> volume("data").getStatus().getNodeStatus().getState() == VolumeNodeStatus.State.PUBLISHED);
        Volume data = volume("data");
        assertEquals(VolumeStatus.Phase.BOUND, data.getStatus().getPhase());
        assertEquals(NODE, data.getStatus().getNode());
        assertFalse(data.getStatus().getNodeStatus().getVolumeId().isEmpty());
        assertTrue(data.getStatus().getNodeStatus().getCapacityBytes() >= 32L << 20);

        // 2. The snapshot: taken on the node through CSI, ready_to_use with its id, size and time.
        long started = System.nanoTime();
        VolumeSnapshot created = cluster.cloud.volumes().createVolumeSnapshot(
                CreateVolumeSnapshotRequest.newBuilder().setSnapshot(request).build());
        assertFalse(created.getStatus().getReadyToUse());
        Await.until("the snapshot is ready to use", CONVERGE, cluster.host::logTail,
                () -> snapshot("before-upgrade").getStatus().getReadyToUse());
        System.out.printf("CreateVolumeSnapshot-to-ready_to_use through the platform (32 MiB loopfs ext4, mounted, frozen while copied): %d ms%n",
                (System.nanoTime() - started) / 1_000_000);
        VolumeSnapshot ready = snapshot("before-upgrade");
        assertFalse(ready.getStatus().getSnapshotId().isEmpty());
        assertTrue(ready.getStatus().getSizeBytes() >= 32L << 20, "size " + ready.getStatus().getSizeBytes());
        assertTrue(ready.getStatus().hasCreationTime());
        assertEquals(NODE, ready.getStatus().getNode());
        assertFalse(emptyDir(csi.resolve("snapshots")), "the driver recorded the snapshot");
        String listed = lineOf(edgectl("get", "volumesnapshots"), "before-upgrade");
        assertTrue(listed.contains(" true ") && listed.contains(NODE), "edgectl shows it ready: " + listed);
        String volumeLine = lineOf(edgectl("get", "volumes"), "data");
        assertTrue(volumeLine.contains("BOUND") && volumeLine.contains(NODE) && volumeLine.contains("PUBLISHED"), volumeLine);
        // The btrfs volume's snapshot: a read-only btrfs snapshot of its subvolume.
        cluster.cloud.volumes().createVolumeSnapshot(CreateVolumeSnapshotRequest.newBuilder().setSnapshot(VolumeSnapshot.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("before-upgrade-b")).setSpec(VolumeSnapshotSpec.newBuilder().setVolume("data-b")))
                .build());
        Await.until("the btrfs snapshot is ready to use", CONVERGE, cluster.host::logTail,
                () -> snapshot("before-upgrade-b").getStatus().getReadyToUse());
        assertEquals("btrfs", snapshot("before-upgrade-b").getStatus().getStorageClass());

        // 3. The App overwrites the data (a new template replaces its pod; same volume).
        App current = cluster.cloud.apps().getApp(GetAppRequest.newBuilder().setName("writer").build());
        cluster.cloud.apps().updateApp(UpdateAppRequest.newBuilder().setApp(app("writer", "data", "data-b", out, writer, "new", cluster.image)
                .toBuilder().setMetadata(current.getMetadata())).build());
        Await.until("the writer overwrote it with \"new\"", CONVERGE, cluster.host::logTail, () -> read(out.resolve("writer")).equals("new"));
        assertEquals("new", read(out.resolve("writer-b")));

        // 4. A volume restored from the snapshot: pinned to the snapshot's node, waiting for its first consumer.
        Path manifest = Files.writeString(dir.resolve("restored.yaml"), """
                kind: Volume
                metadata: {name: restored}
                spec: {sourceSnapshot: before-upgrade, reclaimPolicy: RETAIN}
                """);
        assertEquals("volume/default/restored created", edgectl("apply", "-f", manifest.toString()).trim());
        assertEquals("volume/default/restored unchanged", edgectl("apply", "-f", manifest.toString()).trim());
        Volume restored = volume("restored");
        assertEquals(NODE, restored.getStatus().getNode());
        assertEquals(VolumeStatus.Phase.PENDING, restored.getStatus().getPhase());
        assertEquals(ready.getStatus().getSizeBytes(), restored.getSpec().getSizeBytes(), "the snapshot's size by default");
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> cluster.cloud.volumes().deleteVolumeSnapshot(
                DeleteVolumeSnapshotRequest.newBuilder().setName("before-upgrade").build())),
                "the restored volume is not created yet: it still needs the snapshot");

        cluster.cloud.volumes().createVolume(CreateVolumeRequest.newBuilder().setVolume(Volume.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("restored-b"))
                .setSpec(VolumeSpec.newBuilder().setSourceSnapshot("before-upgrade-b").setReclaimPolicy(VolumeSpec.ReclaimPolicy.DELETE)))
                .build());
        assertEquals("btrfs", volume("restored-b").getSpec().getStorageClass(), "the snapshot's class by default");

        // 5. A second App mounts the restored volumes and sees the OLD data on both backends.
        cluster.cloud.apps().createApp(CreateAppRequest.newBuilder().setApp(app("reader", "restored", "restored-b", out,
                "cat /data-b/value > /out/reader-b; cat /data/value > /out/reader; sleep 3600", "r", cluster.image)).build());
        Await.until("the reader sees the data as it was at the snapshot", CONVERGE, cluster.host::logTail,
                () -> read(out.resolve("reader")).equals("old"));
        assertEquals("old", read(out.resolve("reader-b")), "btrfs: restored as a writable snapshot of the snapshot");
        assertEquals("new", read(out.resolve("writer")), "the original volume keeps its new data");
        assertEquals("new", read(out.resolve("writer-b")));
        Await.until("the restored volume is reported created on the node", CONVERGE, cluster.host::logTail,
                () -> volume("restored").getStatus().getNodeStatus().getState() == VolumeNodeStatus.State.PUBLISHED);
        assertEquals(VolumeStatus.Phase.BOUND, volume("restored").getStatus().getPhase());

        // 6. Now the snapshot may go: deleted on the node too.
        assertEquals("volumesnapshot/default/before-upgrade deleted", edgectl("delete", "volumesnapshot", "before-upgrade").trim());
        Await.until("the restored btrfs volume is created on the node", CONVERGE, cluster.host::logTail,
                () -> volume("restored-b").getStatus().getNodeStatus().getState() == VolumeNodeStatus.State.PUBLISHED);
        assertEquals("volumesnapshot/default/before-upgrade-b deleted", edgectl("delete", "volumesnapshot", "before-upgrade-b").trim());
        assertEquals(Status.Code.NOT_FOUND, code(() -> snapshot("before-upgrade")));
        Await.until("the node deleted its copy", CONVERGE, cluster.host::logTail, () -> emptyDir(csi.resolve("snapshots")));
        assertEquals("old", read(out.resolve("reader")), "the restored volume does not depend on the snapshot");
        assertEquals("old", read(out.resolve("reader-b")));

        // 7. Deleting the Apps deletes "data" (Delete) and releases "restored" (Retain: its data stays on the node).
        cluster.cloud.apps().deleteApp(DeleteAppRequest.newBuilder().setName("reader").build());
        cluster.cloud.apps().deleteApp(DeleteAppRequest.newBuilder().setName("writer").build());
        Await.until("\"data\" is deleted, \"restored\" RELEASED", CONVERGE, cluster.host::logTail,
                () -> code(() -> volume("data")) == Status.Code.NOT_FOUND && code(() -> volume("data-b")) == Status.Code.NOT_FOUND
                        && code(() -> volume("restored-b")) == Status.Code.NOT_FOUND
                        && volume("restored").getStatus().getPhase() == VolumeStatus.Phase.RELEASED);
        Await.until("only the released volume is left on the node", CONVERGE, cluster.host::logTail, () -> {
            try (Stream<Path> records = Files.list(csi.resolve("volumes"))) {
                return records.count() == 1;
            } catch (IOException e) {
                return false;
            }
        });

        // 8. Deleting the released volume through the API: its node deletes the data, then the resource goes.
        // Deleted at once or, while its node still deletes the data, DELETING: both are said as such.
        String deleted = edgectl("delete", "volume", "restored").trim();
        assertTrue(deleted.equals("volume/default/restored deleted")
                || deleted.startsWith("volume/default/restored deleting: node " + cluster.host.name()), deleted);
        Await.until("the released Volume resource is removed once its node confirmed", CONVERGE, cluster.host::logTail,
                () -> code(() -> volume("restored")) == Status.Code.NOT_FOUND);
        assertTrue(emptyDir(csi.resolve("volumes")), "the node deleted it before the resource went");
        Await.until("nothing of the test mounted", CONVERGE, cluster.host::logTail,
                () -> VolumeE2ETest.mountsUnder(dir).isEmpty());
        assertTrue(HostStorage.loopDevicesUnder(dir).isEmpty(), "no loop device left attached");
        assertTrue(Files.readAllLines(Path.of("/proc/mounts")).stream().noneMatch(l -> l.contains(dir.toString())), "no mount left");
    }
}
