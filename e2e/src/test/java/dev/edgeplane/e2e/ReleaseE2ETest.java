package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.AbortCriteria;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppStatus;
import dev.edgeplane.api.v1.ListAppRevisionsRequest;
import dev.edgeplane.api.v1.RolloutStatus;
import dev.edgeplane.api.v1.RolloutStrategy;
import dev.edgeplane.testkit.Commands;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Releases end to end: the real control plane and etcd, two agents each with its own containerd.
 * A rolling update never drops below desired - max_unavailable ready replicas (readiness as the
 * agents report it); a single replica is replaced with no moment without a ready one (surge); an
 * image that cannot be pulled trips the abort criteria and the control plane rolls back by itself,
 * which `edgectl rollout status` reports with its own exit code.
 */
class ReleaseE2ETest {
    @TempDir
    Path dir;

    /** Polls the App's ready replicas every 50 ms while it runs: the fewest seen, and the longest time with none. */
    private static final class ReadyWatch implements AutoCloseable {
        final AtomicInteger fewest = new AtomicInteger(Integer.MAX_VALUE);
        final AtomicLong longestGapMillis = new AtomicLong();
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final Thread thread;

        ReadyWatch(EdgeCluster cluster, String app) {
            thread = new Thread(() -> {
                long noneSince = -1;
                while (running.get()) {
                    try {
                        AppStatus s = cluster.get(app).getStatus();
                        fewest.accumulateAndGet(s.getReadyReplicas(), Math::min);
                        long now = System.nanoTime();
                        if (s.getReadyReplicas() == 0) {
                            noneSince = noneSince < 0 ? now : noneSince;
                            longestGapMillis.accumulateAndGet((now - noneSince) / 1_000_000, Math::max);
                        } else {
                            noneSince = -1;
                        }
                        Thread.sleep(50);
                    } catch (InterruptedException e) {
                        return;
                    } catch (RuntimeException e) {
                        // the next poll
                    }
                }
            }, "ready-watch");
            thread.start();
        }

        @Override
        public void close() throws InterruptedException {
            running.set(false);
            thread.join(5000);
        }
    }

    private static App withStrategy(App app, RolloutStrategy strategy, int minReadySeconds) {
        return app.toBuilder().setSpec(app.getSpec().toBuilder().setStrategy(strategy).setMinReadySeconds(minReadySeconds)).build();
    }

    private static boolean complete(App app, long revision) {
        RolloutStatus r = app.getStatus().getRollout();
        return r.getRevision() == revision && r.getPhase() == RolloutStatus.Phase.COMPLETE
                && app.getStatus().getUpdatedReplicas() == app.getStatus().getDesiredReplicas()
                && app.getStatus().getReadyReplicas() == app.getStatus().getDesiredReplicas();
    }

