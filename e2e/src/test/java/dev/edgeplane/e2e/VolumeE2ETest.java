package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateVolumeRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.EnvVar;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.GetVolumeRequest;
import dev.edgeplane.api.v1.HostPathSource;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.UpdateAppRequest;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeMount;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.api.v1.VolumeStatus;
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
 * A Volume through the whole platform: created through the API, bound to the node of its first
 * consumer, provisioned by the agent's in-process CSI driver (a real loop device, ext4), mounted
 * into the container through CRI; its data survives the pod being replaced and the App being
 * scaled to 0 and back (reclaim policy Delete applies only when the volume is released); deleting
 * the App deletes it on the node's order from the control plane. Mounts and loop devices under the
 * test dir are cleaned up even on failure.
 */
class VolumeE2ETest {
    static final Duration CONVERGE = EdgeCluster.CONVERGE;
    static final String NODE = "edge-vol";

    @TempDir static Path dir;
    static EdgeCluster cluster;

    @BeforeAll
    static void startEverything() throws Exception {
        cluster = EdgeCluster.start(dir, NODE, List.of("--backoff-initial", "1s", "--backoff-max", "2s"));
    }

    @AfterAll
    static void stopEverything() throws Exception {
        try {
            if (cluster != null) {
                cluster.close();
            }
        } finally {
            HostStorage.releaseUnder(dir);
        }
    }



