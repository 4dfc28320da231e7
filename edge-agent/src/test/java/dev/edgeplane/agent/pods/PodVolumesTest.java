package dev.edgeplane.agent.pods;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.Await;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.journal.JournalStore;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.agent.status.StatusManager;
import dev.edgeplane.agent.volumes.PodVolumes;
import dev.edgeplane.agent.volumes.StorageDrivers;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.EmptyDirSource;
import dev.edgeplane.api.v1.EnvVar;
import dev.edgeplane.api.v1.HostPathSource;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.api.v1.VolumeClaim;
import dev.edgeplane.api.v1.VolumeMount;
import dev.edgeplane.storage.StorageDriverConfig;
import dev.edgeplane.testkit.Containerd;
import dev.edgeplane.testkit.HostStorage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pod volumes through the reconciler, a real containerd and the CSI driver hosted in process: a
 * loop-device-backed ext4 volume, an emptyDir and a hostPath. Cleans up mounts and loop devices
 * under its temp dir even when it fails.
 */
class PodVolumesTest {
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static Containerd containerd;
    private static CriRuntime cri;

    @TempDir
    Path tmp;
    private DesiredStateStore desired;
    private Reconciler reconciler;
    private PodVolumes volumes;
    private final AtomicLong revision = new AtomicLong();

    @BeforeAll
    static void startContainerd() {
        containerd = Containerd.start();
        cri = CriRuntime.connect(containerd.endpoint());
    }

    @AfterAll
    static void stopContainerd() {
        if (cri != null) {
            Pods.removeAll(cri);
            cri.close();
        }
        if (containerd != null) {
            containerd.close();
        }
    }

    @BeforeEach
    void startReconciler() {
        desired = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
        ReconcilerSettings settings = ReconcilerSettings.defaults("node-1", tmp.resolve("logs"))
                .withSyncPeriod(Duration.ofMillis(500))
                .withBackoff(Duration.ofMillis(200), Duration.ofSeconds(1), Duration.ofMinutes(10))
                .withPolicy(new HostPolicy(false, java.util.List.of(tmp)));
        volumes = StorageDrivers.inProcess(tmp.resolve("volumes"), StorageDriverConfig.of(tmp.resolve("csi"), "node-1"));
        reconciler = new Reconciler(cri, desired, new StatusManager(Clock.systemUTC()), settings, Clock.systemUTC(), volumes);
        reconciler.start();
    }

    @AfterEach
    void cleanUp() throws Exception {
        try {
            reconciler.close();
            Pods.removeAll(cri);
            volumes.close();
        } finally {
            // Whatever the test left: unmount everything under tmp (deepest first), detach its loop devices.
            HostStorage.releaseUnder(tmp);
        }
    }


    private void desire(Assignment... assignments) throws Exception {
        desired.applySnapshot(Snapshot.newBuilder().setRevision(revision.incrementAndGet()).addAllAssignments(List.of(assignments)).build());
    }

