package dev.edgeplane.e2e;

import dev.edgeplane.agent.pods.PodConfigs;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppEvent;
import dev.edgeplane.api.v1.AppServiceGrpc;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.WatchAppsRequest;
import dev.edgeplane.cri.v1.ContainerConfig;
import dev.edgeplane.cri.v1.PodSandboxConfig;
import dev.edgeplane.testkit.Commands;
import io.grpc.Context;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The lean-edge figures of one real agent (the packaged launcher with its own JVM flags, default
 * features: metrics, events, tunnel, journal) on a real containerd with runc, joined to the packaged
 * control plane on a real etcd. Printed on one line, {@code BENCH edge key=value...}, not asserted:
 * <ul>
 *   <li>{@code agent_rss_idle_mib}: the agent's RSS after join with nothing to run, settled;
 *   <li>{@code idle_bits_per_s_per_node}: bytes on the agent's socket at the control plane, both ways
 *       (tcp_info bytes_acked + bytes_received, as {@code ss -ti} shows them, TLS and HTTP/2 framing
 *       included), over an idle window with one replica running, from 75 s after it started (past the
 *       metrics batch that defines its container's series);
 *   <li>{@code create_to_running_p50_ms}/{@code _p99_ms}: CreateApp returning to the replica RUNNING
 *       as WatchApps shows it, one replica, image present, over {@code edge.runs} apps, each deleted
 *       before the next (100: with 30, the p99 was the single slowest run);
 *   <li>{@code bare_cri_p50_ms}/{@code _p99_ms}: RunPodSandbox + CreateContainer + StartContainer of the
 *       same image through the same CRI socket with the agent's own CRI client and configs, the
 *       floor any agent pays here; {@code create_to_running_ratio} is the p50 over this p50;
 *   <li>{@code agent_rss_20pods_mib}: the agent's RSS with 20 replicas running, settled.
 * </ul>
 * System properties: {@code edge.runs} (100), {@code edge.idleSeconds} (300: with metrics on, a heartbeat comes every five minutes, so a shorter window misses or doubles one), {@code edge.pods} (20), {@code edge.agentFlags}
 * (extra {@code edge-agent run} flags, comma-separated, e.g. {@code --metrics-flush,300s}; default none), {@code edge.jcmd}
 * (a jcmd command for the agent run with the pods running, its words separated by commas, e.g.
 * {@code VM.native_memory,summary} with {@code EDGE_AGENT_JAVA_OPTS} adding {@code -XX:NativeMemoryTracking=summary}).
 * The agent's JVM flags are the launcher's, or {@code EDGE_AGENT_JAVA_OPTS} when set in the environment.
 * Not part of the test run: {@code deploy/bench.sh edge} runs it.
 */
class EdgeBench {
    static final int RUNS = Integer.getInteger("edge.runs", 100);
    static final int IDLE_SECONDS = Integer.getInteger("edge.idleSeconds", 300);
    static final int PODS = Integer.getInteger("edge.pods", 20);
    /** Let a few heartbeat, metrics and reconcile cycles run before reading RSS. */
    static final Duration SETTLE = Duration.ofSeconds(15);
    /**
     * Before the idle window: past the first metrics flush (60 s) after the replica started, whose batch
     * defines the new container's series. That is the cost of a new replica, once a stream, not idle traffic.
     */
    static final Duration IDLE_SETTLE = Duration.ofSeconds(75);

    @TempDir Path dir;

    @Test
    void edge() throws Exception {
        Map<String, Object> figures = new java.util.LinkedHashMap<>();
        String extra = System.getProperty("edge.agentFlags", "");
        List<String> agentFlags = extra.isBlank() ? List.of() : List.of(extra.trim().split("[,\\s]+"));
        try (EdgeCluster cluster = EdgeCluster.start(dir, "bench-node", agentFlags)) {
            Thread.sleep(SETTLE.toMillis());
            figures.put("agent_rss_idle_mib", mib(cluster.host.agent().rssKib()));

            // First RUNNING of each app as the API shows it, stamped when the event arrives.
            Map<String, Long> runningAt = new ConcurrentHashMap<>();
            Context.CancellableContext watch = Context.current().withCancellation();
            watch.run(() -> AppServiceGrpc.newStub(cluster.cloud.apps().getChannel())
                    .withCallCredentials(cluster.cloud.apps().getCallOptions().getCredentials())
                    .watchApps(WatchAppsRequest.newBuilder().setNamespace("default").build(), new StreamObserver<>() {
                        @Override public void onNext(AppEvent event) {
                            long now = System.nanoTime();
                            App app = event.getApp();
                            long running = app.getStatus().getReplicasList().stream()
                                    .filter(r -> r.getPhase() == ReplicaStatus.Phase.RUNNING).count();
                            if (running > 0 && running >= app.getSpec().getReplicas()) {
                                runningAt.putIfAbsent(app.getMetadata().getName(), now);
                            }
                        }
                        @Override public void onError(Throwable t) {}
                        @Override public void onCompleted() {}
                    }));
            try {
                // The image pulled once, then one replica running through an idle window.
                cluster.create(CoreBench.app("idle", 1, cluster.image));
                awaitRunning(cluster, runningAt, "idle");
                Thread.sleep(IDLE_SETTLE.toMillis());
                FleetCluster.Wire wire0 = agentWire(cluster);
                long i0 = System.nanoTime();
                Thread.sleep(IDLE_SECONDS * 1000L);
                FleetCluster.Wire wire1 = agentWire(cluster);
                double idle = (System.nanoTime() - i0) / 1e9;
                if (wire0.sockets() != 1 || wire1.sockets() != 1) {
                    throw new AssertionError("the agent's socket at the control plane: " + wire0.sockets() + " then " + wire1.sockets());
                }
                figures.put("idle_bits_per_s_per_node", (wire1.bytes() - wire0.bytes()) * 8 / idle);
                figures.put("idle_window_s", (long) idle);
                cluster.delete("idle");

                List<Long> createMs = new ArrayList<>();
                List<Long> toContainerMs = new ArrayList<>();
                for (int run = 0; run < RUNS; run++) {
                    String name = "c" + run;
                    long startWall = System.currentTimeMillis();
                    long start = System.nanoTime();
                    cluster.create(CoreBench.app(name, 1, cluster.image));
                    awaitRunning(cluster, runningAt, name);
                    createMs.add((runningAt.get(name) - start) / 1_000_000);
                    containerStarted(cluster, name).ifPresent(at -> toContainerMs.add(at - startWall));
                    cluster.delete(name);
                }
                List<Long> bareMs = bareCri(cluster, RUNS);
                long p50 = percentile(createMs, 50);
                long bare50 = percentile(bareMs, 50);
                figures.put("create_to_running_p50_ms", p50);
                figures.put("create_to_running_p99_ms", percentile(createMs, 99));
                figures.put("bare_cri_p50_ms", bare50);
                figures.put("bare_cri_p99_ms", percentile(bareMs, 99));
                figures.put("create_to_running_ratio", (double) p50 / Math.max(1, bare50));
                if (!toContainerMs.isEmpty()) {
                    // Where the time goes: up to the agent's StartContainer returning, and from there to RUNNING in the API.
                    figures.put("to_container_started_p50_ms", percentile(toContainerMs, 50));
                }
                System.out.println("edge: create-to-running ms " + createMs + "; to the agent's container started ms "
                        + toContainerMs + "; bare CRI ms " + bareMs);

                cluster.create(CoreBench.app("pods", PODS, cluster.image));
                awaitRunning(cluster, runningAt, "pods");
                Thread.sleep(SETTLE.toMillis());
                figures.put("agent_rss_20pods_mib", mib(cluster.host.agent().rssKib()));
                String jcmd = System.getProperty("edge.jcmd", "");
                if (!jcmd.isEmpty()) { // e.g. VM.native_memory,summary with -XX:NativeMemoryTracking=summary in EDGE_AGENT_JAVA_OPTS
                    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                            Long.toString(cluster.host.agent().pid())));
                    cmd.addAll(List.of(jcmd.split(",")));
                    System.out.println("edge: " + String.join(" ", cmd) + "\n" + Commands.run(cmd, Duration.ofSeconds(60)));
                }
                figures.put("pods", PODS);
                figures.put("runs", RUNS);
                figures.put("cp_rss_mib", mib(cluster.cloud.process().rssKib()));
                figures.put("agent_threads", threads(cluster.host.agent().pid()));
            } finally {
                watch.cancel(null);
                StringBuilder line = new StringBuilder("BENCH edge");
                figures.forEach((k, v) -> line.append(' ').append(k).append('=').append(v instanceof Double d
                        ? String.format(Locale.ROOT, "%.2f", d) : v));
                if (!agentFlags.isEmpty()) {
                    line.append(" agent_flags=").append(String.join(",", agentFlags));
                }
                line.append(" load=").append(java.nio.file.Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
                System.out.println(line);
            }
        }
    }

    private static final Pattern CONTAINER_STARTED = Pattern.compile("^(\\S+) .*default/(\\S+)-0: started container ");

    /** When the agent logged that it started the app's container (wall clock, ms), if it did. */
    private static java.util.Optional<Long> containerStarted(EdgeCluster cluster, String app) {
        return cluster.host.agent().logText().lines().map(CONTAINER_STARTED::matcher)
                .filter(m -> m.find() && m.group(2).equals(app))
                .map(m -> java.time.Instant.parse(m.group(1)).toEpochMilli()).reduce((a, b) -> b);
    }

    private static void awaitRunning(EdgeCluster cluster, Map<String, Long> runningAt, String app) {
        Await.until(app + " RUNNING through WatchApps", EdgeCluster.CONVERGE, cluster::diagnostics,
                () -> runningAt.containsKey(app));
    }

    /**
     * The same pod the agent starts, without the agent: its own CRI client and sandbox/container configs
     * (labels replaced, so that the agent leaves these pods alone), each pod removed after its start.
     */
    private static List<Long> bareCri(EdgeCluster cluster, int runs) {
        App app = CoreBench.app("bare", 1, cluster.image);
        List<Long> millis = new ArrayList<>();
        CriRuntime cri = CriRuntime.connect(cluster.containerd.endpoint());
        try {
            for (int run = 0; run < runs; run++) {
                Assignment assignment = Assignment.newBuilder().setNode(cluster.host.name()).setNamespace("default")
                        .setApp("bare").setReplica("bare-" + run).setGeneration(1).setTemplate(app.getSpec().getTemplate()).build();
                Map<String, String> labels = Map.of("edgeplane-bench", "bare-cri");
                PodSandboxConfig sandbox = PodConfigs.sandbox(assignment, "bench", 0, cluster.dir.resolve("bare-logs"))
                        .toBuilder().clearLabels().putAllLabels(labels).build();
                ContainerConfig container = PodConfigs.container(assignment, app.getSpec().getTemplate().getContainers(0), "bench", 0)
                        .toBuilder().clearLabels().putAllLabels(labels).build();
                long start = System.nanoTime();
                String sandboxId = cri.runSandbox(sandbox);
                String containerId = cri.createContainer(sandboxId, container, sandbox);
                cri.startContainer(containerId);
                millis.add((System.nanoTime() - start) / 1_000_000);
                cri.stopContainer(containerId, 0);
                cri.removeContainer(containerId);
                cri.stopSandbox(sandboxId);
                cri.removeSandbox(sandboxId);
            }
        } finally {
            cri.close();
        }
        return millis;
    }

    /** The control plane's established agent sockets and their bytes both ways. */
    private static FleetCluster.Wire agentWire(EdgeCluster cluster) {
        return FleetCluster.agentWire(cluster.agentPort);
    }

    private static long percentile(List<Long> values, int p) {
        List<Long> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int rank = (int) Math.ceil(p / 100.0 * sorted.size()); // nearest rank
        return sorted.get(Math.max(0, rank - 1));
    }

    private static long mib(long kib) {
        return Math.round(kib / 1024.0);
    }

    private static long threads(long pid) throws java.io.IOException {
        for (String line : java.nio.file.Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith("Threads:")) {
                return Long.parseLong(line.substring("Threads:".length()).trim());
            }
        }
        return -1;
    }
}
