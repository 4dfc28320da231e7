package dev.edgeplane.e2e;

import dev.edgeplane.testkit.Commands;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** One edge host: an agent's state dir, its join, and its `edge-agent run` process. */
final class EdgeHost implements AutoCloseable {
    private final String name;
    private final Path dir;
    private final String criEndpoint;
    private final List<String> runFlags;
    private final List<String> launcher;
    private ManagedProcess agent;

    EdgeHost(String name, Path dir, String criEndpoint, List<String> runFlags) throws IOException {
        this(name, dir, criEndpoint, runFlags, Binaries.edgeAgent());
    }

    /** With its own launcher, e.g. a copy of the build that a concurrent rebuild cannot pull away mid-test. */
    EdgeHost(String name, Path dir, String criEndpoint, List<String> runFlags, List<String> launcher) throws IOException {
        this.launcher = launcher;
        this.name = name;
        this.dir = Files.createDirectories(dir);
        this.criEndpoint = criEndpoint;
        this.runFlags = runFlags;
    }

    String name() {
        return name;
    }

    Path stateDir() {
        return dir.resolve("state");
    }

    /** `edge-agent join` exactly as an operator runs it, with the join command's own flags. */
    Commands.Result join(String server, String token, String caHash, String... extra) {
        List<String> cmd = new ArrayList<>(launcher);
        cmd.addAll(List.of("join", "--server", server, "--token", token, "--ca-hash", caHash,
                "--name", name, "--state-dir", stateDir().toString()));
        cmd.addAll(List.of(extra));
        return Commands.exec(cmd, Map.of(), Duration.ofSeconds(60));
    }

    /** Joins with the one-line command a created token carries. */
    Commands.Result join(String joinCommand) {
        String[] words = joinCommand.trim().split("\\s+");
        if (!words[0].equals("edge-agent") || !words[1].equals("join")) {
            throw new AssertionError("not a join command: " + joinCommand);
        }
        List<String> cmd = new ArrayList<>(launcher);
        cmd.addAll(List.of(words).subList(1, words.length));
        cmd.addAll(List.of("--name", name, "--state-dir", stateDir().toString()));
        return Commands.exec(cmd, Map.of(), Duration.ofSeconds(60));
    }

    void start() {
        if (agent != null && agent.isAlive()) {
            throw new IllegalStateException("agent " + name + " already runs");
        }
        List<String> cmd = new ArrayList<>(launcher);
        cmd.addAll(List.of("run", "--state-dir", stateDir().toString(), "--cri-endpoint", criEndpoint,
                "--log-dir", dir.resolve("pod-logs").toString()));
        cmd.addAll(runFlags);
        agent = ManagedProcess.start("edge-agent " + name, cmd, Map.of(), dir.resolve("agent.log"));
    }

    ManagedProcess agent() {
        return agent;
    }

    String logTail() {
        return agent == null ? "(agent not started)" : agent.logTail();
    }

    void kill9() {
        agent.kill9();
    }

    @Override
    public void close() {
        if (agent != null) {
            agent.close();
        }
    }
}
