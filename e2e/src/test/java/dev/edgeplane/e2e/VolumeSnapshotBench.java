package dev.edgeplane.e2e;

import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateVolumeRequest;
import dev.edgeplane.api.v1.CreateVolumeSnapshotRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.DeleteVolumeSnapshotRequest;
import dev.edgeplane.api.v1.GetVolumeSnapshotRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotSpec;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.testkit.HostStorage;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Snapshot time through the whole platform, printed, not asserted: CreateVolumeSnapshot on the API
 * until the VolumeSnapshot reads ready_to_use (task in the node's desired state, Sync, agent, CSI
 * CreateSnapshot of a mounted 1 GiB loopfs ext4 volume with 100 MiB written, report, status write).
 * Not part of the test run: {@code deploy/bench.sh storage} runs it.
 */
class VolumeSnapshotBench {
    static final int RUNS = Integer.getInteger("bench.runs", 5);

    @TempDir static Path dir;

    @Test
    void snapshotThroughThePlatform() throws Exception {
        try (EdgeCluster cluster = EdgeCluster.start(dir, "bench-snap", List.of("--sync-period", "2s"))) {
            var volumes = cluster.cloud.volumes();
            Path out = Files.createDirectories(dir.resolve("out"));
            volumes.createVolume(CreateVolumeRequest.newBuilder().setVolume(Volume.newBuilder()
                    .setMetadata(ObjectMeta.newBuilder().setName("bench"))
                    .setSpec(VolumeSpec.newBuilder().setSizeBytes(1L << 30).setReclaimPolicy(VolumeSpec.ReclaimPolicy.DELETE))).build());
            cluster.cloud.apps().createApp(CreateAppRequest.newBuilder().setApp(VolumeSnapshotE2ETest.app("writer", "bench", out,
                    "dd if=/dev/urandom of=/data/blob bs=1M count=100 && sync && echo done > /out/written; sleep 3600", "1",
                    cluster.image)).build());
            Await.until("100 MiB written", EdgeCluster.CONVERGE, cluster.host::logTail,
                    () -> VolumeSnapshotE2ETest.read(out.resolve("written")).equals("done"));
            List<Long> millis = new ArrayList<>();
            for (int run = 0; run < RUNS; run++) {
                String name = "bench-" + run;
                long start = System.nanoTime();
                volumes.createVolumeSnapshot(CreateVolumeSnapshotRequest.newBuilder().setSnapshot(VolumeSnapshot.newBuilder()
                        .setMetadata(ObjectMeta.newBuilder().setName(name))
                        .setSpec(VolumeSnapshotSpec.newBuilder().setVolume("bench"))).build());
                Await.until(name + " ready", EdgeCluster.CONVERGE, cluster.host::logTail, () -> volumes.getVolumeSnapshot(
                        GetVolumeSnapshotRequest.newBuilder().setName(name).build()).getStatus().getReadyToUse());
                millis.add((System.nanoTime() - start) / 1_000_000);
                volumes.deleteVolumeSnapshot(DeleteVolumeSnapshotRequest.newBuilder().setName(name).build());
                Await.until(name + " deleted on the node", EdgeCluster.CONVERGE, cluster.host::logTail,
                        () -> VolumeSnapshotE2ETest.emptyDir(cluster.host.stateDir().resolve("csi/snapshots")));
            }
            List<Long> sorted = new ArrayList<>(millis);
            Collections.sort(sorted);
            System.out.printf("BENCH storage platform snapshot (CreateVolumeSnapshot -> ready_to_use, 1 GiB loopfs ext4 mounted, "
                    + "100 MiB written): runs=%s median=%d ms min=%d ms max=%d ms%n",
                    millis, sorted.get(sorted.size() / 2), sorted.get(0), sorted.get(sorted.size() - 1));
            cluster.cloud.apps().deleteApp(DeleteAppRequest.newBuilder().setName("writer").build());
            Await.until("the volume deleted with its app", EdgeCluster.CONVERGE, cluster.host::logTail, () -> {
                try {
                    volumes.getVolume(dev.edgeplane.api.v1.GetVolumeRequest.newBuilder().setName("bench").build());
                    return false;
                } catch (StatusRuntimeException e) {
                    return e.getStatus().getCode() == Status.Code.NOT_FOUND;
                }
            });
            Await.until("the CSI volume deleted on the node", EdgeCluster.CONVERGE, cluster.host::logTail,
                    () -> VolumeSnapshotE2ETest.emptyDir(cluster.host.stateDir().resolve("csi/volumes")));
        } finally {
            HostStorage.releaseUnder(dir);
        }
    }
}
