package dev.edgeplane.e2e;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.ConfigMap;
import dev.edgeplane.api.v1.ConfigMapVolumeSource;
import dev.edgeplane.api.v1.CreateConfigMapRequest;
import dev.edgeplane.api.v1.GetConfigMapRequest;
import dev.edgeplane.api.v1.HostPathSource;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.UpdateConfigMapRequest;
import dev.edgeplane.api.v1.VolumeMount;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The time from UpdateConfigMap to the new content in the file a running container reads (the API
 * write, the App controller's assignment rewrite, the Sync stream, the agent's journal and the
 * symlink swap), printed, not asserted. Not part of the test run: {@code deploy/bench.sh config}.
 */
class ConfigBench {
    static final int RUNS = Integer.getInteger("bench.runs", 20);

    @TempDir Path dir;

    @Test
    void configMapUpdateToFile() throws Exception {
        try (EdgeCluster cluster = EdgeCluster.start(dir, "bench-node", List.of())) {
            cluster.cloud.configMaps().createConfigMap(CreateConfigMapRequest.newBuilder().setConfigMap(ConfigMap.newBuilder()
                    .setMetadata(ObjectMeta.newBuilder().setName("bench")).putData("value", "0")).build());
            Path out = Files.createDirectories(dir.resolve("out"));
            // The container copies the file every 50 ms: the figure includes up to that much of its own polling.
            App app = cluster.app("reader", 1, "sh", "-c",
                    "while true; do cat /etc/bench/value > /out/seen.tmp; mv /out/seen.tmp /out/seen; sleep 0.05; done");
            cluster.create(app.toBuilder().setSpec(app.getSpec().toBuilder().setTemplate(app.getSpec().getTemplate().toBuilder()
                    .setContainers(0, app.getSpec().getTemplate().getContainers(0).toBuilder()
                            .addVolumeMounts(VolumeMount.newBuilder().setName("out").setMountPath("/out"))
                            .addVolumeMounts(VolumeMount.newBuilder().setName("bench").setMountPath("/etc/bench").setReadOnly(true)))
                    .addVolumes(PodVolume.newBuilder().setName("out").setHostPath(HostPathSource.newBuilder().setPath(out.toString())))
                    .addVolumes(PodVolume.newBuilder().setName("bench").setConfigMap(ConfigMapVolumeSource.newBuilder().setName("bench")))))
                    .build());
            Await.until("the reader sees the first value", EdgeCluster.CONVERGE, cluster::diagnostics,
                    () -> ConfigE2ETest.read(out.resolve("seen")).equals("0"));
            List<Long> millis = new ArrayList<>();
            for (int run = 1; run <= RUNS; run++) {
                String value = Integer.toString(run);
                ConfigMap current = cluster.cloud.configMaps().getConfigMap(GetConfigMapRequest.newBuilder()
                        .setNamespace("default").setName("bench").build());
                long start = System.nanoTime();
                cluster.cloud.configMaps().updateConfigMap(UpdateConfigMapRequest.newBuilder()
                        .setConfigMap(current.toBuilder().putData("value", value)).build());
                Await.until("value " + value + " in the file", EdgeCluster.CONVERGE, cluster::diagnostics,
                        () -> ConfigE2ETest.read(out.resolve("seen")).equals(value));
                millis.add((System.nanoTime() - start) / 1_000_000);
            }
            List<Long> sorted = new ArrayList<>(millis);
            Collections.sort(sorted);
            System.out.printf("BENCH config configmap_update_to_file_ms_p50=%d configmap_update_to_file_ms_p95=%d "
                            + "configmap_update_to_file_ms_max=%d runs=%d (UpdateConfigMap to the file a running container reads)%n",
                    sorted.get(sorted.size() / 2), sorted.get((int) Math.ceil(sorted.size() * 0.95) - 1), sorted.get(sorted.size() - 1), RUNS);
        }
    }
}
