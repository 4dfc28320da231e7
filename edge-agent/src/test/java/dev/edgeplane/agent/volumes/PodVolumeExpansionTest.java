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
import dev.edgeplane.storage.host.Capabilities;
import dev.edgeplane.testkit.HostStorage;
import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Growing a volume a pod has published, against the CSI driver in process on real loop devices: the
 * claim's size doubles and the next prepare grows the volume in place (no ALREADY_EXISTS, never
 * unpublished). xfs grows while mounted (statfs on the pod's path shows it); btrfs raises the
 * subvolume's quota, so more than the old size can be written at once; ext4 grows mounted only with
 * CAP_SYS_RESOURCE, else the report says its filesystem is pending and the next stage grows it.
 */
class PodVolumeExpansionTest {
    private static final long MIB = 1 << 20;
    private static final long SMALL = 64 * MIB;
    /** xfs needs 300 MiB at least. */
    private static final long SMALL_XFS = 320 * MIB;
    @TempDir Path tmp;
    private PodVolumes volumes;
    private final List<VolumeReport> reports = new CopyOnWriteArrayList<>();

    private void openDriver(boolean btrfs) throws Exception {
        StorageDriverConfig config = StorageDriverConfig.of(tmp.resolve("csi"), "node-1");
        if (btrfs) {
            config = config.withBtrfsPool(BtrfsPools.create(tmp, 1024 * MIB));
        }
        volumes = StorageDrivers.inProcess(tmp.resolve("volumes"), config);
        volumes.onVolumeReport(reports::add);
    }

    @AfterEach
    void cleanUp() {
        try {
            if (volumes != null) {
                volumes.close();
            }
        } finally {
            HostStorage.releaseUnder(tmp);
        }
    }

    private static Assignment replica(String backend, String fs, long bytes) {
        VolumeClaim claim = VolumeClaim.newBuilder().setName("rec").setUid("u1").setSizeBytes(bytes)
                .putParameters("backend", backend).putParameters("fsType", fs).build();
        return Assignment.newBuilder().setNamespace("default").setReplica("cam-0").setApp("cam")
                .setTemplate(PodTemplate.newBuilder().addVolumes(PodVolume.newBuilder().setName("data").setVolume("rec")))
                .putVolumes("rec", claim).build();
    }

    private VolumeNodeStatus last() {
        return reports.get(reports.size() - 1).getStatus();
    }

    private static long statfsBytes(Path path) throws IOException {
        return Files.getFileStore(path).getTotalSpace();
    }

    /** Writes {@code bytes} of data (synced): fails with "No space left" / "Disk quota exceeded" past the size. */
    private static void write(Path file, long bytes) throws IOException {
        byte[] chunk = new byte[(int) MIB];
        try (OutputStream out = Files.newOutputStream(file)) {
            for (long done = 0; done < bytes; done += chunk.length) {
                out.write(chunk);
            }
        }
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.getFD().sync();
        }
    }

    private static boolean ext4GrowsMounted() {
        return Capabilities.effective().contains(Capabilities.CAP_SYS_RESOURCE);
    }

    @ParameterizedTest
    @ValueSource(strings = {"loopfs/ext4", "loopfs/xfs"})
    void aPublishedLoopfsVolumeGrowsInPlace(String backendAndFs) throws Exception {
        String backend = backendAndFs.split("/")[0];
        String fs = backendAndFs.split("/")[1];
        openDriver(false);
        long small = fs.equals("xfs") ? SMALL_XFS : SMALL;
        Path data = volumes.prepare(replica(backend, fs, small), "pod-a").get("data");
        Files.writeString(data.resolve("kept"), "before");
        long before = statfsBytes(data);
        assertTrue(before <= small, "statfs " + before);
        List<String> mounts = HostStorage.mountsUnder(tmp.resolve("volumes"));

        Path again = volumes.prepare(replica(backend, fs, 2 * small), "pod-a").get("data");
        assertEquals(data, again);
        assertEquals(mounts, HostStorage.mountsUnder(tmp.resolve("volumes")), "the same mounts: never unpublished");
        VolumeNodeStatus grown = last();
        assertEquals(VolumeNodeStatus.State.PUBLISHED, grown.getState());
        assertEquals(2 * small, grown.getCapacityBytes(), "the backing grew");
        assertEquals("", grown.getMessage());
        assertEquals("", grown.getResizeError());
        boolean online = fs.equals("xfs") || ext4GrowsMounted();
        assertEquals(!online, grown.getFilesystemResizePending(), grown.toString());
        if (online) {
            assertTrue(statfsBytes(data) > before + small / 2, "statfs of the mounted volume: " + statfsBytes(data));
        } else {
            assertEquals(before, statfsBytes(data), "ext4 cannot grow mounted here: unchanged until the next stage");
            // asked again on the next pass: still pending, still published, no error
            volumes.prepare(replica(backend, fs, 2 * small), "pod-a");
            assertTrue(last().getFilesystemResizePending());
            assertEquals("", last().getResizeError());
            // the next stage (the pod released, then a pod prepared again) grows it
            volumes.podRemoving("pod-a", true);
            volumes.podRemoved("pod-a", true);
            data = volumes.prepare(replica(backend, fs, 2 * small), "pod-b").get("data");
            assertFalse(last().getFilesystemResizePending(), last().toString());
            assertTrue(statfsBytes(data) > before + small / 2, "statfs after the next stage: " + statfsBytes(data));
        }
        assertEquals("before", Files.readString(data.resolve("kept")), "the data stays");
        if (fs.equals("ext4")) {
            write(data.resolve("more.bin"), small + 8 * MIB); // more than the old size fits
        }
    }

    @Test
    void aPublishedBtrfsVolumeGrowsItsQuotaInPlace() throws Exception {
        openDriver(true);
        Path data = volumes.prepare(replica("btrfs", "btrfs", SMALL), "pod-a").get("data");
        IOException full = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                () -> write(data.resolve("fill.bin"), SMALL + 16 * MIB));
        assertTrue(full.getMessage().contains("Disk quota exceeded") || full.getMessage().contains("No space left"),
                full.getMessage());
        Files.delete(data.resolve("fill.bin"));
        List<String> mounts = HostStorage.mountsUnder(tmp.resolve("volumes"));

        volumes.prepare(replica("btrfs", "btrfs", 2 * SMALL), "pod-a");
        assertEquals(mounts, HostStorage.mountsUnder(tmp.resolve("volumes")), "never unpublished");
        assertEquals(2 * SMALL, last().getCapacityBytes());
        assertFalse(last().getFilesystemResizePending(), "a quota has no filesystem to grow");
        write(data.resolve("more.bin"), SMALL + 8 * MIB);
    }

    @Test
    void aVolumeNoPodUsesGrowsOnOrderAndItsFilesystemAtTheNextStage() throws Exception {
        openDriver(false);
        volumes.prepare(replica("loopfs", "xfs", SMALL_XFS), "pod-a");
        volumes.podRemoving("pod-a", true);
        volumes.podRemoved("pod-a", true);
        assertEquals(VolumeNodeStatus.State.CREATED, last().getState(), "released: unstaged");

        assertTrue(volumes.expandVolume("default", replica("loopfs", "xfs", 2 * SMALL_XFS).getVolumesMap().get("rec"), ""));
        assertEquals(2 * SMALL_XFS, last().getCapacityBytes());
        assertTrue(last().getFilesystemResizePending(), "not mounted: the filesystem grows at the next stage");

        Path data = volumes.prepare(replica("loopfs", "xfs", 2 * SMALL_XFS), "pod-b").get("data");
        assertFalse(last().getFilesystemResizePending());
        assertTrue(statfsBytes(data) > SMALL_XFS + SMALL_XFS / 2, "statfs: " + statfsBytes(data));
        assertFalse(volumes.expandVolume("default", VolumeClaim.newBuilder().setName("other").setUid("u9")
                .setSizeBytes(SMALL).build(), ""), "never created here: nothing to grow");
    }

    @Test
    void aGrowthTheDriverRefusesLeavesThePodRunningAndSaysWhy() throws Exception {
        openDriver(false);
        Path data = volumes.prepare(replica("loopfs", "ext4", SMALL), "pod-a").get("data");
        long tooBig = 1L << 50; // beyond the host's free space: the pool refuses
        Path again = volumes.prepare(replica("loopfs", "ext4", tooBig), "pod-a").get("data");
        assertEquals(data, again, "the pod keeps its volume");
        VolumeNodeStatus refused = last();
        assertEquals(VolumeNodeStatus.State.PUBLISHED, refused.getState());
        assertEquals(SMALL, refused.getCapacityBytes());
        assertTrue(refused.getResizeError().contains("cannot grow"), refused.toString());
        assertEquals("", refused.getMessage(), "a failed resize is not a failed volume");
        assertTrue(statfsBytes(data) <= SMALL);
    }
}
