package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateVolumeRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.GetVolumeRequest;
import dev.edgeplane.api.v1.HostPathSource;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.UpdateAppRequest;
import dev.edgeplane.api.v1.UpdateVolumeRequest;
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
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 17: a Volume grown while its container writes to it, through the whole platform (control
 * plane, agent, in-process CSI driver on a real loop device with xfs, containerd). UpdateVolume with
 * a doubled size reaches the agent in the replica's claim; the agent grows the backing and the
 * mounted filesystem; the container's own `df` sees the new size without a restart, and the replica
 * stays RUNNING and ready throughout (sampled all along). A shrink is refused with INVALID_ARGUMENT
 * naming volume.spec.size_bytes and changes nothing. The quick start's case (the default class,
 * ext4): where the driver cannot grow a mounted ext4 (no CAP_SYS_RESOURCE), the backing grows, the
 * volume says FILESYSTEM_RESIZE_PENDING and the replica keeps running, with no VolumeFailed event.
 * A volume no pod uses (its App scaled to 0) grows on the node's EXPAND order, its filesystem when a
 * pod mounts it again.
 */
class VolumeExpansionE2ETest {
    static final Duration CONVERGE = EdgeCluster.CONVERGE;
    static final String NODE = "edge-grow";
    static final long MIB = 1 << 20;
    /** xfs needs 300 MiB at least; it grows while mounted whatever the capabilities. */
    static final long SMALL = 320 * MIB;

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

    /** Every second: append to the volume, and write what `df -k /data` says inside the container to the host. */
    static App app(Path out) {
        return app(out, "grower", "growing");
    }

    static App app(Path out, String name, String volume) {
        String script = "while true; do echo tick >> /data/ticks; wc -l < /data/ticks > /out/ticks.tmp; mv /out/ticks.tmp /out/ticks;"
                + " df -k /data | tail -1 > /out/df.tmp; mv /out/df.tmp /out/df; sleep 1; done";
        return App.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(AppSpec.newBuilder().setReplicas(1).setTemplate(PodTemplate.newBuilder()
                        .setTerminationGraceSeconds(1)
                        .addVolumes(PodVolume.newBuilder().setName("data").setVolume(volume))
                        .addVolumes(PodVolume.newBuilder().setName("out").setHostPath(HostPathSource.newBuilder().setPath(out.toString())))
                        .addContainers(Container.newBuilder().setName("main").setImage(cluster.image)
                                .addAllCommand(List.of("sh", "-c", script))
                                .addVolumeMounts(VolumeMount.newBuilder().setName("data").setMountPath("/data"))
                                .addVolumeMounts(VolumeMount.newBuilder().setName("out").setMountPath("/out")))))
                .build();
    }

    /** The container's view of its volume: df's 1K-blocks column, or empty before the first line. */
    static Optional<Long> dfKib(Path out) {
        try {
            String line = Files.exists(out.resolve("df")) ? Files.readString(out.resolve("df")).strip() : "";
            String[] f = line.split("\\s+");
            return f.length >= 2 ? Optional.of(Long.parseLong(f[1])) : Optional.empty();
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    static long ticks(Path out) {
        try {
            return Long.parseLong(Files.readString(out.resolve("ticks")).strip());
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
    }

    static Volume volume() {
        return volume("growing");
    }

    static Volume volume(String name) {
        return cluster.cloud.volumes().getVolume(GetVolumeRequest.newBuilder().setName(name).build());
    }

    static Optional<ReplicaStatus> replica() {
        return replica("grower");
    }

    static Optional<ReplicaStatus> replica(String app) {
        List<ReplicaStatus> replicas = cluster.cloud.apps().getApp(GetAppRequest.newBuilder().setName(app).build())
                .getStatus().getReplicasList();
        return replicas.size() == 1 ? Optional.of(replicas.get(0)) : Optional.empty();
    }

    /** Whether this process (and so the agent it starts) may grow a mounted ext4 (CAP_SYS_RESOURCE, bit 24 of CapEff). */
    static boolean hasCapSysResource() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("CapEff:")) {
                return (Long.parseUnsignedLong(line.substring(7).strip(), 16) & (1L << 24)) != 0;
            }
        }
        return false;
    }

