package dev.edgeplane.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.edgeplane.api.TemplateHashes;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.UpdateAppRequest;
import dev.edgeplane.fleet.AgentTimings;
import dev.edgeplane.fleet.FleetProcess;
import dev.edgeplane.fleet.FleetSettings;
import dev.edgeplane.testkit.Commands;
import dev.edgeplane.testkit.EtcdServer;
import dev.edgeplane.testkit.FreePorts;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A fleet on this machine: a real etcd, the packaged control plane as its own process, and simulator
 * JVMs (fleet module) of up to {@code agentsPerJvm} agents each, every JVM dialling from its own
 * loopback address (127.0.0.2, .3, ...) so that ephemeral ports never run short. What the fleet test
 * and the fleet benchmark drive; {@link #close()} stops everything, also after a failure.
 */
final class FleetCluster implements AutoCloseable {
    /**
     * @param agents         agents in all
     * @param agentsPerJvm   at most this many in one simulator JVM (each JVM holds one socket per agent)
     * @param controlPlaneHeap -Xmx of the control plane
     * @param joinConcurrency Join RPCs in flight per simulator JVM (they contend on the one join token)
     * @param metrics        agents report metrics from the start
     * @param controlPlaneEnv extra environment of the control plane
     * @param simulatorJavaOptions extra JVM options of each simulator (e.g. a profiler's -agentpath)
     */
    record Options(int agents, int agentsPerJvm, String controlPlaneHeap, int joinConcurrency, boolean metrics,
                   Map<String, String> controlPlaneEnv, List<String> simulatorJavaOptions) {}

    private final Path dir;
    private final Options options;
    private final EtcdServer etcd;
    // Below the ephemeral range: the restarted control plane binds them again while the fleet's
    // reconnecting agents take thousands of ephemeral source ports.
    private final int apiPort = FreePorts.belowEphemeralRange();
    private final int agentPort = FreePorts.belowEphemeralRange(apiPort);
    private ControlPlane controlPlane;
    private final List<FleetProcess> simulators = new ArrayList<>();
    private final ObjectMapper json = new ObjectMapper();

    private FleetCluster(Path dir, Options options, EtcdServer etcd) {
        this.dir = dir;
        this.options = options;
        this.etcd = etcd;
    }

    /** Starts etcd, the control plane and the simulator JVMs (keys made, nothing joined yet). */
    static FleetCluster start(Path dir, Options options) throws Exception {
        FleetCluster cluster = new FleetCluster(dir, options, EtcdServer.start());
        try {
            cluster.controlPlane = cluster.startControlPlane();
            String token = cluster.controlPlane.createJoinToken(Duration.ofHours(2), options.agents()).getStatus().getToken();
            int jvms = (options.agents() + options.agentsPerJvm() - 1) / options.agentsPerJvm();
            int perJvm = (options.agents() + jvms - 1) / jvms; // as even as it gets
            for (int j = 0; j < jvms; j++) {
                int offset = j * perJvm;
                int agents = Math.min(perJvm, options.agents() - offset);
                FleetSettings settings = new FleetSettings(cluster.controlPlane.agentAddress(), token, agents, offset, "sim",
                        Optional.of("127.0.0." + (2 + j)), options.joinConcurrency(), options.metrics(), Duration.ZERO, true, 2, AgentTimings.AGENT);
                // An agent holds its assignments, templates, statuses and metrics history; a reconnect
                // storm allocates channels for all of them at once. 512 KiB an agent plus the JVM's own
                // (256 KiB an agent ran out of heap, GC overhead, resuming 9,500 agents after 100,000 placements).
                int heapMb = 512 + agents / 2;
                cluster.simulators.add(FleetProcess.start(Binaries.fleetJar(), heapMb, options.simulatorJavaOptions(), settings, dir.resolve("simulator-" + j + ".log")));
            }
        } catch (Exception | AssertionError e) {
            cluster.close();
            throw e;
        }
        return cluster;
    }

    private ControlPlane startControlPlane() throws Exception {
        return ControlPlane.start(etcd.endpoint(), dir.resolve("control-plane"), apiPort, agentPort, options.controlPlaneEnv(),
                options.controlPlaneHeap(), Duration.ofMinutes(3));
    }

    ControlPlane controlPlane() {
        return controlPlane;
    }

    EtcdServer etcd() {
        return etcd;
    }

    List<FleetProcess> simulators() {
        return simulators;
    }

    int agents() {
        return options.agents();
    }

    /** The same command to every simulator JVM. */
    void broadcast(String command) {
        for (FleetProcess s : simulators) {
            s.command(command);
        }
    }

    /** A figure summed over the simulator JVMs. */
    long sum(String key) {
        long total = 0;
        for (FleetProcess s : simulators) {
            total += s.stat(key);
        }
        return total;
    }

    /** A figure's largest value over the simulator JVMs. */
    long max(String key) {
        long max = 0;
        for (FleetProcess s : simulators) {
            max = Math.max(max, s.stat(key));
        }
        return max;
    }

    /** What the simulators and the control plane say, for failure messages. */
    String diagnostics() {
        return simulatorStats() + controlPlane.process().logTail();
    }

    /** Each simulator's figures, a line each. */
    String simulatorStats() {
        StringBuilder out = new StringBuilder();
        for (FleetProcess s : simulators) {
            try {
                out.append("simulator ").append(s.pid()).append(": ").append(s.command("stats")).append('\n');
            } catch (RuntimeException e) {
                out.append(e.getMessage()).append('\n');
            }
        }
        return out.toString();
    }

    /** Waits (bounded) until {@code key} summed over the simulators reaches {@code target}. */
    void awaitSum(String what, String key, long target, Duration timeout) {
        // Once a second: each poll reads every simulated agent under its lock (~6% of the simulators' CPU at
        // 4 polls a second while 19,000 agents resumed). The figures come from the agents' own timestamps.
        Await.until(what + " (" + key + " = " + target + ")", timeout, Duration.ofSeconds(1), this::diagnostics,
                () -> sum(key) >= target);
    }

    /** Every agent joins (real Join RPCs), then every agent opens its Sync stream. */
    void joinAndConnect(Duration timeout) {
        broadcast("join");
        awaitSum(options.agents() + " agents joined", "joined", options.agents(), timeout);
        broadcast("connect");
        awaitSum(options.agents() + " agents connected", "established", options.agents(), timeout);
    }

    /** kill -9 of the control plane and a start of a new one on the same ports; returns the kill time (epoch us). */
    long killAndRestartControlPlane() throws Exception {
        controlPlane.process().kill9();
        long killedAt = nowMicros();
        controlPlane.close();
        controlPlane = null;
        controlPlane = startControlPlane();
        return killedAt;
    }

    // --------------------------------------------------------------------------------- Apps

    static PodTemplate template(String image) {
        return PodTemplate.newBuilder().addContainers(Container.newBuilder().setName("main").setImage(image)
                .addCommand("sleep").addCommand("infinity")).build();
    }

    App createEveryNodeApp(String name, String image) {
        return createApp(name, AppSpec.newBuilder().setMode(AppSpec.Mode.EVERY_NODE).setTemplate(template(image)).build());
    }

    /** An EVERY_NODE App whose template changes reach every node at once (RECREATE), not in a rolled release. */
    App createEveryNodeAppSwitchingAtOnce(String name, String image) {
        return createApp(name, AppSpec.newBuilder().setMode(AppSpec.Mode.EVERY_NODE).setTemplate(template(image))
                .setStrategy(dev.edgeplane.api.v1.RolloutStrategy.newBuilder().setType(dev.edgeplane.api.v1.RolloutStrategy.Type.RECREATE))
                .build());
    }

    App createReplicatedApp(String name, int replicas, String image) {
        return createApp(name, AppSpec.newBuilder().setMode(AppSpec.Mode.REPLICATED).setReplicas(replicas)
                .setTemplate(template(image)).build());
    }

    App createApp(String name, AppSpec spec) {
        return controlPlane.apps().createApp(CreateAppRequest.newBuilder().setApp(App.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name)).setSpec(spec)).build());
    }

    /** Get, change the spec, update; again on ABORTED (the App's status moved meanwhile). */
    App updateApp(String name, UnaryOperator<AppSpec> change) {
        for (int attempt = 0; ; attempt++) {
            App current = controlPlane.apps().getApp(GetAppRequest.newBuilder().setNamespace("default").setName(name).build());
            try {
                return controlPlane.apps().updateApp(UpdateAppRequest.newBuilder()
                        .setApp(current.toBuilder().setSpec(change.apply(current.getSpec()))).build());
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() != Status.Code.ABORTED || attempt >= 20) {
                    throw e;
                }
            }
        }
    }

    App setImage(String name, String image) {
        return updateApp(name, spec -> spec.toBuilder().setTemplate(template(image)).build());
    }

    // --------------------------------------------------------------------------------- wire

    private static final Pattern SOCKET_BYTES = Pattern.compile("\\b(bytes_acked|bytes_received):(\\d+)");

    /** The control plane's established agent sockets and the bytes they carried, both directions. */
    record Wire(int sockets, long bytes) {}

    /**
     * Bytes on the wire between the agents and the control plane's agent endpoint, both directions, TLS
     * and HTTP/2 framing included (TCP/IP headers not): the kernel's per-socket counters (tcp_info
     * bytes_acked + bytes_received, as {@code ss -i} shows them) summed over the control plane's
     * established agent sockets. Counted on the sockets themselves because /proc/PID/io misses most
     * socket traffic (checked against these counters it saw ~1/16 of it). A socket closed between two
     * readings drops out: compare readings of a phase in which connections stay up (the socket count says).
     */
    Wire agentWire() {
        return agentWire(agentPort);
    }

    /** The established sockets on local port {@code port} and their bytes both ways (ss's tcp_info counters). */
    static Wire agentWire(int port) {
        String out = Commands.run(List.of("ss", "-tinH", "state", "established", "( sport = :" + port + " )"),
                Duration.ofSeconds(60));
        int sockets = 0;
        long total = 0;
        Matcher m = SOCKET_BYTES.matcher(out);
        while (m.find()) {
            total += Long.parseLong(m.group(2));
            if (m.group(1).equals("bytes_received")) {
                sockets++;
            }
        }
        return new Wire(sockets, total);
    }

    // --------------------------------------------------------------------------------- etcd

    /** etcd's current revision. */
    long etcdRevision() {
        String out = Commands.run(List.of("etcdctl", "--endpoints", etcd.endpoint(), "endpoint", "status", "-w", "json"),
                Duration.ofSeconds(20));
        try {
            return json.readTree(out).get(0).get("Status").get("header").get("revision").asLong();
        } catch (Exception e) {
            throw new IllegalStateException("cannot read etcd's revision from " + out, e);
        }
    }

    /** Keys under a prefix (the range's count; no values read). */
    /** Assignments of one App of the default namespace (keys /edgeplane/assignments/NODE/default/REPLICA). */
    long assignmentsOf(String app) {
        String out = Commands.run(List.of("etcdctl", "--endpoints", etcd.endpoint(), "get", "--prefix", "/edgeplane/assignments/",
                "--keys-only"), Duration.ofSeconds(30));
        return out.lines().filter(key -> key.contains("/default/" + app + "-")).count();
    }

    long countKeys(String prefix) {
        String out = Commands.run(List.of("etcdctl", "--endpoints", etcd.endpoint(), "get", "--prefix", prefix,
                "--keys-only", "--limit=1", "-w", "json"), Duration.ofSeconds(30));
        try {
            JsonNode count = json.readTree(out).get("count");
            return count == null ? 0 : count.asLong();
        } catch (Exception e) {
            throw new IllegalStateException("cannot read a count from " + out, e);
        }
    }

    /** What etcd says each node should hold: node -> ("namespace/replica" -> template hash), and each node's newest mod revision. */
    record Expected(Map<String, Map<String, String>> byNode, Map<String, Long> newestRevision) {}

    Expected expected() {
        String out = Commands.run(List.of("etcdctl", "--endpoints", etcd.endpoint(), "get", "--prefix", "/edgeplane/assignments/",
                "-w", "json"), Duration.ofSeconds(60));
        Map<String, Map<String, String>> byNode = new HashMap<>();
        Map<String, Long> newest = new HashMap<>();
        try {
            JsonNode kvs = json.readTree(out).get("kvs");
            if (kvs != null) {
                for (JsonNode kv : kvs) {
                    String key = new String(Base64.getDecoder().decode(kv.get("key").asText()));
                    String[] parts = key.substring("/edgeplane/assignments/".length()).split("/", 2);
                    Assignment a = Assignment.parseFrom(Base64.getDecoder().decode(kv.get("value").asText()));
                    String hash = !a.getTemplateHash().isEmpty() ? a.getTemplateHash()
                            : a.hasTemplate() ? TemplateHashes.of(a.getTemplate()) : "";
                    byNode.computeIfAbsent(parts[0], n -> new TreeMap<>()).put(parts[1], hash);
                    newest.merge(parts[0], kv.get("mod_revision").asLong(), Math::max);
                }
            }
        } catch (Exception e) {
            throw new IllegalStateException("cannot read the assignments from etcdctl's answer", e);
        }
        return new Expected(byNode, newest);
    }

    /**
     * Where the agents differ from etcd: each agent's desired state must be exactly its assignments in
     * etcd (same keys, same template hashes, every template held), and its ack must cover the newest of
     * them. Empty when the fleet has converged.
     */
    List<String> divergence() {
        Expected expected = expected();
        List<String> problems = new ArrayList<>();
        for (FleetProcess s : simulators) {
            for (Map.Entry<String, String> agent : s.digest().entrySet()) {
                String node = agent.getKey();
                String digest = agent.getValue();
                int colon = digest.indexOf(':');
                long acked = Long.parseLong(digest.substring(0, colon));
                Map<String, String> has = new TreeMap<>();
                String entries = digest.substring(colon + 1);
                if (!entries.isEmpty()) {
                    for (String e : entries.split(",")) {
                        int eq = e.indexOf('=');
                        has.put(e.substring(0, eq), e.substring(eq + 1));
                    }
                }
                Map<String, String> should = expected.byNode().getOrDefault(node, Map.of());
                if (!has.equals(should)) {
                    problems.add(node + " holds " + has + " but etcd says " + should);
                } else if (acked < expected.newestRevision().getOrDefault(node, 0L)) {
                    problems.add(node + " acked " + acked + ", older than its newest assignment (revision "
                            + expected.newestRevision().get(node) + ")");
                }
            }
        }
        return problems;
    }

    void awaitConverged(String what, Duration timeout) {
        List<List<String>> last = new ArrayList<>(List.of(List.of()));
        Await.until(what, timeout, () -> {
            List<String> p = last.get(0);
            return p.size() + " agents differ from etcd, e.g.\n  " + String.join("\n  ", p.subList(0, Math.min(5, p.size())))
                    + "\n" + diagnostics();
        }, () -> {
            last.set(0, divergence());
            return last.get(0).isEmpty();
        });
    }

    static long nowMicros() {
        java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000 + now.getNano() / 1000;
    }

    @Override
    public void close() throws Exception {
        Throwable first = null;
        for (FleetProcess s : simulators) {
            try {
                s.close();
            } catch (RuntimeException e) {
                first = first == null ? e : first;
            }
        }
        try {
            if (controlPlane != null) {
                controlPlane.close();
            }
        } catch (Exception e) {
            first = first == null ? e : first;
        }
        etcd.close();
        if (first instanceof Exception e) {
            throw e;
        }
    }
}