    @Test
    void rollingUpdatesKeepReplicasReadyAndABadImageRollsBackByItself() throws Exception {
        try (EdgeCluster cluster = EdgeCluster.start(dir, Map.of(), EdgeCluster.FAST_AGENT, "edge-1", "edge-2")) {
            // Four replicas, 25% / 25%: one surge replica, at most one unavailable; ready means running for a second.
            cluster.create(withStrategy(cluster.app("web", 4, "sh", "-c", "echo v1; exec sleep 3600"), RolloutStrategy.newBuilder()
                    .setAbortCriteria(AbortCriteria.newBuilder().setFailureThresholdPercent(50).setMinCompleted(1)).build(), 1));
            Await.until("revision 1 rolled out", EdgeCluster.CONVERGE, cluster::diagnostics, () -> complete(cluster.get("web"), 1));

            try (ReadyWatch watch = new ReadyWatch(cluster, "web")) {
                cluster.setCommand("web", "sh", "-c", "echo v2; exec sleep 3600");
                Await.until("revision 2 rolled out", EdgeCluster.CONVERGE, cluster::diagnostics, () -> complete(cluster.get("web"), 2));
                watch.close();
                assertTrue(watch.fewest.get() >= 3, "never fewer than 3 of 4 ready during the update: " + watch.fewest.get());
            }
            App web = cluster.get("web");
            assertEquals(4, web.getStatus().getReplicasList().stream().filter(r -> r.getGeneration() == web.getMetadata().getGeneration()).count(),
                    "every replica runs the new generation: " + web.getStatus().getReplicasList());

            // An image that cannot be pulled: the abort criteria trip and the control plane puts revision 2 back.
            App current = cluster.get("web");
            App bad = current.toBuilder().clearStatus().setSpec(current.getSpec().toBuilder().setTemplate(current.getSpec().getTemplate()
                    .toBuilder().setContainers(0, current.getSpec().getTemplate().getContainers(0).toBuilder()
                            .setImage("127.0.0.1:9/edgeplane/missing:1")))).build();
            cluster.update(bad);
            Await.until("rolled back by the abort criteria", EdgeCluster.CONVERGE, cluster::diagnostics, () -> {
                App a = cluster.get("web");
                return a.getStatus().getRollout().getPhase() == RolloutStatus.Phase.ABORTED
                        && a.getStatus().getReadyReplicas() == 4 && a.getStatus().getUpdatedReplicas() == 4;
            });
            App after = cluster.get("web");
            assertEquals(web.getSpec().getTemplate(), after.getSpec().getTemplate(), "the template of revision 2 is back");
            assertTrue(after.getStatus().getRollout().getAbortReason().contains("ErrImagePull"), after.getStatus().getRollout().toString());
            var history = cluster.cloud.apps().listAppRevisions(ListAppRevisionsRequest.newBuilder().setNamespace("default").setName("web")
                    .build());
            assertEquals(4, history.getCurrentRevision(), "revision 2 came back as revision 4: " + history);

            Commands.Result status = edgectl(cluster, "rollout", "status", "web", "--timeout", "20s");
            assertEquals(4, status.exitCode(), "rollout status exits 4 on an aborted rollout: " + status.output());
            assertTrue(status.output().contains("aborted"), status.output());
            Commands.Result revisions = edgectl(cluster, "rollout", "history", "web");
            assertEquals(0, revisions.exitCode(), revisions.output());
            assertTrue(revisions.output().contains("rollback to revision 2"), revisions.output());
        }
    }

    @Test
    void aBatchedReleaseOverFourHostsGoesOneTwoOneWithPausesAndResumesAfterAKill9OfTheControlPlane() throws Exception {
        try (EdgeCluster cluster = EdgeCluster.start(dir, Map.of(), EdgeCluster.FAST_AGENT, "edge-1", "edge-2", "edge-3", "edge-4")) {
            App base = cluster.app("fleet", 0, "sh", "-c", "echo v1; exec sleep 3600");
            cluster.create(base.toBuilder().setSpec(base.getSpec().toBuilder().setMode(dev.edgeplane.api.v1.AppSpec.Mode.EVERY_NODE)
                    .setStrategy(RolloutStrategy.newBuilder().setType(RolloutStrategy.Type.BATCHED)
                            .setBatched(dev.edgeplane.api.v1.BatchedRelease.newBuilder().setMaxBatchPercent(50).setManualPause(true))))
                    .build());
            Await.until("revision 1 on the four nodes", EdgeCluster.CONVERGE, cluster::diagnostics,
                    () -> complete(cluster.get("fleet"), 1) && cluster.get("fleet").getStatus().getDesiredReplicas() == 4);

            cluster.setCommand("fleet", "sh", "-c", "echo v2; exec sleep 3600");
            awaitPausedAfter(cluster, 1, 1);
            assertEquals(3, cluster.get("fleet").getStatus().getRollout().getBatchesTotal());

            cluster.restartCloud(); // kill -9 and start again: the rollout's state is in etcd
            awaitPausedAfter(cluster, 1, 1);
            Thread.sleep(2000);
            assertEquals(1, cluster.get("fleet").getStatus().getUpdatedReplicas(), "still paused after the restart");

            Commands.Result resumed = edgectl(cluster, "rollout", "resume", "fleet");
            assertEquals(0, resumed.exitCode(), resumed.output());
            awaitPausedAfter(cluster, 2, 3); // the second batch: two more nodes
            assertEquals(0, edgectl(cluster, "rollout", "resume", "fleet").exitCode());
            Commands.Result status = edgectl(cluster, "rollout", "status", "fleet", "--timeout", "90s");
            assertEquals(0, status.exitCode(), status.output());
            assertTrue(status.output().contains("successfully rolled out (revision 2)"), status.output());
            assertTrue(status.output().contains("batch 3/3"), status.output());
        }
    }

