package dev.edgeplane.agent.volumes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.pods.PodConfigs;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.EmptyDirSource;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.VolumeClaim;
import dev.edgeplane.api.v1.VolumeMount;
import dev.edgeplane.cri.v1.ContainerConfig;
import dev.edgeplane.storage.StorageDriver;
import dev.edgeplane.storage.StorageDriverConfig;
import dev.edgeplane.storage.StorageDriverServer;
import dev.edgeplane.testkit.HostStorage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PodVolumes against the storage driver running as a server on its unix socket (as a standalone
 * driver would), with a real loop device; and the CRI mounts a container gets from them.
 */
class PodVolumesSocketTest {
    @TempDir
    Path tmp;

    @AfterEach
    void cleanUp() throws Exception {
        HostStorage.releaseUnder(tmp);
    }


    @Test
    void publishesOverTheSocketMountsIntoTheContainerConfigKeepsOnReleaseDeletesOnOrder() throws Exception {
        Container container = Container.newBuilder().setName("main").setImage("busybox")
                .addVolumeMounts(VolumeMount.newBuilder().setName("data").setMountPath("/data"))
                .addVolumeMounts(VolumeMount.newBuilder().setName("scratch").setMountPath("/tmp/s").setReadOnly(true))
                .build();
        Assignment assignment = Assignment.newBuilder().setNamespace("ns").setApp("db").setReplica("db-0")
                .setTemplate(PodTemplate.newBuilder().addContainers(container)
                        .addVolumes(PodVolume.newBuilder().setName("data").setVolume("pg"))
                        .addVolumes(PodVolume.newBuilder().setName("scratch").setEmptyDir(EmptyDirSource.getDefaultInstance())))
                .putVolumes("pg", VolumeClaim.newBuilder().setName("pg").setUid("u9").setSizeBytes(20L << 20)
                        .putParameters("backend", "loopfs").setDeleteOnRelease(true).build())
                .build();
        Path socket = tmp.resolve("csi.sock");
        try (StorageDriver driver = StorageDriver.open(StorageDriverConfig.of(tmp.resolve("csi"), "node-1"));
             StorageDriverServer server = StorageDriverServer.start(driver, socket);
             PodVolumes volumes = StorageDrivers.socket(tmp.resolve("volumes"), socket)) {
            long started = System.nanoTime();
            Map<String, Path> paths = volumes.prepare(assignment, "pod-1");
            System.out.printf("CSI CreateVolume+NodeStage+NodePublish over the socket (loopfs ext4 20 MiB): %d ms%n",
                    (System.nanoTime() - started) / 1_000_000);
            Path data = paths.get("data");
            assertTrue(Files.readAllLines(Path.of("/proc/self/mounts")).stream()
                    .anyMatch(l -> l.startsWith("/dev/loop") && l.split(" ")[1].equals(data.toString())), "the volume is mounted at " + data);
            Files.writeString(data.resolve("hello"), "world");
            assertEquals(paths, volumes.prepare(assignment, "pod-1"), "idempotent");

            ContainerConfig config = PodConfigs.container(assignment, container, "hash", 0, paths);
            assertEquals(2, config.getMountsCount());
            assertEquals("/data", config.getMounts(0).getContainerPath());
            assertEquals(data.toString(), config.getMounts(0).getHostPath());
            assertFalse(config.getMounts(0).getReadonly());
            assertTrue(config.getMounts(1).getReadonly());
            assertThrows(IllegalArgumentException.class, () -> PodConfigs.container(assignment, container, "hash", 0, Map.of()));

            // The pod is replaced: unpublished, the data stays staged for the next one.
            volumes.podRemoved("pod-1", false);
            assertFalse(Files.exists(tmp.resolve("volumes/pods/pod-1")), "the pod's dir (and emptyDir) is gone");
            Map<String, Path> again = volumes.prepare(assignment, "pod-2");
            assertEquals("world", Files.readString(again.get("data").resolve("hello")));

            // The replica goes (scaled to 0): unstaged, but kept whatever its reclaim policy.
            volumes.podRemoved("pod-2", true);
            assertTrue(Files.readAllLines(Path.of("/proc/self/mounts")).stream().noneMatch(l -> l.contains(tmp.toString())),
                    "nothing mounted any more");
            try (Stream<Path> records = Files.list(tmp.resolve("csi/volumes"))) {
                assertTrue(records.findAny().isPresent(), "the CSI volume stays until the control plane orders its deletion");
            }
            // The order: deleted through CSI, found by the record of what this agent created.
            String id = volumes.deleteVolume("ns", assignment.getVolumesMap().get("pg"), "");
            assertTrue(id.startsWith("vol-"), id);
            try (Stream<Path> records = Files.list(tmp.resolve("csi/volumes"))) {
                assertTrue(records.findAny().isEmpty(), "the CSI volume is deleted");
            }
            assertEquals("", volumes.deleteVolume("ns", assignment.getVolumesMap().get("pg"), ""), "again: nothing left to delete");
        }
    }
}