    private static long lines(Path file) {
        try {
            return Files.exists(file) ? Files.readAllLines(file).size() : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    private static List<String> mountsUnder(Path dir) throws IOException {
        return Files.readAllLines(Path.of("/proc/self/mounts")).stream().filter(l -> l.split(" ")[1].startsWith(dir.toString())).toList();
    }

    private static Assignment app(String ns, Path host, String version) {
        // Each start appends a line to the volume and copies the volume's (and the emptyDir's) view to the host.
        String script = "echo " + version + " >> /data/runs; echo x >> /scratch/runs; "
                + "cp /data/runs /host/data-runs; cp /scratch/runs /host/scratch-runs; grep -c ' /data ext4 ' /proc/mounts > /host/fs; sleep 3600";
        PodTemplate template = Pods.template(PodTemplate.RestartPolicy.ALWAYS,
                Pods.container("main", Pods.BUSYBOX, "sh", "-c", script).toBuilder()
                        .addEnv(EnvVar.newBuilder().setName("VERSION").setValue(version))
                        .addVolumeMounts(VolumeMount.newBuilder().setName("data").setMountPath("/data"))
                        .addVolumeMounts(VolumeMount.newBuilder().setName("scratch").setMountPath("/scratch"))
                        .addVolumeMounts(VolumeMount.newBuilder().setName("host").setMountPath("/host"))
                        .build()).toBuilder()
                .addVolumes(PodVolume.newBuilder().setName("data").setVolume("recordings"))
                .addVolumes(PodVolume.newBuilder().setName("scratch").setEmptyDir(EmptyDirSource.getDefaultInstance()))
                .addVolumes(PodVolume.newBuilder().setName("host").setHostPath(HostPathSource.newBuilder().setPath(host.toString())))
                .build();
        return Pods.assignment(ns, "cam", 0, template).toBuilder()
                .putVolumes("recordings", VolumeClaim.newBuilder().setName("recordings").setUid("u1")
                        .setSizeBytes(32L << 20).setDeleteOnRelease(true).build())
                .build();
    }

    @Test
    void volumeDataSurvivesContainerAndPodReplacementAndTheReplicaGoingAndIsDeletedOnlyOnOrder() throws Exception {
        String ns = "vol";
        Path host = Files.createDirectories(tmp.resolve("host"));
        long started = System.nanoTime();
        desire(app(ns, host, "v1"));
        Await.until(WAIT, "the container wrote to its volume", () -> lines(host.resolve("data-runs")) == 1);
        System.out.printf("create-to-mounted through the agent (loopfs ext4 32 MiB, CreateVolume+Stage+Publish+container start): %d ms%n",
                (System.nanoTime() - started) / 1_000_000);
        List<String> loopMounts = mountsUnder(tmp.resolve("volumes")).stream().filter(l -> l.startsWith("/dev/loop")).toList();
        assertFalse(loopMounts.isEmpty(), "the volume is a loop device mounted under the agent's volume dir");
        // The script writes this file last: wait for it rather than read it half-written.
        Await.until(WAIT, "the container sees its volume as an ext4 mount on /data", () -> {
            try {
                return Files.exists(host.resolve("fs")) && Files.readString(host.resolve("fs")).trim().equals("1");
            } catch (IOException e) {
                return false;
            }
        });

        // The container dies: its replacement sees the same volume (and the same emptyDir: same pod).
        String first = Pods.running(cri, ns).get(0);
        cri.stopContainer(first, 0);
        Await.until(WAIT, "the restarted container appended to the same volume", () -> lines(host.resolve("data-runs")) == 2);
        assertEquals(2, lines(host.resolve("scratch-runs")), "an emptyDir lives as long as its pod");

        // A new template replaces the pod: the volume's data stays, the emptyDir is a fresh one.
        desire(app(ns, host, "v2"));
        Await.until(WAIT, "the new pod appended to the same volume", () -> lines(host.resolve("data-runs")) == 3);
        assertEquals(List.of("v1", "v1", "v2"), Files.readAllLines(host.resolve("data-runs")));
        Await.until(WAIT, "a fresh emptyDir in the new pod", () -> lines(host.resolve("scratch-runs")) == 1);
        Await.until(WAIT, "the old pod's volume dir is gone", () -> {
            try (Stream<Path> pods = Files.list(tmp.resolve("volumes/pods"))) {
                return pods.count() == 1;
            } catch (IOException e) {
                return false;
            }
        });

        // The replica goes (scaled to 0; reclaim policy Delete): unpublished and unstaged, but its data is kept.
        desire();
        Await.until(WAIT, "the pod is removed", () -> Pods.sandboxes(cri, ns).isEmpty());
        Await.until(WAIT, "no mounts left under the volume dir", () -> {
            try {
                return mountsUnder(tmp.resolve("volumes")).isEmpty();
            } catch (IOException e) {
                return false;
            }
        });
        try (Stream<Path> records = Files.list(tmp.resolve("csi/volumes"))) {
            assertEquals(1, records.count(), "the CSI volume stays: only the control plane's order deletes it");
        }
        // The order (VolumeTasks carries it out from the desired state: VolumeTasksTest): deleted.
        // The driver may still be finishing the unstage (ABORTED "in progress"): the caller asks again, as VolumeTasks does.
        Await.until(WAIT, "the deletion is accepted", () -> {
            try {
                volumes.deleteVolume(ns, app(ns, host, "v2").getVolumesMap().get("recordings"), "");
                return true;
            } catch (io.grpc.StatusRuntimeException e) {
                if (e.getStatus().getCode() != io.grpc.Status.Code.ABORTED) {
                    throw e;
                }
                return false;
            }
        });
        Await.until(WAIT, "the CSI volume is deleted", () -> {
            try (Stream<Path> records = Files.list(tmp.resolve("csi/volumes"))) {
                return records.findAny().isEmpty();
            } catch (IOException e) {
                return false;
            }
        });
        assertTrue(HostStorage.loopDevicesUnder(tmp).isEmpty(), "no loop device left attached");
    }
}