    /** Paused after batch {@code batch} with {@code updated} replicas on the new template, every replica ready. */
    private static void awaitPausedAfter(EdgeCluster cluster, int batch, int updated) {
        Await.until("paused after batch " + batch, EdgeCluster.CONVERGE, cluster::diagnostics, () -> {
            App a = cluster.get("fleet");
            return a.getStatus().getRollout().getPhase() == RolloutStatus.Phase.PAUSED && a.getStatus().getRollout().getBatch() == batch
                    && a.getStatus().getUpdatedReplicas() == updated && a.getStatus().getReadyReplicas() == 4;
        });
    }

    @Test
    void aRolloutWithPrefetchPullsTheNewImageOnTheNodesBeforeItReplacesAnything() throws Exception {
        try (EdgeCluster cluster = EdgeCluster.start(dir, Map.of(), EdgeCluster.FAST_AGENT, "edge-1")) {
            App base = cluster.app("pf", 1, "sh", "-c", "exec sleep 3600");
            cluster.create(withStrategy(base, RolloutStrategy.newBuilder().setPrefetchImages(true).build(), 0));
            Await.until("revision 1 rolled out", EdgeCluster.CONVERGE, cluster::diagnostics, () -> complete(cluster.get("pf"), 1));
            String image2 = cluster.registry.push(dev.edgeplane.testkit.TestImages.BUSYBOX.archive(), "edgeplane/busybox:2");

            App current = cluster.get("pf");
            cluster.update(current.toBuilder().clearStatus().setSpec(current.getSpec().toBuilder().setTemplate(current.getSpec()
                    .getTemplate().toBuilder().setContainers(0, current.getSpec().getTemplate().getContainers(0).toBuilder()
                            .setImage(image2)))).build());
            Await.until("revision 2 rolled out", EdgeCluster.CONVERGE, cluster::diagnostics, () -> complete(cluster.get("pf"), 2));

            String agentLog = cluster.hosts.get(0).agent().logText();
            assertTrue(agentLog.contains("image prefetch: pulled " + image2), "the prefetch pulled it:\n" + cluster.diagnostics());
            assertEquals(1, count(agentLog, "pulled " + image2), "pulled once, by the prefetch: the pod found it there");
            AppStatus status = cluster.get("pf").getStatus();
            assertEquals(1, status.getReadyReplicas());
            Await.until("the rollout's prefetch removed once it is done", EdgeCluster.CONVERGE, cluster::diagnostics,
                    () -> cluster.cloud.process().logText().contains("pulling the images of revision 2")
                            && edgectl(cluster, "get", "prefetches").output().lines().noneMatch(l -> l.startsWith("pf-r2")));
        }
    }

    private static int count(String text, String needle) {
        int n = 0;
        for (int i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }

    @Test
    void oneReplicaIsReplacedWithoutAMomentWithNoneReady() throws Exception {
        try (EdgeCluster cluster = EdgeCluster.start(dir, Map.of(), EdgeCluster.FAST_AGENT, "edge-1")) {
            cluster.create(withStrategy(cluster.app("solo", 1, "sh", "-c", "echo v1; exec sleep 3600"),
                    RolloutStrategy.getDefaultInstance(), 1));
            Await.until("revision 1 rolled out", EdgeCluster.CONVERGE, cluster::diagnostics, () -> complete(cluster.get("solo"), 1));
            List<Long> gaps = new ArrayList<>();
            for (int round = 2; round <= 3; round++) {
                try (ReadyWatch watch = new ReadyWatch(cluster, "solo")) {
                    long started = System.nanoTime();
                    cluster.setCommand("solo", "sh", "-c", "echo v" + round + "; exec sleep 3600");
                    int revision = round;
                    Await.until("revision " + round + " rolled out", EdgeCluster.CONVERGE, cluster::diagnostics,
                            () -> complete(cluster.get("solo"), revision));
                    watch.close();
                    gaps.add(watch.longestGapMillis.get());
                    System.out.printf("BENCH release serving_gap_ms=%d rollout_s=%.1f (1 replica, one host, 25%%/25%%, min_ready_seconds 1)%n",
                            watch.longestGapMillis.get(), (System.nanoTime() - started) / 1e9);
                }
            }
            assertEquals(List.of(0L, 0L), gaps, "a surge replica is ready before the old one goes");
        }
    }

    private static Commands.Result edgectl(EdgeCluster cluster, String... args) {
        List<String> cmd = new ArrayList<>(Binaries.edgectl());
        cmd.addAll(List.of("--insecure", "--server", cluster.cloud.apiAddress(), "--token-file", cluster.cloud.adminTokenFile().toString()));
        cmd.addAll(List.of(args));
        return Commands.exec(cmd, Map.of(), Duration.ofSeconds(60));
    }
}
