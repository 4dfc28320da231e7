package dev.edgeplane.e2e;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Figures for the core path, printed, not asserted (timed assertions flake on shared machines):
 * CreateApp to all containers running, and the agent's RSS with 3 replicas running.
 * Not part of the test run: {@code deploy/bench.sh} runs it.
 */
class CoreBench {
    static final int RUNS = Integer.getInteger("bench.runs", 7);
    static final int REPLICAS = 2;

    @TempDir Path dir;

    @Test
    void createAppToRunningAndAgentMemory() throws Exception {
        try (EdgeCluster cluster = EdgeCluster.start(dir, "bench-node", List.of())) {
            List<Long> millis = new ArrayList<>();
            for (int run = 0; run < RUNS; run++) {
                String name = "bench-" + run;
                long start = System.nanoTime();
                cluster.cloud.apps().createApp(CreateAppRequest.newBuilder().setApp(app(name, REPLICAS,
                        cluster.image)).build());
                Await.until(name + " running", EdgeCluster.CONVERGE, cluster.host::logTail,
                        () -> cluster.cri.running(Map.of("edgeplane.dev/app", name)).size() == REPLICAS);
                millis.add((System.nanoTime() - start) / 1_000_000);
                cluster.cloud.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace("default")
                        .setName(name).build());
                Await.until(name + " gone", EdgeCluster.CONVERGE, cluster.host::logTail,
                        () -> cluster.cri.containers(Map.of("edgeplane.dev/app", name)).isEmpty());
            }
            List<Long> sorted = new ArrayList<>(millis);
            Collections.sort(sorted);
            System.out.printf("BENCH create-to-running (%d replicas, image present after run 0): "
                    + "runs=%s median=%d ms min=%d ms max=%d ms%n",
                    REPLICAS, millis, sorted.get(sorted.size() / 2), sorted.get(0), sorted.get(sorted.size() - 1));

            cluster.cloud.apps().createApp(CreateAppRequest.newBuilder().setApp(app("rss", 3,
                    cluster.image)).build());
            Await.until("rss running", EdgeCluster.CONVERGE, cluster.host::logTail,
                    () -> cluster.cri.running(Map.of("edgeplane.dev/app", "rss")).size() == 3);
            Thread.sleep(10_000); // let a few sync/heartbeat/reconcile cycles run
            System.out.printf("BENCH agent RSS with 3 replicas running: %d MiB (control plane: %d MiB)%n",
                    cluster.host.agent().rssKib() / 1024, cluster.cloud.process().rssKib() / 1024);
        }
    }

    static App app(String name, int replicas, String image) {
        return App.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(AppSpec.newBuilder().setReplicas(replicas).setTemplate(PodTemplate.newBuilder()
                        .setTerminationGraceSeconds(1)
                        .addContainers(Container.newBuilder().setName("main").setImage(image)
                                .addAllCommand(List.of("sleep", "3600")))))
                .build();
    }
}
