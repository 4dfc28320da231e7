package dev.edgeplane.e2e;

import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.testkit.Commands;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 10's fleet benchmark ({@code deploy/bench.sh fleet [N]}): N simulated agents in JVMs of their
 * own against the packaged control plane (its own process, -Xmx of 2 GiB or 1 GiB + 128 KiB an agent) and a real etcd. Phases run in an
 * order that keeps each figure clean: join, connect, idle (heap, etcd writes, wire traffic; metrics
 * off), metrics on (heap), fan-out, one-node changes, placements, kill -9 + restart. Each figure is
 * printed on a {@code BENCH fleet agents=N key=value} line as soon as it is measured, so a phase that
 * fails still leaves the ones before it; progress goes on lines starting with {@code fleet:}.
 *
 * <p>System properties: {@code fleet.agents} (10000), {@code fleet.idleSeconds} (300: the idle window),
 * {@code fleet.metricsHistorySeconds} (3600: the simulated past each agent uploads when metrics start),
 * {@code fleet.agentsPerJvm} (9500), {@code fleet.fanoutChanges} (5: the image changes the fan-out counts),
 * {@code fleet.fanoutWarmup} (3: the changes before them, printed, not counted), {@code fleet.phases} (all of
 * idle,metrics,fanout,onenode,placements,restart: the phases run after join and connect), {@code fleet.jfr}
 * (a file: the control plane records a JFR profile),
 * {@code fleet.cpJavaOptions} (more JVM options for the control plane, e.g. a profiler's {@code -agentpath:...}),
 * {@code fleet.simJavaOptions} (the same for each simulator JVM),
 * {@code fleet.fanoutProfiler} (async-profiler's libasyncProfiler.so: loaded into the control plane for
 * the fan-out's counted changes and the 30 s after them, its CPU profile written in collapsed form to
 * {@code fleet.fanoutProfile}).
 * The fan-out phase also prints the control plane's CPU seconds (user + system, from /proc) it took, a
 * steadier figure than wall time on a shared machine.
 */
class FleetBench {
    static final int AGENTS = Integer.getInteger("fleet.agents", 10_000);
    static final int IDLE_SECONDS = Integer.getInteger("fleet.idleSeconds", 300);
    static final int METRICS_HISTORY_SECONDS = Integer.getInteger("fleet.metricsHistorySeconds", 3600);
    static final int PER_JVM = Integer.getInteger("fleet.agentsPerJvm", 9_500);
    static final int FANOUT_CHANGES = Integer.getInteger("fleet.fanoutChanges", 5);
    static final int FANOUT_WARMUP = Integer.getInteger("fleet.fanoutWarmup", 3);
    /** The phases after join and connect; a subset runs faster when working on one of them. */
    static final Set<String> PHASES = Set.of(System.getProperty("fleet.phases", "idle,metrics,fanout,onenode,placements,restart").split(","));
    static final int PLACEMENTS = 100_000;
    static final int PLACEMENT_APPS = 20;

    @TempDir Path dir;
    private long started;

    @Test
    void fleet() throws Exception {
        started = System.nanoTime();
        int n = AGENTS;
        // The control plane's heap follows the fleet: ~40 KiB an agent, ~70 more with metrics, plus 1 GiB.
        String heap = Math.max(2048, 1024 + n * 128 / 1024) + "m";
        try (FleetCluster fleet = FleetCluster.start(dir, new FleetCluster.Options(n, PER_JVM, heap, 32, false, profiling(),
                simulatorJavaOptions()))) {
            progress("control plane pid " + fleet.controlPlane().process().pid() + ", " + fleet.simulators().size()
                    + " simulator JVMs, keys made");
            Duration long_ = Duration.ofSeconds(300 + n / 10);

            // Join: every agent through the real Join RPC (its own TLS connection), 32 at a time per JVM.
            long t0 = FleetCluster.nowMicros();
            fleet.broadcast("join");
            fleet.awaitSum(n + " agents joined", "joined", n, long_);
            double joinSeconds = (fleet.max("join_done_at_us") - t0) / 1e6;
            check(fleet.sum("join_failures") == 0, "joins failed", fleet);
            bench(n, "joins_per_s", n / joinSeconds);
            progress("joined in " + fmt(joinSeconds) + " s (" + fleet.sum("join_retries") + " retried)");

            // Connect: every joined agent opens Sync at once, as a fleet booting together.
            long t1 = FleetCluster.nowMicros();
            fleet.broadcast("connect");
            fleet.awaitSum(n + " agents connected", "ever_established", n, long_);
            bench(n, "connect_all_s", (fleet.max("all_first_established_at_us") - t1) / 1e6);
            progress("connected; " + fleet.sum("refused") + " RESOURCE_EXHAUSTED answers honoured");

            // Something to run everywhere, so idle agents have a replica and a template.
            watchAll(fleet, "w0", "fanout", "example/app:0");
            // RECREATE: the fan-out figure is the change reaching every node, not a release rolled in
            // batches or within max_unavailable (the default ROLLING strategy), which waits on readiness.
            fleet.createEveryNodeAppSwitchingAtOnce("fanout", "example/app:0");
            awaitWatch(fleet, "w0", n, long_);
            unwatchAll(fleet, "w0");
            Thread.sleep(20_000); // status reports and phase writes of the connect settle

            long pid = fleet.controlPlane().process().pid();
            long rss = 0;
            if (PHASES.contains("idle")) {
                bench(n, "heap_kib_per_agent", heapAfterGcKib(pid) / (double) n);

                // Idle: nothing changes; what still costs etcd writes and wire bytes is the fleet's standing cost.
                long rev0 = fleet.etcdRevision();
                FleetCluster.Wire wire0 = fleet.agentWire();
                long i0 = System.nanoTime();
                Thread.sleep(IDLE_SECONDS * 1000L);
                double idle = (System.nanoTime() - i0) / 1e9;
                FleetCluster.Wire wire1 = fleet.agentWire();
                // Every agent's socket counted at both ends of the window, or the figure means nothing.
                check(wire0.sockets() >= n && wire1.sockets() >= n, "agent sockets seen by ss: " + wire0.sockets() + " then "
                        + wire1.sockets() + ", " + n + " agents connected", fleet);
                long io0 = wire0.bytes();
                long io1 = wire1.bytes();
                long rev1 = fleet.etcdRevision();
                bench(n, "steady_etcd_writes_per_s", (rev1 - rev0) / idle);
                bench(n, "idle_bits_per_s_per_node", (io1 - io0) * 8 / idle / n);
                progress("idle " + fmt(idle) + " s: " + (rev1 - rev0) + " etcd revisions, " + (io1 - io0) + " bytes on the agents' sockets");
            }

            if (PHASES.contains("metrics")) {
                // Metrics on: each agent first uploads METRICS_HISTORY of the past (10 s frames), then a batch a minute.
                fleet.broadcast("metrics-history " + METRICS_HISTORY_SECONDS);
                fleet.broadcast("metrics on");
                long historyBatches = (METRICS_HISTORY_SECONDS / 10 + 1 + 59) / 60;
                fleet.awaitSum("every agent's metrics history stored", "metrics_batches_acked", n * historyBatches, Duration.ofMinutes(20));
                Thread.sleep(75_000); // every agent past one live flush
                bench(n, "heap_kib_per_agent_metrics", heapAfterGcKib(pid) / (double) n);
                rss = rssMib(pid);
            }

            if (PHASES.contains("fanout")) {
                // Fan-out: an image change of the EVERY_NODE App, from UpdateApp returning to each agent's ack.
                // The first changes after the fleet connected run while the control plane's JIT is still
                // compiling their paths (C2 compiled 100-180 methods per 10 s through the first four changes
                // after connect, under 50 after: -Xlog:jit+compilation=debug): they are printed on their own
                // (fanout_warmup_*), not counted in the five, which show a control plane that has been running.
                List<Double> warmup = new ArrayList<>();
                List<Double> fanout = new ArrayList<>();
                double cpu0 = cpuSeconds(pid);
                long w0 = System.nanoTime();
                for (int r = 0; r < FANOUT_WARMUP + FANOUT_CHANGES; r++) {
                    String image = "example/app:" + (r + 1);
                    boolean counted = r >= FANOUT_WARMUP;
                    if (r == FANOUT_WARMUP) {
                        profiler(pid, "start,event=itimer,threads"); // the counted changes only: a warm control plane
                    }
                    List<Double> into = counted ? fanout : warmup;
                    // A simulator JVM's collection stalls the acks of all its agents at once (young pauses of
                    // 0.25-1.4 s, most of it waiting for a core: its gc+cpu log), which hosts of their own never
                    // do; a change's allocations filled the young generation often enough that one change in
                    // five or so met one. The simulators collect before each change instead, outside the figure.
                    fleet.broadcast("gc");
                    watchAll(fleet, "f" + r, "fanout", image);
                    long at = updateImage(fleet, "fanout", image);
                    for (long t : awaitWatch(fleet, "f" + r, n, Duration.ofMinutes(5))) {
                        into.add((t - at) / 1000.0);
                    }
                    unwatchAll(fleet, "f" + r);
                    // Each change from a settled control plane: the one before it still costs CPU after its acks
                    // (10,000 status reports written, the rollout finishing), which a change right behind it would
                    // queue behind (back to back at 10,000, the five p99s ranged 1.5-3.9 s).
                    double settled = awaitQuiet(pid, Duration.ofSeconds(60));
                    progress("fan-out " + r + ": settled in " + fmt(settled) + " s");
                    progress("fan-out " + r + ": p50 " + fmt(percentile(into.subList(into.size() - n, into.size()), 50)) + " ms, p99 "
                            + fmt(percentile(into.subList(into.size() - n, into.size()), 99)) + " ms" + (counted ? "" : " (warm-up, not counted)"));
                }
                if (!warmup.isEmpty()) {
                    bench(n, "fanout_warmup_p50_ms", percentile(warmup, 50), "fanout_warmup_p99_ms", percentile(warmup, 99));
                }
                bench(n, "fanout_p50_ms", percentile(fanout, 50), "fanout_p99_ms", percentile(fanout, 99));
                double cpu1 = cpuSeconds(pid);
                progress("fan-out phase: control plane " + fmt(cpu1 - cpu0) + " CPU s in " + fmt((System.nanoTime() - w0) / 1e9) + " s");
                // What the last changes still cost once every agent acked (status reports, the rollouts finishing).
                Thread.sleep(30_000);
                progress("after the fan-out: control plane " + fmt(cpuSeconds(pid) - cpu1) + " CPU s in the next 30 s");
                profiler(pid, "stop,collapsed,file=" + System.getProperty("fleet.fanoutProfile", "/tmp/fanout-prof.txt"));
            }

            if (PHASES.contains("onenode")) {
                // One node: an App of one replica, its image changed 100 times while the fleet is connected.
                watchAll(fleet, "o0", "single", "example/one:0");
                fleet.createReplicatedApp("single", 1, "example/one:0");
                awaitWatch(fleet, "o0", 1, Duration.ofMinutes(2));
                unwatchAll(fleet, "o0");
                List<Double> oneNode = new ArrayList<>();
                for (int r = 1; r <= 100; r++) {
                    String image = "example/one:" + r;
                    watchAll(fleet, "o" + r, "single", image);
                    long at = updateImage(fleet, "single", image);
                    for (long t : awaitWatch(fleet, "o" + r, 1, Duration.ofSeconds(60))) {
                        oneNode.add((t - at) / 1000.0);
                    }
                    unwatchAll(fleet, "o" + r);
                }
                bench(n, "one_node_p99_ms", percentile(oneNode, 99));
                progress("one-node p50 " + fmt(percentile(oneNode, 50)) + " ms");
                // The last rolling update's surge replica goes after the ack: gone before anything counts assignments.
                Await.until("the one-node App back to one assignment", Duration.ofMinutes(2), fleet::diagnostics,
                        () -> fleet.assignmentsOf("single") == 1);
            }

            if (PHASES.contains("placements")) {
                // Placements: Apps totalling 100,000 replicas, until every one is assigned in etcd.
                long before = fleet.countKeys("/edgeplane/assignments/");
                long p0 = System.nanoTime();
                for (int a = 0; a < PLACEMENT_APPS; a++) {
                    fleet.createApp("place-" + a, AppSpec.newBuilder().setMode(AppSpec.Mode.REPLICATED)
                            .setReplicas(PLACEMENTS / PLACEMENT_APPS).setTemplate(FleetCluster.template("example/placed:1")).build());
                }
                Await.until(PLACEMENTS + " replicas assigned", Duration.ofMinutes(15), fleet::diagnostics,
                        () -> fleet.countKeys("/edgeplane/assignments/") >= before + PLACEMENTS);
                bench(n, "placements_per_s", PLACEMENTS / ((System.nanoTime() - p0) / 1e9));
                rss = Math.max(rss, rssMib(pid));
                bench(n, "cp_rss_mib", rss);
            }

            if (PHASES.contains("restart")) {
                // kill -9 of the control plane and a restart: until every agent has resumed.
                fleet.awaitConverged("the fleet settled before the restart", Duration.ofMinutes(10));
                fleet.broadcast("mark");
                long attempts0 = fleet.sum("sync_attempts"), failed0 = fleet.sum("sync_attempts_failed");
                long overflows0 = listenOverflows();
                long killedAt = fleet.killAndRestartControlPlane();
                // what the agents' back-off adds comes after this: the control plane's own start with the fleet's state
                progress("control plane ready " + fmt((FleetCluster.nowMicros() - killedAt) / 1e6) + " s after the kill");
                fleet.awaitSum("every agent resumed", "established_since_mark", n, Duration.ofMinutes(15));
                bench(n, "restart_all_resumed_s", (fleet.max("last_established_since_mark_at_us") - killedAt) / 1e6,
                        "resume_bytes_per_unchanged_node", fleet.sum("bytes_since_mark") / (double) n);
                progress("resumed: " + fleet.sum("snapshots_since_mark") + " snapshots, " + fleet.sum("refused")
                        + " RESOURCE_EXHAUSTED in all, " + fleet.sum("dials_skipped") + " dials skipped while the port refused them, "
                        + (fleet.sum("sync_attempts_failed") - failed0) + " of " + (fleet.sum("sync_attempts") - attempts0)
                        + " Sync attempts ended before an answer, "
                        + (long) fleet.controlPlane().scrape("edgeplane_agent_tls_sessions_resumed_total")
                        + " TLS sessions resumed from tickets, new control plane RSS " + rssMib(fleet.controlPlane().process().pid()) + " MiB");
                ControlPlane cp = fleet.controlPlane();
                progress("the new control plane's handshake gate: " + (long) cp.scrape("edgeplane_agent_handshakes_total") + " handshakes, "
                        + (long) cp.scrape("edgeplane_agent_handshakes_expired_total") + " connections closed unread after the longest wait, "
                        + (long) cp.scrape("edgeplane_agent_handshakes_stalled_total") + " slots given up by quiet handshakes, "
                        + (long) cp.scrape("edgeplane_agent_accept_pauses_total") + " accept pauses; the kernel's listen queues overflowed "
                        + (listenOverflows() - overflows0) + " times (this machine, all sockets)");
                progress("after the resume: " + fleet.simulatorStats().trim().replace('\n', ';'));
            }
        }
    }

    /**
     * With -Dfleet.jfr=FILE the control plane records a JFR profile there (written when it stops);
     * -Dfleet.cpJavaOptions adds JVM options of its own (e.g. async-profiler's -agentpath).
     */
    private static Map<String, String> profiling() {
        List<String> options = new ArrayList<>();
        String file = System.getProperty("fleet.jfr");
        if (file != null) {
            options.add("-XX:StartFlightRecording=settings=profile,dumponexit=true,filename=" + file);
        }
        String more = System.getProperty("fleet.cpJavaOptions", "");
        if (!more.isBlank()) {
            options.add(more.strip());
        }
        return options.isEmpty() ? Map.of() : Map.of("JAVA_TOOL_OPTIONS", String.join(" ", options));
    }

    /** -Dfleet.simJavaOptions: more JVM options for each simulator, split at spaces (e.g. a profiler's -agentpath). */
    private static List<String> simulatorJavaOptions() {
        String options = System.getProperty("fleet.simJavaOptions", "").strip();
        return options.isEmpty() ? List.of() : List.of(options.split("\\s+"));
    }

    /**
     * Waits until the control plane used less than 15% of a core over two seconds, or {@code max} passed;
     * returns the seconds waited.
     */
    private static double awaitQuiet(long pid, Duration max) throws Exception {
        long start = System.nanoTime();
        double cpu = cpuSeconds(pid);
        while (System.nanoTime() - start < max.toNanos()) {
            Thread.sleep(2000);
            double now = cpuSeconds(pid);
            if (now - cpu < 0.3) {
                break;
            }
            cpu = now;
        }
        return (System.nanoTime() - start) / 1e9;
    }

    /** With -Dfleet.fanoutProfiler=LIB, sends async-profiler in the control plane a command (loading it the first time). */
    private static void profiler(long pid, String command) {
        String library = System.getProperty("fleet.fanoutProfiler");
        if (library == null) {
            return;
        }
        String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
        // jcmd splits its arguments at commas unless they are quoted.
        Commands.run(List.of(jcmd, Long.toString(pid), "JVMTI.agent_load", library, '"' + command + '"'), Duration.ofMinutes(1));
    }

    /** CPU seconds (user + system) the process used so far, from /proc/PID/stat (clock ticks of 1/100 s). */
    static double cpuSeconds(long pid) throws Exception {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        // Fields after the command name (which may hold spaces) in parentheses: utime and stime are the 12th and 13th.
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
    }

    private static void watchAll(FleetCluster fleet, String id, String app, String image) {
        fleet.broadcast("watch " + id + " default/" + app + " " + image);
    }

    private static void unwatchAll(FleetCluster fleet, String id) {
        fleet.broadcast("unwatch " + id);
    }

    /** Sets the image; returns when UpdateApp returned (epoch us). */
    private static long updateImage(FleetCluster fleet, String app, String image) {
        fleet.setImage(app, image);
        return FleetCluster.nowMicros();
    }

    /** Waits until {@code count} agents acked the watched change; their ack times. */
    private static long[] awaitWatch(FleetCluster fleet, String id, int count, Duration timeout) {
        // Polls counts, then takes the times once: 10,000 times as text four times a second cost the
        // simulators CPU in the middle of the fan-out they measure.
        Await.until(count + " agents acked " + id, timeout, fleet::diagnostics,
                () -> fleet.simulators().stream().mapToInt(s -> s.watchCount(id)).sum() >= count);
        return fleet.simulators().stream().map(s -> s.watchTimes(id)).flatMapToLong(Arrays::stream).toArray();
    }

    private static final Pattern USED = Pattern.compile("used (\\d+)K");

    /** The control plane's heap in use after a full GC (jcmd GC.run, then GC.heap_info), KiB. */
    static long heapAfterGcKib(long pid) {
        String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
        Commands.run(List.of(jcmd, Long.toString(pid), "GC.run"), Duration.ofMinutes(2));
        String info = Commands.run(List.of(jcmd, Long.toString(pid), "GC.heap_info"), Duration.ofMinutes(1));
        long used = 0;
        for (String line : info.lines().toList()) {
            String l = line.strip();
            // G1 reports the whole heap on one line; the parallel and serial collectors one line per generation.
            if (l.startsWith("garbage-first heap") || l.startsWith("PSYoungGen") || l.startsWith("ParOldGen")
                    || l.startsWith("def new generation") || l.startsWith("tenured generation")) {
                Matcher m = USED.matcher(l);
                if (m.find()) {
                    used += Long.parseLong(m.group(1));
                }
            }
        }
        if (used == 0) {
            throw new IllegalStateException("no heap figure in jcmd's answer:\n" + info);
        }
        return used;
    }

    /** TcpExt ListenOverflows (/proc/net/netstat): connections a full accept queue refused, this machine, all sockets. */
    static long listenOverflows() throws IOException {
        List<String> lines = Files.readAllLines(Path.of("/proc/net/netstat"));
        for (int i = 0; i + 1 < lines.size(); i += 2) {
            List<String> names = List.of(lines.get(i).split(" ")), values = List.of(lines.get(i + 1).split(" "));
            int at = names.indexOf("ListenOverflows");
            if (names.get(0).equals("TcpExt:") && at > 0) {
                return Long.parseLong(values.get(at));
            }
        }
        return -1;
    }

    static long rssMib(long pid) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D", "")) / 1024;
            }
        }
        throw new IllegalStateException("no VmRSS for " + pid);
    }

    static double percentile(List<Double> values, double p) {
        if (values.isEmpty()) {
            throw new IllegalStateException("no values");
        }
        double[] sorted = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        int i = (int) Math.ceil(p / 100 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }

    private static void check(boolean ok, String what, FleetCluster fleet) {
        if (!ok) {
            throw new AssertionError(what + "\n" + fleet.diagnostics());
        }
    }

    private static void bench(int agents, Object... keyValues) {
        StringBuilder line = new StringBuilder("BENCH fleet agents=" + agents);
        for (int i = 0; i < keyValues.length; i += 2) {
            line.append(' ').append(keyValues[i]).append('=').append(keyValues[i + 1] instanceof Double d ? fmt(d) : keyValues[i + 1]);
        }
        System.out.println(line);
    }

    private void progress(String what) {
        System.out.printf("fleet: %s (%.0f s)%n", what, (System.nanoTime() - started) / 1e9);
    }

    private static String fmt(double d) {
        return d >= 100 ? String.format(Locale.ROOT, "%.0f", d) : String.format(Locale.ROOT, "%.2f", d);
    }
}
