package dev.edgeplane.agent.volumes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.VolumeClaim;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeReport;
import dev.edgeplane.storage.StorageDriverConfig;
import dev.edgeplane.testkit.HostStorage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Removing pods that share a volume on one node (a surge replica beside the one it replaces), against
 * the CSI driver in process on a real loop device: removed at once, the driver busy with one while the
 * other asks, the volume still ends unpublished and unstaged; a removal cut short is finished by the
 * retry once its pod has no sandbox, and never undoes a pod prepared again under the same UID.
 */
class PodVolumeRemovalTest {
    @TempDir Path tmp;
    private PodVolumes volumes;
    private final List<VolumeReport> reports = new CopyOnWriteArrayList<>();

    private static final VolumeClaim CLAIM = VolumeClaim.newBuilder().setName("rec").setUid("u1").setSizeBytes(32L << 20)
            .putParameters("backend", "loopfs").putParameters("fsType", "ext4").build();

    @BeforeEach
    void openDriver() {
        volumes = StorageDrivers.inProcess(tmp.resolve("volumes"), StorageDriverConfig.of(tmp.resolve("csi"), "node-1"));
        volumes.onVolumeReport(reports::add);
    }

    @AfterEach
    void cleanUp() {
        try {
            volumes.close();
        } finally {
            HostStorage.releaseUnder(tmp);
        }
    }

    private static Assignment replica(String name) {
        return Assignment.newBuilder().setNamespace("default").setReplica(name).setApp("cam")
                .setTemplate(PodTemplate.newBuilder().addVolumes(PodVolume.newBuilder().setName("data").setVolume("rec")))
                .putVolumes("rec", CLAIM).build();
    }

    private List<String> mounts() {
        return HostStorage.mountsUnder(tmp.resolve("volumes"));
    }

    private VolumeNodeStatus.State lastReported() {
        return reports.get(reports.size() - 1).getStatus().getState();
    }

    @Test
    void twoPodsOfOneVolumeRemovedAtOnceLeaveItUnpublishedAndUnstaged() throws Exception {
        for (int round = 0; round < 3; round++) {
            String a = "pod-a" + round;
            String b = "pod-b" + round;
            Files.writeString(volumes.prepare(replica("cam-0"), a).get("data").resolve("round"), "r" + round);
            assertEquals("r" + round, Files.readString(volumes.prepare(replica("cam-1"), b).get("data").resolve("round")),
                    "one volume, published for both pods");
            assertEquals(3, mounts().size(), "staged once, published twice: " + mounts());

            CountDownLatch go = new CountDownLatch(1);
            CompletableFuture<Void> first = CompletableFuture.runAsync(() -> {
                await(go);
                volumes.podRemoving(a, true);
                volumes.podRemoved(a, true);
            });
            CompletableFuture<Void> second = CompletableFuture.runAsync(() -> {
                await(go);
                volumes.podRemoving(b, true);
                volumes.podRemoved(b, true);
            });
            go.countDown();
            CompletableFuture.allOf(first, second).get();

            assertEquals(List.of(), mounts(), "round " + round + ": nothing published or staged is left");
            assertEquals(VolumeNodeStatus.State.CREATED, lastReported(), "released: the data stays, unstaged");
            assertFalse(Files.exists(tmp.resolve("volumes/pods").resolve(a)));
            assertFalse(Files.exists(tmp.resolve("volumes/pods").resolve(b)));
            assertEquals(0, volumes.retryRemovals(Set.of()), "nothing left to finish");
        }
    }

    @Test
    void aRemovalCutShortIsFinishedOnceItsPodHasNoSandbox() throws Exception {
        volumes.prepare(replica("cam-0"), "pod-a");
        volumes.podRemoving("pod-a", true); // the agent stops here (killed while stopping the pod)
        assertEquals(2, mounts().size());

        assertEquals(0, volumes.retryRemovals(Set.of("pod-a")), "its sandbox is still listed: not orphaned");
        assertEquals(2, mounts().size());

        assertEquals(1, volumes.retryRemovals(Set.of()));
        assertEquals(List.of(), mounts(), "unpublished and unstaged");
        assertEquals(VolumeNodeStatus.State.CREATED, lastReported());
        assertFalse(Files.exists(tmp.resolve("volumes/pods/pod-a")));
        assertEquals(0, volumes.retryRemovals(Set.of()));
    }

    @Test
    void aPodPreparedAgainUnderTheSameUidIsNotRemovedByTheRetry() throws Exception {
        Path data = volumes.prepare(replica("cam-0"), "pod-a").get("data");
        Files.writeString(data.resolve("value"), "kept");
        volumes.podRemoving("pod-a", false); // a dead pod of this template goes...
        volumes.prepare(replica("cam-0"), "pod-a"); // ...and is recreated, same template, same UID, before its removal finished

        assertEquals(0, volumes.retryRemovals(Set.of()));
        assertEquals(2, mounts().size(), "still staged and published for the recreated pod");
        assertEquals("kept", Files.readString(data.resolve("value")));
        assertTrue(Files.exists(tmp.resolve("volumes/pods/pod-a/claims.properties")));
        volumes.podRemoved("pod-a", true);
        assertEquals(List.of(), mounts());
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
