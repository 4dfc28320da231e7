package dev.edgeplane.agent.volumes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.NodeStorage;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.StorageBackend;
import dev.edgeplane.api.v1.VolumeClaim;
import dev.edgeplane.storage.StorageDriverConfig;
import dev.edgeplane.testkit.HostStorage;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the agent reports of its storage, asked of the real in-process driver (loopfs only: no btrfs pool). */
class StorageProbeTest {
    @TempDir Path tmp;
    private PodVolumes volumes;

    @BeforeEach
    void openDriver() {
        volumes = StorageDrivers.inProcess(tmp.resolve("volumes"), StorageDriverConfig.of(tmp.resolve("csi"), "node-1"));
    }

    @AfterEach
    void cleanUp() throws Exception {
        try {
            volumes.podRemoved("pod-a", true);
            volumes.close();
        } finally {
            HostStorage.releaseUnder(tmp);
        }
    }

    private static StorageBackend loopfs(NodeStorage storage) {
        return storage.getBackendsList().stream().filter(b -> b.getName().equals("loopfs")).findFirst().orElseThrow();
    }

    @Test
    void reportsLoopfsWithTheFilesystemsThisHostCanMakeAndNoBtrfsWithoutAPool() {
        NodeStorage storage = new StorageProbe(volumes).probe();
        assertEquals(List.of("loopfs"), storage.getBackendsList().stream().map(StorageBackend::getName).toList(), storage.toString());
        assertTrue(loopfs(storage).getFsTypesList().contains("ext4"), storage.toString());
        assertTrue(loopfs(storage).getFreeBytes() > 0 && loopfs(storage).getFreeBytes() <= loopfs(storage).getTotalBytes(),
                storage.toString());
    }

    @Test
    void theTotalIsTheFreeBytesPlusWhatTheVolumesHold() throws Exception {
        StorageProbe probe = new StorageProbe(volumes);
        StorageBackend before = loopfs(probe.probe());
        assertEquals(before.getFreeBytes(), before.getTotalBytes(), "no volume yet");
        VolumeClaim claim = VolumeClaim.newBuilder().setName("rec").setUid("u1").setSizeBytes(512L << 20)
                .putParameters("backend", "loopfs").putParameters("fsType", "ext4").build();
        volumes.prepare(Assignment.newBuilder().setNamespace("default").setReplica("cam-0").setApp("cam")
                .setTemplate(PodTemplate.newBuilder().addVolumes(PodVolume.newBuilder().setName("data").setVolume("rec")))
                .putVolumes("rec", claim).build(), "pod-a");
        StorageBackend after = loopfs(probe.probe());
        assertEquals(512L << 20, after.getTotalBytes() - after.getFreeBytes(), after.toString());
    }
}