    @Test
    void theQuickStartCaseAnExt4VolumeDoubledKeepsItsReplicaRunning() throws Exception {
        Path out = Files.createDirectories(dir.resolve("out-ext4"));
        cluster.cloud.volumes().createVolume(CreateVolumeRequest.newBuilder().setVolume(Volume.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("quick"))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(64 * MIB).setReclaimPolicy(VolumeSpec.ReclaimPolicy.DELETE))).build());
        cluster.cloud.apps().createApp(CreateAppRequest.newBuilder().setApp(app(out, "quick-app", "quick")).build());
        Await.until("the replica is running and ready", CONVERGE, cluster.host::logTail, () -> dfKib(out).isPresent()
                && replica("quick-app").filter(r -> r.getPhase() == ReplicaStatus.Phase.RUNNING && r.getReady()).isPresent());
        Await.until("the volume's capacity is reported", CONVERGE, cluster.host::logTail,
                () -> volume("quick").getStatus().getCapacityBytes() == 64 * MIB);
        String containerId = replica("quick-app").orElseThrow().getContainers(0).getContainerId();
        long ticksBefore = ticks(out);

        Volume current = volume("quick");
        cluster.cloud.volumes().updateVolume(UpdateVolumeRequest.newBuilder().setVolume(current.toBuilder()
                .setSpec(current.getSpec().toBuilder().setSizeBytes(128 * MIB))).build());
        boolean ext4GrowsMounted = hasCapSysResource();
        Await.until("the node grew the volume's backing", CONVERGE, cluster.host::logTail, () -> {
            VolumeStatus s = volume("quick").getStatus();
            return s.getAllocatedBytes() == 128 * MIB && s.getResizeState() == (ext4GrowsMounted
                    ? VolumeStatus.ResizeState.NONE : VolumeStatus.ResizeState.FILESYSTEM_RESIZE_PENDING);
        });
        Await.until("the container keeps writing to the volume", CONVERGE, cluster.host::logTail, () -> ticks(out) > ticksBefore + 3);
        VolumeStatus s = volume("quick").getStatus();
        if (!ext4GrowsMounted) {
            assertTrue(s.getResizeMessage().contains("next staged"), s.getResizeMessage());
            assertEquals(64 * MIB, s.getCapacityBytes(), "pods see the old size until the next stage");
        }
        ReplicaStatus after = replica("quick-app").orElseThrow();
        assertEquals(ReplicaStatus.Phase.RUNNING, after.getPhase());
        assertTrue(after.getReady());
        assertEquals(containerId, after.getContainers(0).getContainerId(), "the same container: never restarted");
        assertEquals("", s.getNodeStatus().getMessage());
        // neither on the volume nor on the replica (the other test's volume may have its own)
        assertEquals(List.of(), cluster.cloud.events().listEvents(dev.edgeplane.api.v1.ListEventsRequest.newBuilder()
                .setFilter(dev.edgeplane.api.v1.EventFilter.newBuilder().setReason("VolumeFailed")).build()).getEventsList().stream()
                .filter(e -> e.getInvolvedObject().getName().equals("quick") || e.getInvolvedObject().getName().startsWith("quick-app"))
                .toList(), "no VolumeFailed event (issue 17: ALREADY_EXISTS every few seconds)");

        cluster.cloud.apps().deleteApp(DeleteAppRequest.newBuilder().setName("quick-app").build());
        Await.until("the volume goes with its app", CONVERGE, cluster.host::logTail, () -> {
            try {
                volume("quick");
                return false;
            } catch (StatusRuntimeException e) {
                return e.getStatus().getCode() == Status.Code.NOT_FOUND;
            }
        });
    }

    @Test
    void aVolumeGrowsUnderItsRunningContainerAndAShrinkIsRefused() throws Exception {
        Path out = Files.createDirectories(dir.resolve("out"));
        cluster.cloud.volumes().createVolume(CreateVolumeRequest.newBuilder().setVolume(Volume.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("growing"))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(SMALL).setStorageClass("loopfs-xfs")
                        .setReclaimPolicy(VolumeSpec.ReclaimPolicy.DELETE))).build());
        cluster.cloud.apps().createApp(CreateAppRequest.newBuilder().setApp(app(out)).build());
        Await.until("the container reports its volume's size", CONVERGE, cluster.host::logTail, () -> dfKib(out).isPresent());
        Await.until("the replica is running and ready", CONVERGE, cluster.host::logTail, () -> replica()
                .filter(r -> r.getPhase() == ReplicaStatus.Phase.RUNNING && r.getReady()).isPresent());
        Await.until("the volume's capacity is reported", CONVERGE, cluster.host::logTail,
                () -> volume().getStatus().getCapacityBytes() == SMALL);
        long before = dfKib(out).orElseThrow();
        assertTrue(before * 1024 <= SMALL, "df inside the container: " + before + " KiB");
        ReplicaStatus running = replica().orElseThrow();
        String containerId = running.getContainers(0).getContainerId();
        Volume bound = volume();
        assertEquals(VolumeStatus.Phase.BOUND, bound.getStatus().getPhase());
        assertEquals(VolumeStatus.ResizeState.NONE, bound.getStatus().getResizeState());

        // A shrink: INVALID_ARGUMENT naming the field, and nothing changes.
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> cluster.cloud.volumes().updateVolume(
                UpdateVolumeRequest.newBuilder().setVolume(bound.toBuilder().setSpec(bound.getSpec().toBuilder()
                        .setSizeBytes(SMALL / 2))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, refused.getStatus().getCode());
        assertTrue(refused.getStatus().getDescription().contains("volume.spec.size_bytes"), refused.getStatus().getDescription());
        Volume unchanged = volume();
        assertEquals(bound.getSpec(), unchanged.getSpec());
        assertEquals(bound.getMetadata().getGeneration(), unchanged.getMetadata().getGeneration());

        // The replica is sampled all along the growth: it must never be seen anything but RUNNING and ready.
        List<String> downSeen = new CopyOnWriteArrayList<>();
        AtomicBoolean sampling = new AtomicBoolean(true);
        Thread sampler = new Thread(() -> {
            while (sampling.get()) {
                try {
                    replica().filter(r -> r.getPhase() != ReplicaStatus.Phase.RUNNING || !r.getReady())
                            .ifPresent(r -> downSeen.add(r.getPhase() + " ready=" + r.getReady() + " " + r.getMessage()));
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    return;
                } catch (RuntimeException e) {
                    // the API busy for a moment: sample again
                }
            }
        }, "replica-sampler");
        sampler.start();
        long ticksBefore = ticks(out);
        try {
            Volume current = volume();
            Volume asked = cluster.cloud.volumes().updateVolume(UpdateVolumeRequest.newBuilder().setVolume(current.toBuilder()
                    .setSpec(current.getSpec().toBuilder().setSizeBytes(2 * SMALL))).build());
            assertEquals(2 * SMALL, asked.getSpec().getSizeBytes());
            assertEquals(VolumeStatus.ResizeState.CONTROLLER_RESIZE_IN_PROGRESS, asked.getStatus().getResizeState());

            Await.until("df inside the running container shows the grown volume", CONVERGE, cluster.host::logTail,
                    () -> dfKib(out).orElse(0L) > before + SMALL / 1024 / 2);
            Await.until("the volume reports its new capacity and no resize left", CONVERGE, cluster.host::logTail, () -> {
                VolumeStatus s = volume().getStatus();
                return s.getCapacityBytes() == 2 * SMALL && s.getResizeState() == VolumeStatus.ResizeState.NONE;
            });
            Await.until("the container keeps writing to the volume", CONVERGE, cluster.host::logTail, () -> ticks(out) > ticksBefore + 2);
        } finally {
            sampling.set(false);
            sampler.join();
        }
        assertEquals(List.of(), downSeen, "the replica was never seen down while its volume grew");
        ReplicaStatus after = replica().orElseThrow();
        assertEquals(containerId, after.getContainers(0).getContainerId(), "the same container: never restarted");
        assertEquals(running.getRestartCount(), after.getRestartCount());
        Volume grown = volume();
        assertEquals(2 * SMALL, grown.getStatus().getAllocatedBytes());
        assertEquals("", grown.getStatus().getNodeStatus().getMessage(), "no volume error");

        cluster.cloud.apps().deleteApp(DeleteAppRequest.newBuilder().setName("grower").build());
        Await.until("the volume goes with its app (reclaim policy Delete)", CONVERGE, cluster.host::logTail, () -> {
            try {
                volume();
                return false;
            } catch (StatusRuntimeException e) {
                return e.getStatus().getCode() == Status.Code.NOT_FOUND;
            }
        });
    }

    static void scale(String app, int replicas) {
        App current = cluster.cloud.apps().getApp(GetAppRequest.newBuilder().setName(app).build());
        cluster.cloud.apps().updateApp(UpdateAppRequest.newBuilder().setApp(current.toBuilder()
                .setSpec(current.getSpec().toBuilder().setReplicas(replicas))).build());
    }

    @Test
    void aVolumeNoPodUsesGrowsOnItsNodesOrderAndItsFilesystemWhenMountedAgain() throws Exception {
        Path out = Files.createDirectories(dir.resolve("out-idle"));
        cluster.cloud.volumes().createVolume(CreateVolumeRequest.newBuilder().setVolume(Volume.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("idle"))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(SMALL).setStorageClass("loopfs-xfs")
                        .setReclaimPolicy(VolumeSpec.ReclaimPolicy.DELETE))).build());
        cluster.cloud.apps().createApp(CreateAppRequest.newBuilder().setApp(app(out, "idle-app", "idle")).build());
        Await.until("the container reports its volume's size", CONVERGE, cluster.host::logTail, () -> dfKib(out).isPresent());
        long before = dfKib(out).orElseThrow();
        scale("idle-app", 0);
        Await.until("the volume is AVAILABLE (no pod uses it) and unstaged", CONVERGE, cluster.host::logTail, () -> {
            Volume v = volume("idle");
            return v.getStatus().getPhase() == VolumeStatus.Phase.AVAILABLE
                    && v.getStatus().getNodeStatus().getState() == dev.edgeplane.api.v1.VolumeNodeStatus.State.CREATED;
        });

        Volume current = volume("idle");
        cluster.cloud.volumes().updateVolume(UpdateVolumeRequest.newBuilder().setVolume(current.toBuilder()
                .setSpec(current.getSpec().toBuilder().setSizeBytes(2 * SMALL))).build());
        Await.until("the node grew the backing on its order; the filesystem waits for a mount", CONVERGE, cluster.host::logTail, () -> {
            VolumeStatus s = volume("idle").getStatus();
            return s.getAllocatedBytes() == 2 * SMALL && s.getResizeState() == VolumeStatus.ResizeState.FILESYSTEM_RESIZE_PENDING;
        });
        assertTrue(volume("idle").getStatus().getResizeMessage().contains("not mounted"), volume("idle").getStatus().getResizeMessage());

        Files.deleteIfExists(out.resolve("df"));
        scale("idle-app", 1);
        Await.until("the new pod sees the grown filesystem", CONVERGE, cluster.host::logTail,
                () -> dfKib(out).orElse(0L) > before + SMALL / 1024 / 2);
        Await.until("no resize left", CONVERGE, cluster.host::logTail, () -> {
            VolumeStatus s = volume("idle").getStatus();
            return s.getResizeState() == VolumeStatus.ResizeState.NONE && s.getCapacityBytes() == 2 * SMALL;
        });

        cluster.cloud.apps().deleteApp(DeleteAppRequest.newBuilder().setName("idle-app").build());
        Await.until("the volume goes with its app", CONVERGE, cluster.host::logTail, () -> {
            try {
                volume("idle");
                return false;
            } catch (StatusRuntimeException e) {
                return e.getStatus().getCode() == Status.Code.NOT_FOUND;
            }
        });
    }
}
