package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.UpdateAppRequest;
import dev.edgeplane.testkit.Commands;
import dev.edgeplane.testkit.Containerd;
import dev.edgeplane.testkit.EtcdServer;
import dev.edgeplane.testkit.FreePorts;
import dev.edgeplane.testkit.Registry;
import dev.edgeplane.testkit.TestImages;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * A whole small installation on this machine: etcd, a registry holding the test image, the control
 * plane on fixed ports, and one or more joined edge hosts, each with its own agent and containerd.
 *
 * <p>The control plane can be killed, restarted where the agents dial, or restarted on another
 * agent port so that no agent reaches it while the cloud keeps judging the nodes (a cut link).
 * A single host's link is cut by stopping its agent: its containers keep running.
 */
final class EdgeCluster implements AutoCloseable {
    static final Duration CONVERGE = Duration.ofSeconds(90);
    /** Short grace periods so that faults show in seconds. */
    static final Map<String, String> FAST_FAULTS = Map.of("EDGEPLANE_NODE_UNREACHABLE_AFTER", "6s");
    /** Agent flags for fault tests: reconnect and heartbeat within seconds. */
    static final List<String> FAST_AGENT = List.of("--backoff-initial", "1s", "--backoff-max", "4s", "--heartbeat", "2s");

    final Path dir;
    final EtcdServer etcd;
    final Registry registry;
    /** The busybox test image as pushed to the registry: pulled through CRI like any app's. */
    final String image;
    final int apiPort;
    final int agentPort;
    /** Every host, in the order named at start. */
    final List<EdgeHost> hosts;
    /** The first host, with its containerd and CRI look (the only one in single-host tests). */
    final EdgeHost host;
    final Containerd containerd;
    final Cri cri;
    /** The running control plane; replaced by {@link #startCloud}, null between a kill and a start. */
    ControlPlane cloud;
    private final Map<String, String> cloudEnv;

    private EdgeCluster(Path dir, EtcdServer etcd, Registry registry, String image, List<EdgeHost> hosts,
            Map<String, String> cloudEnv) {
        this.dir = dir;
        this.etcd = etcd;
        this.registry = registry;
        this.image = image;
        this.hosts = List.copyOf(hosts);
        this.host = hosts.get(0);
        this.containerd = host.containerd();
        this.cri = host.cri();
        this.cloudEnv = cloudEnv;
        // Below the ephemeral range: the control plane binds these again on every restart, and any outgoing
        // connection on the host (to etcd, the registry...) could hold an ephemeral one as its source port.
        this.apiPort = FreePorts.belowEphemeralRange();
        this.agentPort = FreePorts.belowEphemeralRange(apiPort);
    }

    /** One host named {@code nodeName}, the control plane with its default grace periods. */
    static EdgeCluster start(Path dir, String nodeName, List<String> agentFlags) throws Exception {
        return start(dir, Map.of(), agentFlags, nodeName);
    }

    /**
     * Hosts named {@code nodeNames}, joined and READY, each with its own containerd; the control plane
     * runs with {@code cloudEnv} added to its environment (e.g. {@link #FAST_FAULTS}).
     */
    static EdgeCluster start(Path dir, Map<String, String> cloudEnv, List<String> agentFlags, String... nodeNames)
            throws Exception {
        return start(dir, cloudEnv, agentFlags, Map.of(), nodeNames);
    }

