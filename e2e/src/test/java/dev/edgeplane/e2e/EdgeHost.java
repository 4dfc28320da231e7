package dev.edgeplane.e2e;

import dev.edgeplane.testkit.Commands;
import dev.edgeplane.testkit.Containerd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * One edge host: an agent's state dir, its join, its `edge-agent run` process and, when the host was
 * made with {@link #withOwnContainerd}, the containerd it drives (as a separate machine has), with the
 * tests' own CRI look at it.
 */
final class EdgeHost implements AutoCloseable {
    private final String name;
    private final Path dir;
    private final String criEndpoint;
    private final List<String> runFlags;
    private final Containerd containerd;
    private final Cri cri;
    private ManagedProcess agent;

    /** A host whose agent drives the containerd at {@code criEndpoint}, owned by someone else. */
    EdgeHost(String name, Path dir, String criEndpoint, List<String> runFlags) throws IOException {
        this(name, dir, criEndpoint, runFlags, null, null);
    }

    private EdgeHost(String name, Path dir, String criEndpoint, List<String> runFlags, Containerd containerd, Cri cri)
            throws IOException {
        this.name = name;
        this.dir = Files.createDirectories(dir);
        this.criEndpoint = criEndpoint;
        this.runFlags = runFlags;
        this.containerd = containerd;
        this.cri = cri;
    }

    /** A host with a containerd of its own (own root, state and socket), stopped with the host. */
    static EdgeHost withOwnContainerd(String name, Path dir, List<String> runFlags) throws IOException {
        Containerd containerd = Containerd.start();
        Cri cri = null;
        try {
            cri = new Cri(containerd.endpoint());
            return new EdgeHost(name, dir, containerd.endpoint(), runFlags, containerd, cri);
        } catch (IOException | RuntimeException e) {
            if (cri != null) {
                try {
                    cri.close();
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
            containerd.close();
            throw e;
        }
    }

    String name() {
        return name;
    }

    Path stateDir() {
        return dir.resolve("state");
    }

    Containerd containerd() {
        if (containerd == null) {
            throw new IllegalStateException("host " + name + " has no containerd of its own");
        }
        return containerd;
    }

    Cri cri() {
        if (cri == null) {
            throw new IllegalStateException("host " + name + " has no containerd of its own");
        }
        return cri;
    }

    static Map<String, String> labelsOf(String app) {
        return Map.of("edgeplane.dev/app", app);
    }

    /** Ids of the app's running containers in this host's containerd. */
    Set<String> runningIds(String app) {
        return cri().running(labelsOf(app)).stream().map(c -> c.getId()).collect(Collectors.toSet());
    }

    /** Ids of the app's containers in this host's containerd, in any state. */
    Set<String> allIds(String app) {
        return cri().containers(labelsOf(app)).stream().map(c -> c.getId()).collect(Collectors.toSet());
    }

    /** `edge-agent join` exactly as an operator runs it, with the join command's own flags. */
    Commands.Result join(String server, String token, String caHash, String... extra) {
        List<String> cmd = new ArrayList<>(Binaries.edgeAgent());
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
        List<String> cmd = new ArrayList<>(Binaries.edgeAgent());
        cmd.addAll(List.of(words).subList(1, words.length));
        cmd.addAll(List.of("--name", name, "--state-dir", stateDir().toString()));
        return Commands.exec(cmd, Map.of(), Duration.ofSeconds(60));
    }

    void start() {
        if (agent != null && agent.isAlive()) {
            throw new IllegalStateException("agent " + name + " already runs");
        }
        List<String> cmd = new ArrayList<>(Binaries.edgeAgent());
        cmd.addAll(List.of("run", "--state-dir", stateDir().toString(), "--cri-endpoint", criEndpoint,
                "--log-dir", dir.resolve("pod-logs").toString()));
        cmd.addAll(runFlags);
        agent = ManagedProcess.start("edge-agent " + name, cmd, Map.of(), dir.resolve("agent.log"));
    }

    boolean agentRuns() {
        return agent != null && agent.isAlive();
    }

    /** Stops the agent (SIGTERM); its containers keep running, as on a host that lost its link. */
    void stopAgent() {
        if (agent != null) {
            agent.close();
        }
    }

    ManagedProcess agent() {
        return agent;
    }

    String logTail() {
        return agent == null ? "(agent " + name + " not started)" : agent.logTail();
    }

    void kill9() {
        agent.kill9();
    }

    @Override
    public void close() throws Exception {
        stopAgent();
        if (cri != null) {
            cri.close();
        }
        if (containerd != null) {
            containerd.close();
        }
    }
}
