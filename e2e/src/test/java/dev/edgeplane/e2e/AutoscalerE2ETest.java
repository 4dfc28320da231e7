package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Autoscaler;
import dev.edgeplane.api.v1.AutoscalerCondition;
import dev.edgeplane.api.v1.NodeStatus;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15 part 3 end to end: the packaged control plane and a real agent on containerd. An App of one
 * CPU burner under an Autoscaler (CPU 50% of the requests, 1..3) grows to 3 when its replicas burn; the
 * agent is then stopped and the load taken away: the node goes UNREACHABLE, its metrics stop, and the
 * Autoscaler keeps the 3 replicas well past its (shortened) scale-down window, saying MetricsGap; once
 * the agent is back and reports idle replicas, a full window later it scales down to 1. The same is
 * read through edgectl (get, describe with history and events).
 */
class AutoscalerE2ETest {
    private static final String NODE = "edge-hpa";
    private static final int WINDOW_SECONDS = 10;
    /** Metrics every second; the control plane evaluates every second and takes 5 s old metrics as missing. */
    private static final List<String> AGENT = agentFlags();
    private static final Map<String, String> CLOUD = cloudEnv();

    @TempDir
    Path dir;

    private static List<String> agentFlags() {
        List<String> flags = new ArrayList<>(EdgeCluster.FAST_AGENT);
        flags.addAll(List.of("--metrics-interval", "1s", "--metrics-flush", "1s"));
        return flags;
    }

    private static Map<String, String> cloudEnv() {
        Map<String, String> env = new HashMap<>(EdgeCluster.FAST_FAULTS);
        env.put("EDGEPLANE_AUTOSCALER_SYNC_PERIOD", "1s");
        env.put("EDGEPLANE_AUTOSCALER_METRICS_MAX_AGE", "5s");
        return env;
    }

    private static AutoscalerCondition condition(Autoscaler a, String type) {
        return a.getStatus().getConditionsList().stream().filter(c -> c.getType().equals(type)).findFirst()
                .orElse(AutoscalerCondition.getDefaultInstance());
    }

    @Test
    void scalesUpUnderLoadKeepsItsReplicasThroughAMetricsGapAndScalesDownOnceIdle() throws Exception {
        try (EdgeCluster cluster = EdgeCluster.start(dir, CLOUD, AGENT, NODE)) {
            Burner burner = new Burner(dir);
            cluster.create(burner.app(cluster, "burner"));
            cluster.awaitRunning("burner", 1);
            Burner.autoscaler(cluster, "burner", "burner", 3, WINDOW_SECONDS);

            burner.on();
            Await.until("burner scaled to 3", EdgeCluster.CONVERGE, cluster::diagnostics,
                    () -> cluster.get("burner").getSpec().getReplicas() == 3);
            cluster.awaitRunning("burner", 3);
            Autoscaler up = Burner.get(cluster, "burner");
            assertTrue(up.getStatus().getHistoryCount() >= 1, up.getStatus().toString());
            assertEquals("cpu resource utilization (percentage of request) above target", up.getStatus().getHistory(0).getReason());

            // The link goes: no agent, no metrics, and the load goes too (the replicas keep running on the host).
            cluster.host.stopAgent();
            burner.off();
            cluster.awaitPhase(NodeStatus.Phase.UNREACHABLE);
            Await.until("ScalingActive False (MetricsGap)", EdgeCluster.CONVERGE, cluster::diagnostics,
                    () -> condition(Burner.get(cluster, "burner"), "ScalingActive").getReason().equals("MetricsGap"));
            Thread.sleep(2L * WINDOW_SECONDS * 1000);
            assertEquals(3, cluster.get("burner").getSpec().getReplicas(), "no scale-down for lack of metrics");
            assertEquals(3, cluster.runningIds("burner").size());
            assertEquals("False", condition(Burner.get(cluster, "burner"), "ScalingActive").getStatus());

            // The agent comes back and reports idle replicas: a full window after that, down to 1.
            long back = System.nanoTime();
            cluster.host.start();
            cluster.awaitNodeReady();
            Await.until("burner scaled down to 1", EdgeCluster.CONVERGE, cluster::diagnostics,
                    () -> cluster.get("burner").getSpec().getReplicas() == 1);
            double seconds = (System.nanoTime() - back) / 1e9;
            assertTrue(seconds >= WINDOW_SECONDS - 1, "a full window of fresh metrics first: " + seconds + " s");
            cluster.awaitRunning("burner", 1);
            Autoscaler down = Burner.get(cluster, "burner");
            assertEquals(1, down.getStatus().getHistory(0).getToReplicas());
            assertEquals("cpu resource utilization (percentage of request) below target", down.getStatus().getHistory(0).getReason());

            String table = cluster.edgectl("get", "autoscalers");
            assertTrue(table.contains("burner") && table.contains("app/burner") && table.contains("/50%"), table);
            Await.until("the rescale events", EdgeCluster.CONVERGE, cluster::diagnostics,
                    () -> cluster.edgectl("describe", "autoscaler", "burner").contains("SuccessfulRescale"));
            String describe = cluster.edgectl("describe", "autoscaler", "burner");
            assertTrue(describe.contains("3 -> 1") && describe.contains("-> 3"), describe);
            System.out.printf("autoscaler: up to 3 under load, kept 3 through a %d s metrics gap, down to 1 %.1f s after the agent returned%n",
                    2 * WINDOW_SECONDS, seconds);
        }
    }
}
