package dev.edgeplane.agent.volumes;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.VolumeClaim;
import dev.edgeplane.storage.StorageDriverConfig;
import dev.edgeplane.storage.host.Capabilities;
import dev.edgeplane.testkit.HostStorage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Growth time of a published volume per filesystem, through the agent's own path (the claim's size
 * doubled, the next prepare: CSI ControllerExpandVolume then NodeExpandVolume on the mounted volume),
 * 1 GiB to 2 GiB, median of ROUNDS, on real loop devices. ext4 grows mounted only with
 * CAP_SYS_RESOURCE; without it the figure printed is the offline path (the backing at once, the
 * filesystem at the next stage: unstage, e2fsck, resize2fs, mount). Run: deploy/bench.sh storage.
 */
class VolumeExpansionBench {
    private static final long MIB = 1 << 20;
    private static final long SIZE = 1024 * MIB;
    private static final int ROUNDS = 5;
    @TempDir Path tmp;
    private PodVolumes volumes;

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

    private static Assignment pod(String volume, String backend, String fs, long bytes) {
        VolumeClaim.Builder claim = VolumeClaim.newBuilder().setName(volume).setUid("u-" + volume).setSizeBytes(bytes)
                .putParameters("backend", backend);
        if (!fs.equals("btrfs")) {
            claim.putParameters("fsType", fs);
        }
        return Assignment.newBuilder().setNamespace("default").setReplica("bench-0").setApp("bench")
                .setTemplate(PodTemplate.newBuilder().addVolumes(PodVolume.newBuilder().setName("data").setVolume(volume)))
                .putVolumes(volume, claim.build()).build();
    }

    @Test
    void printExpansionFigures() throws Exception {
        Logger.getLogger("").setLevel(Level.WARNING);
        for (var h : Logger.getLogger("").getHandlers()) {
            h.setLevel(Level.WARNING);
        }
        volumes = StorageDrivers.inProcess(tmp.resolve("volumes"), StorageDriverConfig.of(tmp.resolve("csi"), "bench")
                .withBtrfsPool(BtrfsPools.create(tmp, 8 * SIZE)));
        boolean ext4Online = Capabilities.effective().contains(Capabilities.CAP_SYS_RESOURCE);
        for (String backendAndFs : List.of("loopfs/ext4", "loopfs/xfs", "btrfs/btrfs")) {
            String backend = backendAndFs.split("/")[0];
            String fs = backendAndFs.split("/")[1];
            boolean online = !fs.equals("ext4") || ext4Online;
            List<Double> growMs = new ArrayList<>();
            List<Double> nextStageMs = new ArrayList<>();
            for (int round = 0; round < ROUNDS; round++) {
                String volume = fs + "-" + round;
                String podA = "pod-" + volume + "-a";
                Path data = volumes.prepare(pod(volume, backend, fs, SIZE), podA).get("data");
                Files.writeString(data.resolve("kept"), "x");
                long t0 = System.nanoTime();
                volumes.prepare(pod(volume, backend, fs, 2 * SIZE), podA);
                growMs.add((System.nanoTime() - t0) / 1e6);
                if (!online) {
                    volumes.podRemoving(podA, true);
                    volumes.podRemoved(podA, true);
                    long t1 = System.nanoTime();
                    data = volumes.prepare(pod(volume, backend, fs, 2 * SIZE), podA + "b").get("data");
                    nextStageMs.add((System.nanoTime() - t1) / 1e6);
                    podA = podA + "b";
                }
                long total = Files.getFileStore(data).getTotalSpace();
                if (!fs.equals("btrfs") && total <= SIZE) {
                    throw new AssertionError(fs + ": statfs still shows " + total + " bytes after growing");
                }
                volumes.podRemoving(podA, true);
                volumes.podRemoved(podA, true);
                volumes.deleteVolume("default", pod(volume, backend, fs, SIZE).getVolumesMap().get(volume), "");
            }
            Collections.sort(growMs);
            if (online) {
                System.out.printf("BENCH storage fs=%s expand_online_ms=%.0f (1 GiB -> 2 GiB while published; median of %d, min %.0f, max %.0f)%n",
                        fs, growMs.get(ROUNDS / 2), ROUNDS, growMs.get(0), growMs.get(ROUNDS - 1));
            } else {
                Collections.sort(nextStageMs);
                System.out.printf("BENCH storage fs=%s expand_online_ms=unsupported (no CAP_SYS_RESOURCE) expand_backing_ms=%.0f "
                                + "expand_at_next_stage_ms=%.0f (1 GiB -> 2 GiB; median of %d)%n",
                        fs, growMs.get(ROUNDS / 2), nextStageMs.get(ROUNDS / 2), ROUNDS);
            }
        }
    }
}