    static App app(Path out, String version) {
        String script = "echo " + version + " >> /data/runs; cp /data/runs /out/runs; sleep 3600";
        return App.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("recorder"))
                .setSpec(AppSpec.newBuilder().setReplicas(1).setTemplate(PodTemplate.newBuilder()
                        .setTerminationGraceSeconds(1)
                        .addVolumes(PodVolume.newBuilder().setName("data").setVolume("recordings"))
                        .addVolumes(PodVolume.newBuilder().setName("out").setHostPath(HostPathSource.newBuilder().setPath(out.toString())))
                        .addContainers(Container.newBuilder().setName("main").setImage(cluster.image)
                                .addAllCommand(List.of("sh", "-c", script))
                                .addEnv(EnvVar.newBuilder().setName("VERSION").setValue(version))
                                .addVolumeMounts(VolumeMount.newBuilder().setName("data").setMountPath("/data"))
                                .addVolumeMounts(VolumeMount.newBuilder().setName("out").setMountPath("/out")))))
                .build();
    }

    static List<String> lines(Path file) {
        try {
            return Files.exists(file) ? Files.readAllLines(file) : List.of();
        } catch (IOException e) {
            return List.of();
        }
    }

    static boolean volumeGone() {
        try {
            cluster.cloud.volumes().getVolume(GetVolumeRequest.newBuilder().setName("recordings").build());
            return false;
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode() == Status.Code.NOT_FOUND;
        }
    }

    /**
     * The storage driver's volume records ({@code <id>.json}): not the hidden temporary file of a record
     * being rewritten, which the driver renames over it (a staging change can be in flight when we look).
     */
    static List<String> csiVolumeRecords(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".json") && !n.startsWith(".")).toList();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static List<String> mountsUnder(Path root) {
        try {
            return Files.readAllLines(Path.of("/proc/self/mounts")).stream().filter(l -> l.split(" ")[1].startsWith(root.toString())).toList();
        } catch (IOException e) {
            return List.of("unreadable");
        }
    }

    @Test
    void volumeBindsOnFirstUseKeepsDataAcrossPodReplacementAndGoesWithItsApp() throws Exception {
        Path out = Files.createDirectories(dir.resolve("out"));
        Volume created = cluster.cloud.volumes().createVolume(CreateVolumeRequest.newBuilder().setVolume(Volume.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("recordings"))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(32L << 20).setReclaimPolicy(VolumeSpec.ReclaimPolicy.DELETE))).build());
        assertEquals(VolumeStatus.Phase.PENDING, created.getStatus().getPhase());

        long started = System.nanoTime();
        cluster.cloud.apps().createApp(CreateAppRequest.newBuilder().setApp(app(out, "v1")).build());
        Await.until("the container wrote to its volume", CONVERGE, cluster.host::logTail, () -> lines(out.resolve("runs")).size() == 1);
        System.out.printf("create-App-to-container-wrote-on-its-volume through the agent (schedule, bind, sync, CSI create/stage/publish"
                + " of a 32 MiB loopfs ext4 volume, pull, start): %d ms%n", (System.nanoTime() - started) / 1_000_000);
        Volume bound = cluster.cloud.volumes().getVolume(GetVolumeRequest.newBuilder().setName("recordings").build());
        assertEquals(VolumeStatus.Phase.BOUND, bound.getStatus().getPhase());
        assertEquals(NODE, bound.getStatus().getNode(), "bound to the node of its first consumer");
        assertEquals("recorder-0", bound.getStatus().getReplica());
        Path agentVolumes = cluster.host.stateDir().resolve("volumes");
        assertTrue(mountsUnder(agentVolumes).stream().anyMatch(l -> l.startsWith("/dev/loop")), "a loop device under the agent's volume dir");

        // A new template replaces the pod (and its container): the data is still there. The pod being available,
        // the rollout surges: a second replica publishes the same volume on this node before the first goes, and
        // scaling to 0 right after removes both pods at once.
        Await.until("the replica is available", CONVERGE, cluster.host::logTail,
                () -> cluster.cloud.apps().getApp(GetAppRequest.newBuilder().setName("recorder").build()).getStatus().getAvailableReplicas() == 1);
        App current = cluster.cloud.apps().getApp(GetAppRequest.newBuilder().setName("recorder").build());
        cluster.cloud.apps().updateApp(UpdateAppRequest.newBuilder().setApp(app(out, "v2").toBuilder()
                .setMetadata(current.getMetadata())).build());
        Await.until("the replacement appended to the same volume", CONVERGE, cluster.host::logTail,
                () -> lines(out.resolve("runs")).equals(List.of("v1", "v2")));

        // Scaled to 0: the pod goes, the volume is unmounted but kept (reclaim policy Delete is about release).
        Path csiVolumes = cluster.host.stateDir().resolve("csi/volumes");
        current = cluster.cloud.apps().getApp(GetAppRequest.newBuilder().setName("recorder").build());
        cluster.cloud.apps().updateApp(UpdateAppRequest.newBuilder().setApp(current.toBuilder()
                .setSpec(current.getSpec().toBuilder().setReplicas(0))).build());
        Await.until("the volume is AVAILABLE and unmounted", CONVERGE, cluster.host::logTail,
                () -> cluster.cloud.volumes().getVolume(GetVolumeRequest.newBuilder().setName("recordings").build()).getStatus()
                        .getPhase() == VolumeStatus.Phase.AVAILABLE && mountsUnder(agentVolumes).isEmpty());
        List<String> records = csiVolumeRecords(csiVolumes);
        assertEquals(1, records.size(), "the CSI volume is kept on the node: " + records);
        // Back to 1: the new pod finds the data.
        current = cluster.cloud.apps().getApp(GetAppRequest.newBuilder().setName("recorder").build());
        cluster.cloud.apps().updateApp(UpdateAppRequest.newBuilder().setApp(current.toBuilder()
                .setSpec(current.getSpec().toBuilder().setReplicas(1))).build());
        Await.until("the pod after scaling back appended to the same data", CONVERGE, cluster.host::logTail,
                () -> lines(out.resolve("runs")).equals(List.of("v1", "v2", "v2")));

        // Deleting the App deletes the volume (reclaim policy Delete): the resource, the mounts, the loop device.
        cluster.cloud.apps().deleteApp(DeleteAppRequest.newBuilder().setName("recorder").build());
        Await.until("the Volume resource is deleted", CONVERGE, cluster.host::logTail, VolumeE2ETest::volumeGone);
        Await.until("nothing mounted under the agent's volume dir", CONVERGE, cluster.host::logTail,
                () -> mountsUnder(agentVolumes).isEmpty());
        Await.until("the CSI volume is deleted on the node", CONVERGE, cluster.host::logTail,
                () -> csiVolumeRecords(csiVolumes).isEmpty());
        assertTrue(HostStorage.loopDevicesUnder(dir).isEmpty(), "no loop device left attached");
    }
}
