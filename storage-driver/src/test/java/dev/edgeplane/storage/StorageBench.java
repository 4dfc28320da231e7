package dev.edgeplane.storage;

import dev.edgeplane.csi.v1.CreateSnapshotRequest;
import dev.edgeplane.csi.v1.DeleteSnapshotRequest;
import dev.edgeplane.csi.v1.DeleteVolumeRequest;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

import static dev.edgeplane.storage.Requests.MIB;

/**
 * Prints the storage figures asked for in issue 5 (needs root, loop devices, mkfs.xfs, btrfs):
 * create-to-mounted latency per backend, snapshot time of a 1 GiB volume holding 100 MiB, and
 * sequential write throughput in a volume as a ratio of the host filesystem's.
 * Run: {@code mvn -q -o -pl storage-driver test-compile exec:java}
 */
public final class StorageBench {
    private static final int ROUNDS = 5;
    private static final long WRITE_BYTES = 256 * MIB;

    public static void main(String[] args) throws Exception {
        Logger.getLogger("").setLevel(Level.WARNING);
        for (var h : Logger.getLogger("").getHandlers()) {
            h.setLevel(Level.WARNING);
        }
        System.out.printf("edgeplane storage driver benchmark (%d rounds for latencies, %d MiB sequential writes)%n",
                ROUNDS, WRITE_BYTES / MIB);
        try (HostFixture host = new HostFixture("bench")) {
            StorageDriverConfig config = StorageDriverConfig.of(host.dir().resolve("state"), "bench")
                    .withBtrfsPool(host.btrfsPool(4096 * MIB));
            InProcessDriver d = host.closeLater(new InProcessDriver(config, host.dir().resolve("csi.sock")));
            double hostWrite = hostThroughput(host.dir().resolve("host-write.bin"));
            System.out.printf("host filesystem (%s) sequential write: %.0f MiB/s%n",
                    host.commands.check("stat", "-f", "-c", "%T", host.dir().toString()).strip(), hostWrite);
            for (String b : List.of("loopfs/ext4", "loopfs/xfs", "btrfs/btrfs")) {
                bench(host, d.client, b.split("/")[0], b.split("/")[1], hostWrite);
            }
        }
    }

    private static void bench(HostFixture host, CsiClient csi, String backend, String fs, double hostWrite)
            throws Exception {
        Map<String, String> params = Map.of("backend", backend, "fsType", fs);
        String label = backend + "/" + fs;
        List<Double> latencies = new ArrayList<>();
        for (int i = 0; i < ROUNDS; i++) {
            String name = "lat-" + fs + "-" + i;
            Path staging = host.dir().resolve("staging/" + name);
            Path target = host.dir().resolve("pods/" + name);
            long t0 = System.nanoTime();
            String id = csi.controller.createVolume(Requests.create(name, 1024 * MIB, params).build())
                    .getVolume().getVolumeId();
            csi.node.nodeStageVolume(Requests.stage(id, staging));
            csi.node.nodePublishVolume(Requests.publish(id, staging, target, false));
            latencies.add((System.nanoTime() - t0) / 1e6);
            teardown(csi, id, staging, target);
        }
        Collections.sort(latencies);
        System.out.printf("%-12s create-to-mounted (1 GiB; CreateVolume+NodeStage+NodePublish): median %.0f ms, "
                + "min %.0f ms, max %.0f ms%n", label, latencies.get(ROUNDS / 2), latencies.get(0),
                latencies.get(ROUNDS - 1));

        String name = "snap-" + fs;
        Path staging = host.dir().resolve("staging/" + name);
        Path target = host.dir().resolve("pods/" + name);
        String id = csi.controller.createVolume(Requests.create(name, 1024 * MIB, params).build())
                .getVolume().getVolumeId();
        csi.node.nodeStageVolume(Requests.stage(id, staging));
        csi.node.nodePublishVolume(Requests.publish(id, staging, target, false));
        Requests.writeFile(target.resolve("data.bin"), 100 * MIB);
        long t0 = System.nanoTime();
        String snapshotId = csi.controller.createSnapshot(CreateSnapshotRequest.newBuilder().setName(name)
                .setSourceVolumeId(id).build()).getSnapshot().getSnapshotId();
        double snapMs = (System.nanoTime() - t0) / 1e6;
        System.out.printf("%-12s snapshot of a mounted 1 GiB volume with 100 MiB written: %.0f ms%n", label, snapMs);
        csi.controller.deleteSnapshot(DeleteSnapshotRequest.newBuilder().setSnapshotId(snapshotId).build());
        Files.delete(target.resolve("data.bin"));

        double volWrite = throughput(target.resolve("write.bin"));
        System.out.printf("%-12s sequential write in the volume: %.0f MiB/s = %.2f x host%n", label, volWrite,
                volWrite / hostWrite);
        teardown(csi, id, staging, target);
    }

    private static double hostThroughput(Path file) throws Exception {
        throughput(file); // warm-up
        return throughput(file);
    }

    /** MiB/s of writing WRITE_BYTES and fsyncing them; best of 2 to damp noise from other tenants. */
    private static double throughput(Path file) throws Exception {
        double best = 0;
        for (int i = 0; i < 2; i++) {
            long t0 = System.nanoTime();
            Requests.writeFile(file, WRITE_BYTES);
            double secs = (System.nanoTime() - t0) / 1e9;
            best = Math.max(best, WRITE_BYTES / (double) MIB / secs);
            Files.delete(file);
        }
        return best;
    }

    private static void teardown(CsiClient csi, String id, Path staging, Path target) {
        csi.node.nodeUnpublishVolume(Requests.unpublish(id, target));
        csi.node.nodeUnstageVolume(Requests.unstage(id, staging));
        csi.controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build());
    }
}
