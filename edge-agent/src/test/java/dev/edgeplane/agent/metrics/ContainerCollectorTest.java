package dev.edgeplane.agent.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.Await;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.journal.JournalStore;
import dev.edgeplane.agent.pods.Pods;
import dev.edgeplane.agent.pods.Reconciler;
import dev.edgeplane.agent.pods.ReconcilerSettings;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.agent.status.StatusManager;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.Resources;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.testkit.Containerd;
import dev.edgeplane.testkit.TestImages;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Container series from a real containerd through CRI ListContainers/ListContainerStats. */
class ContainerCollectorTest {
    private static final Duration WAIT = Duration.ofSeconds(90);

    @TempDir
    Path tmp;

    @Test
    void burnerShowsMoreCpuThanIdleAndRestartsAreCounted() throws Exception {
        try (Containerd containerd = Containerd.start(List.of(TestImages.BUSYBOX));
             CriRuntime cri = CriRuntime.connect(containerd.endpoint())) {
            DesiredStateStore desired = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
            StatusManager status = new StatusManager(Clock.systemUTC());
            ReconcilerSettings settings = ReconcilerSettings.defaults("node-1", tmp.resolve("logs"))
                    .withSyncPeriod(Duration.ofMillis(500)).withBackoff(Duration.ofSeconds(1), Duration.ofSeconds(2), Duration.ofMinutes(10));
            AgentStats stats = AgentStats.system();
            try (Reconciler reconciler = new Reconciler(cri, desired, status, settings, Clock.systemUTC())) {
                reconciler.addReconcileListener(stats::reconciled);
                reconciler.start();
                // A CFS quota keeps the burner to 0.3 cores: the machine is shared.
                PodTemplate pair = Pods.template(PodTemplate.RestartPolicy.ALWAYS,
                        Pods.container("burn", Pods.BUSYBOX, "sh", "-c", "while :; do :; done").toBuilder()
                                .setLimits(Resources.newBuilder().setCpuMillis(300)).build(),
                        Pods.container("idle", Pods.BUSYBOX, "sleep", "3600"));
                PodTemplate crasher = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("main", Pods.BUSYBOX, "sh", "-c", "exit 3"));
                desired.applySnapshot(Snapshot.newBuilder().setRevision(1)
                        .addAssignments(Pods.assignment("metrics", "pair", 0, pair))
                        .addAssignments(Pods.assignment("metrics", "crash", 0, crasher)).build());
                Await.until(WAIT, "burner and idle running", () -> Pods.running(cri, "metrics").size() >= 2);

                ContainerCollector collector = new ContainerCollector(cri);
                collector.collect(new Samples());
                Map<String, String> burn = Map.of("namespace", "metrics", "app", "pair", "replica", "pair-0", "container", "burn");
                Map<String, String> idle = Map.of("namespace", "metrics", "app", "pair", "replica", "pair-0", "container", "idle");
                Map<String, String> crash = Map.of("namespace", "metrics", "app", "crash", "replica", "crash-0", "container", "main");
                Frame[] last = new Frame[1];
                // containerd refreshes its stats on its own schedule: poll until both readings moved.
                Await.until(WAIT, "cpu figures for both containers and a restart", () -> {
                    Samples s = new Samples();
                    collector.collect(s);
                    last[0] = s.frame(0);
                    return has(last[0], "container_cpu_usage_cores", burn) && has(last[0], "container_cpu_usage_cores", idle)
                            && has(last[0], "container_restarts_total", crash)
                            && NodeCollectorTest.value(last[0], "container_restarts_total", crash) >= 1;
                }, () -> String.valueOf(last[0]));
                // The rate is taken between two passes: measure it over a window long enough that the CFS quota
                // (100 ms periods) and the shared machine's scheduling noise average out.
                Thread.sleep(3000);
                Samples window = new Samples();
                collector.collect(window);
                Frame f = window.frame(0);
                double burnCores = NodeCollectorTest.value(f, "container_cpu_usage_cores", burn);
                double idleCores = NodeCollectorTest.value(f, "container_cpu_usage_cores", idle);
                assertTrue(burnCores > idleCores, "burner " + burnCores + " > idle " + idleCores);
                // No lower bound: on a loaded CI host the burner may get far less than its quota.
                assertTrue(burnCores < 0.6, "the burner is held to its 0.3-core quota: " + burnCores);
                assertTrue(idleCores < 0.05, "idle " + idleCores);
                assertTrue(NodeCollectorTest.value(f, "container_memory_working_set_bytes", idle) > 0);
                assertEquals(2.0, NodeCollectorTest.value(f, "container_state", burn), "running");
                assertEquals(0.0, NodeCollectorTest.value(f, "container_restarts_total", burn));
                assertTrue(f.values().keySet().stream().filter(s -> s.labels().equals(new java.util.TreeMap<>(crash)))
                        .filter(s -> s.name().equals("container_restarts_total")).count() == 1, "only the newest attempt is reported");

                Samples agent = new Samples();
                stats.collect(agent);
                assertTrue(NodeCollectorTest.value(agent.frame(0), "agent_reconcile_duration_seconds", Map.of("stat", "max")) > 0,
                        "pod workers report their reconcile durations");
            } finally {
                Pods.removeAll(cri);
            }
        }
    }

    private static boolean has(Frame f, String name, Map<String, String> labels) {
        return f.values().keySet().stream().anyMatch(s -> s.name().equals(name) && s.labels().equals(new java.util.TreeMap<>(labels)));
    }
}