    /** As above; a host named in {@code hostFlags} also gets those agent flags (e.g. a btrfs pool of its own). */
    static EdgeCluster start(Path dir, Map<String, String> cloudEnv, List<String> agentFlags, Map<String, List<String>> hostFlags,
                             String... nodeNames) throws Exception {
        if (nodeNames.length == 0) {
            throw new IllegalArgumentException("an EdgeCluster needs at least one host");
        }
        List<AutoCloseable> started = new ArrayList<>();
        try {
            EtcdServer etcd = add(started, EtcdServer.start());
            Registry registry = add(started, Registry.start());
            String image = registry.push(TestImages.BUSYBOX.archive(), "edgeplane/busybox:1");
            List<EdgeHost> hosts = new ArrayList<>();
            // The tests' hostPath volumes are under their own dir, and only there.
            List<String> flags = new ArrayList<>(agentFlags);
            flags.addAll(List.of("--allow-host-paths", dir.toString()));
            for (String name : nodeNames) {
                List<String> own = new ArrayList<>(flags);
                own.addAll(hostFlags.getOrDefault(name, List.of()));
                hosts.add(add(started, EdgeHost.withOwnContainerd(name, dir.resolve(name), own)));
            }
            EdgeCluster cluster = new EdgeCluster(dir, etcd, registry, image, hosts, cloudEnv);
            started.add(cluster::stopCloud);
            cluster.startCloud();
            for (EdgeHost h : hosts) {
                var join = h.join(cluster.cloud.createJoinToken(Duration.ofMinutes(5), 1).getStatus().getJoinCommand());
                assertEquals(0, join.exitCode(), join.output());
                h.start();
            }
            for (EdgeHost h : hosts) {
                cluster.awaitPhase(h, NodeStatus.Phase.READY);
            }
            return cluster;
        } catch (Exception | AssertionError e) {
            Collections.reverse(started);
            try {
                closeAll(started);
            } catch (Exception cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
    }

    EdgeHost host(String name) {
        return hosts.stream().filter(h -> h.name().equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no host " + name));
    }

    /** Starts the control plane on the ports the agents know. */
    void startCloud() throws Exception {
        startCloud(agentPort);
    }

    /**
     * Starts the control plane (one dir: the admin token file is written at the first start only, its
     * log appends); on another agent port than the agents', every link is cut.
     */
    void startCloud(int onAgentPort) throws Exception {
        if (cloud != null) {
            throw new IllegalStateException("the control plane runs already");
        }
        cloud = ControlPlane.start(etcd.endpoint(), dir.resolve("cp"), apiPort, onAgentPort, cloudEnv);
    }

    /** kill -9 of the control plane: agents see their streams die. */
    void killCloud() throws InterruptedException {
        cloud.process().kill9();
        stopCloud();
    }

    void restartCloud() throws Exception {
        killCloud();
        startCloud();
    }

    private void stopCloud() throws InterruptedException {
        if (cloud != null) {
            cloud.close();
            cloud = null;
        }
    }

    /** True when the control plane runs where the agents dial. */
    boolean cloudReachable() {
        return cloud != null && cloud.agentPort() == agentPort;
    }

    NodeStatus.Phase phase(EdgeHost h) {
        return cloud.nodes().getNode(GetNodeRequest.newBuilder().setName(h.name()).build()).getStatus().getPhase();
    }

    NodeStatus.Phase phase() {
        return phase(host);
    }

    void awaitPhase(EdgeHost h, NodeStatus.Phase phase) {
        Await.until("node " + h.name() + " " + phase, CONVERGE, this::diagnostics, () -> phase(h) == phase);
    }

    void awaitPhase(NodeStatus.Phase phase) {
        awaitPhase(host, phase);
    }

    void awaitNodeReady() {
        awaitPhase(NodeStatus.Phase.READY);
    }

    /** Every agent's log tail and the control plane's, for failure messages. */
    String diagnostics() {
        StringBuilder out = new StringBuilder();
        for (EdgeHost h : hosts) {
            out.append(h.logTail()).append('\n');
        }
        return out.append(cloud == null ? "(no control plane)" : cloud.process().logTail()).toString();
    }

    App app(String name, int replicas, String... command) {
        return App.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(AppSpec.newBuilder().setReplicas(replicas).setTemplate(PodTemplate.newBuilder()
                        .setRestartPolicy(PodTemplate.RestartPolicy.ALWAYS)
                        .setTerminationGraceSeconds(1)
                        .addContainers(Container.newBuilder().setName("main").setImage(image)
                                .addAllCommand(List.of(command)))))
                .build();
    }

    App create(App app) {
        return cloud.apps().createApp(CreateAppRequest.newBuilder().setApp(app).build());
    }

    App get(String name) {
        return cloud.apps().getApp(GetAppRequest.newBuilder().setNamespace("default").setName(name).build());
    }

    App update(App app) {
        return cloud.apps().updateApp(UpdateAppRequest.newBuilder().setApp(app).build());
    }

    /** Replaces the first container's command: a new template, so the agent replaces the pods. */
    App setCommand(String name, String... command) {
        App current = get(name);
        return update(current.toBuilder().setSpec(current.getSpec().toBuilder().setTemplate(
                current.getSpec().getTemplate().toBuilder().setContainers(0,
                        current.getSpec().getTemplate().getContainers(0).toBuilder()
                                .clearCommand().addAllCommand(List.of(command))))).build());
    }

    /** Deletes the app and waits until no host runs any of its containers. */
    void delete(String name) {
        cloud.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace("default").setName(name).build());
        Await.until(name + " gone", CONVERGE, this::diagnostics,
                () -> hosts.stream().allMatch(h -> h.allIds(name).isEmpty()));
    }

    /** Runs the packaged edgectl against the running control plane as admin; its output (exit code 0 asserted). */
    String edgectl(String... args) {
        List<String> cmd = new ArrayList<>(Binaries.edgectl());
        cmd.addAll(List.of("--insecure", "--server", cloud.apiAddress(), "--token-file", cloud.adminTokenFile().toString()));
        cmd.addAll(List.of(args));
        Commands.Result r = Commands.exec(cmd, Map.of(), Duration.ofSeconds(120));
        assertEquals(0, r.exitCode(), String.join(" ", args) + ": " + r.output());
        return r.output();
    }

    static Map<String, String> labelsOf(String app) {
        return EdgeHost.labelsOf(app);
    }

    /** The first host's running containers of {@code app}. */
    Set<String> runningIds(String app) {
        return host.runningIds(app);
    }

    Set<String> allIds(String app) {
        return host.allIds(app);
    }

    void awaitRunning(String app, int n) {
        awaitRunning(host, app, n);
    }

    void awaitRunning(EdgeHost h, String app, int n) {
        Await.until(n + " running containers of " + app + " on " + h.name(), CONVERGE, this::diagnostics,
                () -> h.runningIds(app).size() == n);
    }

    /** Number of the first host's agent log lines matching (anywhere in the line). */
    long agentLogCount(String regex) {
        Pattern p = Pattern.compile(regex);
        return host.agent().logText().lines().filter(l -> p.matcher(l).find()).count();
    }

    /** The byte count of a Snapshot or Changes the agent logged, with which kind it was. */
    record Received(String kind, long bytes) {}

    private static final Pattern RECEIVED = Pattern.compile(
            "sync: (snapshot at revision \\d+|\\d+ changes up to revision \\d+).*\\((\\d+) bytes\\)");

    /** What the first host's agent received, in order. */
    List<Received> received() {
        return host.agent().logText().lines().map(RECEIVED::matcher).filter(Matcher::find)
                .map(m -> new Received(m.group(1).startsWith("snapshot") ? "snapshot" : "changes",
                        Long.parseLong(m.group(2))))
                .toList();
    }

    /** etcd's current revision, through etcdctl. */
    long etcdRevision() {
        var r = Commands.exec(List.of("etcdctl", "--endpoints", etcd.endpoint(), "endpoint", "status",
                "-w", "json"), Map.of(), Duration.ofSeconds(20));
        assertEquals(0, r.exitCode(), r.output());
        Matcher m = Pattern.compile("\"revision\":(\\d+)").matcher(r.output());
        if (!m.find()) {
            throw new AssertionError("no revision in " + r.output());
        }
        return Long.parseLong(m.group(1));
    }

    void compactEtcd(long revision) {
        var r = Commands.exec(List.of("etcdctl", "--endpoints", etcd.endpoint(), "compact",
                Long.toString(revision)), Map.of(), Duration.ofSeconds(20));
        assertEquals(0, r.exitCode(), r.output());
    }

    @Override
    public void close() throws Exception {
        List<AutoCloseable> all = new ArrayList<>(hosts);
        all.add(this::stopCloud);
        all.add(registry);
        all.add(etcd);
        closeAll(all);
    }

    private static <T extends AutoCloseable> T add(List<AutoCloseable> started, T c) {
        started.add(c);
        return c;
    }

    private static void closeAll(List<AutoCloseable> closeables) throws Exception {
        Exception first = null;
        for (AutoCloseable c : closeables) {
            try {
                c.close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
