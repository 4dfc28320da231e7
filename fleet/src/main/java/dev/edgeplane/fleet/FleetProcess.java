package dev.edgeplane.fleet;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The driver's handle on one simulator JVM ({@link FleetMain}): starts it, sends commands, parses
 * answers, stops it. Every wait is bounded; a dead or silent simulator is an error naming its log.
 */
public final class FleetProcess implements AutoCloseable {
    private static final String END = "\u0000end";
    private final Process process;
    private final Path log;
    private final Writer commands;
    private final BlockingQueue<String> answers = new LinkedBlockingQueue<>();
    private final int agents;

    private FleetProcess(Process process, Path log, int agents) {
        this.process = process;
        this.log = log;
        this.agents = agents;
        this.commands = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        Thread reader = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    if (line.startsWith("ok") || line.startsWith("err") || line.startsWith("ready")) {
                        answers.add(line);
                    } else {
                        // Not an answer: what the JVM itself prints on stdout (e.g. "Terminating due to
                        // java.lang.OutOfMemoryError") goes to the log, where logTail() shows it.
                        appendToLog("stdout: " + line);
                    }
                }
            } catch (IOException ignored) {
                // the process ended
            } finally {
                answers.add(END);
            }
        }, "fleet-answers-" + process.pid());
        reader.setDaemon(true);
        reader.start();
    }

    private void appendToLog(String line) {
        try {
            Files.writeString(log, line + System.lineSeparator(), StandardCharsets.UTF_8,
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        } catch (IOException ignored) {
            // the log is for diagnostics only
        }
    }

    /**
     * Starts {@code java -Xmx<heapMb>m [javaOptions] -jar fleetJar args...} with its output in {@code log}, and
     * waits (bounded) until it has made its agents' keys. {@code javaOptions} come after the defaults, so
     * a later one wins (e.g. a profiler's {@code -agentpath:...}).
     */
    public static FleetProcess start(Path fleetJar, int heapMb, List<String> javaOptions, FleetSettings settings, Path log) {
        if (!Files.isRegularFile(fleetJar)) {
            throw new IllegalStateException(fleetJar + " is missing: build the fleet module first (mvn package -pl fleet -am)");
        }
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + heapMb + "m", "-XX:+UseParallelGC", "-XX:+ExitOnOutOfMemoryError",
                // The whole heap from the start, its pages touched before the agents run: the connect storm
                // makes ~1 GB of long-lived state per 10,000 agents at once, and a heap grown meanwhile cost
                // full collections (ParallelGC's "Ergonomics" and "Metadata GC Threshold") and young pauses
                // of 3-6 s, first touching fresh pages, on the cores the control plane is measured on.
                "-Xms" + heapMb + "m", "-XX:+AlwaysPreTouch", "-XX:MetaspaceSize=128m",
                // C1 only: the simulator stands in for hosts of their own, and C2 compiling each new phase's
                // paths was ~40% of its CPU, taken from the cores the control plane is measured on.
                "-XX:TieredStopAtLevel=1",
                // Its collections, beside its log: the simulator's GC is CPU the control plane does not get. With
                // their CPU time: a pause whose Real is far above its User waited for a core, not for work.
                "-Xlog:gc,gc+cpu:file=" + log + ".gc:time,uptime"));
        command.addAll(javaOptions);
        command.addAll(List.of(
                "-jar", fleetJar.toString(),
                "--join", settings.joinAddress(), "--token", settings.token(),
                "--agents", Integer.toString(settings.agents()), "--offset", Integer.toString(settings.offset()),
                "--prefix", settings.prefix(), "--join-concurrency", Integer.toString(settings.joinConcurrency()),
                "--metrics", settings.metrics() ? "on" : "off",
                "--metrics-history", settings.metricsHistory().toSeconds() + "s",
                "--events", settings.events() ? "on" : "off",
                "--event-loops", Integer.toString(settings.eventLoops())));
        settings.sourceAddress().ifPresent(s -> command.addAll(List.of("--source", s)));
        ProcessBuilder pb = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the simulator: " + command, e);
        }
        FleetProcess fleet = new FleetProcess(p, log, settings.agents());
        try {
            String ready = fleet.next(Duration.ofSeconds(60 + settings.agents() / 100));
            if (!ready.startsWith("ready")) {
                throw new IllegalStateException("the simulator said " + ready + " instead of ready\n" + fleet.logTail());
            }
        } catch (RuntimeException e) {
            fleet.close();
            throw e;
        }
        return fleet;
    }

    public int agents() {
        return agents;
    }

    public long pid() {
        return process.pid();
    }

    /** Sends one command and returns its answer without the "ok " (an "err" answer throws). */
    public synchronized String command(String line, Duration timeout) {
        try {
            commands.write(line + "\n");
            commands.flush();
        } catch (IOException e) {
            throw new IllegalStateException("the simulator (pid " + pid() + ") does not take commands: " + e + "\n" + logTail(), e);
        }
        String answer = next(timeout);
        if (answer.startsWith("ok")) {
            return answer.substring(2).strip();
        }
        throw new IllegalStateException("simulator: " + line.split(" ")[0] + ": " + answer);
    }

    public String command(String line) {
        return command(line, Duration.ofSeconds(60));
    }

    /** The figures of {@code stats} by key (numbers as text; "problem" may hold spaces). */
    public Map<String, String> stats() {
        String s = command("stats");
        Map<String, String> out = new HashMap<>();
        int problem = s.indexOf(" problem=");
        if (problem >= 0) {
            out.put("problem", s.substring(problem + " problem=".length()));
            s = s.substring(0, problem);
        }
        for (String kv : s.split(" ")) {
            int eq = kv.indexOf('=');
            if (eq > 0) {
                out.put(kv.substring(0, eq), kv.substring(eq + 1));
            }
        }
        return out;
    }

    public long stat(String key) {
        String v = stats().get(key);
        if (v == null) {
            throw new IllegalStateException("the simulator has no figure " + key);
        }
        return Long.parseLong(v);
    }

    /** How many agents acked the watched change so far. */
    public int watchCount(String id) {
        String answer = command("watch-count " + id);
        int at = answer.indexOf("n=");
        return at < 0 ? 0 : Integer.parseInt(answer.substring(at + 2).strip());
    }

    /** The epoch-microsecond times at which agents acked the watched change. */
    public long[] watchTimes(String id) {
        String answer = command("watch-times " + id);
        int at = answer.indexOf("times=");
        String list = at < 0 ? "" : answer.substring(at + "times=".length()).strip();
        return list.isEmpty() ? new long[0] : Arrays.stream(list.split(",")).mapToLong(Long::parseLong).toArray();
    }

    /** Per agent name: "acked:key=hash,...". */
    public Map<String, String> digest() {
        Map<String, String> out = new HashMap<>();
        String all = command("digest", Duration.ofSeconds(120));
        if (all.isEmpty()) {
            return out;
        }
        for (String one : all.split(";")) {
            int at = one.indexOf('@');
            out.put(one.substring(0, at), one.substring(at + 1));
        }
        return out;
    }


    public boolean isAlive() {
        return process.isAlive();
    }

    public String logTail() {
        try {
            List<String> lines = Files.exists(log) ? Files.readAllLines(log) : List.of();
            return "simulator log (" + log + "):\n" + String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }

    private String next(Duration timeout) {
        try {
            String line = answers.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (line == null) {
                throw new IllegalStateException("no answer from the simulator (pid " + pid() + ") within " + timeout + "\n" + logTail());
            }
            if (line.equals(END)) {
                answers.add(END);
                throw new IllegalStateException("the simulator (pid " + pid() + ") exited\n" + logTail());
            }
            return line;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for the simulator", e);
        }
    }

    /** Asks it to exit, then makes sure (SIGTERM, SIGKILL): no simulator outlives its driver. */
    @Override
    public void close() {
        if (process.isAlive()) {
            try {
                commands.write("exit\n");
                commands.close();
            } catch (IOException ignored) {
                // already gone
            }
            try {
                if (!process.waitFor(20, TimeUnit.SECONDS)) {
                    process.destroy();
                    if (!process.waitFor(10, TimeUnit.SECONDS)) {
                        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                    }
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
