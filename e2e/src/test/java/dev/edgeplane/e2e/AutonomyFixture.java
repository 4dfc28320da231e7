package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.testkit.Commands;
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
import dev.edgeplane.testkit.Containerd;
import dev.edgeplane.testkit.EtcdServer;
import dev.edgeplane.testkit.FreePorts;
import dev.edgeplane.testkit.Registry;
import dev.edgeplane.testkit.TestImages;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * An installation whose control plane can be killed, restarted on the same ports (the agent's
 * endpoint), or restarted on another agent port so the agent cannot reach it (a cut link, while the
 * cloud keeps judging the node). Short grace periods so faults show in seconds.
 */
final class AutonomyFixture implements AutoCloseable {
    static final Duration CONVERGE = Duration.ofSeconds(90);
    static final Map<String, String> CLOUD_ENV = Map.of(
            "EDGEPLANE_NODE_UNREACHABLE_AFTER", "6s",
            "EDGEPLANE_NODE_STATUS_WRITE_INTERVAL", "2s");

    final Path dir;
    final EtcdServer etcd;
    final Containerd containerd;
    final Registry registry;
    final Cri cri;
    final EdgeHost host;
    final String image;
    final int apiPort;
    final int agentPort;
    /** A private copy of the build: other engineers rebuild the shared target dirs while tests run. */
    private final List<String> cloudCommand;
    private ControlPlane cloud;

    private AutonomyFixture(Path dir, EtcdServer etcd, Containerd containerd, Registry registry, Cri cri,
            EdgeHost host, String image, int apiPort, int agentPort, List<String> cloudCommand) {
        this.cloudCommand = cloudCommand;
        this.dir = dir;
        this.etcd = etcd;
        this.containerd = containerd;
        this.registry = registry;
        this.cri = cri;
        this.host = host;
        this.image = image;
        this.apiPort = apiPort;
        this.agentPort = agentPort;
    }

    static AutonomyFixture start(Path dir, String node) throws Exception {
        EtcdServer etcd = EtcdServer.start();
        Containerd containerd = null;
        Registry registry = null;
        Cri cri = null;
        EdgeHost host = null;
        try {
            containerd = Containerd.start();
            registry = Registry.start();
            String image = registry.push(TestImages.BUSYBOX.archive(), "edgeplane/busybox:1");
            cri = new Cri(containerd.endpoint());
            Path builds = Files.createDirectories(dir.resolve("builds"));
            copyTree(Binaries.repoRoot().resolve("edge-agent/target"), builds.resolve("edge-agent"), "bin", "lib", "edge-agent.jar");
            copyTree(Binaries.repoRoot().resolve("control-plane/target"), builds.resolve("control-plane"), "quarkus-app");
            host = new EdgeHost(node, dir.resolve(node), containerd.endpoint(),
                    List.of("--backoff-initial", "1s", "--backoff-max", "4s", "--heartbeat", "2s"),
                    List.of(builds.resolve("edge-agent/bin/edge-agent").toString()));
            AutonomyFixture f = new AutonomyFixture(dir, etcd, containerd, registry, cri, host, image,
                    FreePorts.next(), FreePorts.next(), List.of(
                            Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m", "-jar",
                            builds.resolve("control-plane/quarkus-app/quarkus-run.jar").toString()));
            try {
                f.startCloud();
                var join = host.join(f.cloud.createJoinToken(Duration.ofMinutes(5), 1).getStatus().getJoinCommand());
                assertEquals(0, join.exitCode(), join.output());
                host.start();
                f.awaitPhase(NodeStatus.Phase.READY);
                return f;
            } catch (Exception | AssertionError e) {
                f.close();
                throw e;
            }
        } catch (Exception | AssertionError e) {
            for (AutoCloseable c : new AutoCloseable[] {host, cri, registry, containerd, etcd}) {
                if (c != null) {
                    try {
                        c.close();
                    } catch (Exception s) {
                        e.addSuppressed(s);
                    }
                }
            }
            throw e;
        }
    }

    static void copyTree(Path from, Path to, String... names) throws java.io.IOException {
        for (String name : names) {
            Path source = from.resolve(name);
            try (var walk = Files.walk(source)) {
                for (Path p : (Iterable<Path>) walk::iterator) {
                    Path target = to.resolve(name).resolve(source.relativize(p).toString());
                    if (Files.isDirectory(p)) {
                        Files.createDirectories(target);
                    } else {
                        Files.createDirectories(target.getParent());
                        Files.copy(p, target, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
                    }
                }
            }
        }
    }

    ControlPlane cloud() {
        return cloud;
    }

    /** Starts the control plane on the ports the agent knows. */
    void startCloud() throws Exception {
        startCloud(agentPort);
    }

    /**
     * Starts the control plane (one dir: the admin token file is written at the first start only, its
     * log appends); on another agent port than the agent's, the link is cut.
     */
    void startCloud(int onAgentPort) throws Exception {
        if (cloud != null) {
            throw new IllegalStateException("the control plane runs already");
        }
        cloud = ControlPlane.start(etcd.endpoint(), dir.resolve("cp"), apiPort, onAgentPort, CLOUD_ENV, cloudCommand);
    }

    /** kill -9 of the control plane: agents see their streams die. */
    void killCloud() throws InterruptedException {
        cloud.process().kill9();
        cloud.close();
        cloud = null;
    }

    void restartCloud() throws Exception {
        killCloud();
        startCloud();
    }

    NodeStatus.Phase phase() {
        return cloud.nodes().getNode(GetNodeRequest.newBuilder().setName(host.name()).build())
                .getStatus().getPhase();
    }

    void awaitPhase(NodeStatus.Phase phase) {
        Await.until("node " + host.name() + " " + phase, CONVERGE, this::diagnostics, () -> phase() == phase);
    }

    String diagnostics() {
        return host.logTail() + "\n" + (cloud == null ? "(no control plane)" : cloud.process().logTail());
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

    /** Replaces the first container's command: a new template, so the agent replaces the pods. */
    App setCommand(String name, String... command) {
        App current = get(name);
        App changed = current.toBuilder().setSpec(current.getSpec().toBuilder().setTemplate(
                current.getSpec().getTemplate().toBuilder().setContainers(0,
                        current.getSpec().getTemplate().getContainers(0).toBuilder()
                                .clearCommand().addAllCommand(List.of(command))))).build();
        return cloud.apps().updateApp(UpdateAppRequest.newBuilder().setApp(changed).build());
    }

    void delete(String name) {
        cloud.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace("default").setName(name).build());
        Await.until(name + " gone", CONVERGE, this::diagnostics,
                () -> cri.containers(labelsOf(name)).isEmpty());
    }

    static Map<String, String> labelsOf(String app) {
        return Map.of("edgeplane.dev/app", app);
    }

    Set<String> runningIds(String app) {
        return cri.running(labelsOf(app)).stream().map(c -> c.getId()).collect(Collectors.toSet());
    }

    Set<String> allIds(String app) {
        return cri.containers(labelsOf(app)).stream().map(c -> c.getId()).collect(Collectors.toSet());
    }

    void awaitRunning(String app, int n) {
        Await.until(n + " running containers of " + app, CONVERGE, this::diagnostics,
                () -> runningIds(app).size() == n);
    }

    /** Number of agent log lines matching (anywhere in the line). */
    long agentLogCount(String regex) {
        Pattern p = Pattern.compile(regex);
        return host.agent().logText().lines().filter(l -> p.matcher(l).find()).count();
    }

    /** The byte count of the last Snapshot or Changes the agent logged, with which kind it was. */
    record Received(String kind, long bytes) {}

    private static final Pattern RECEIVED = Pattern.compile(
            "sync: (snapshot at revision \\d+|\\d+ changes up to revision \\d+).*\\((\\d+) bytes\\)");

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
        Exception first = null;
        for (AutoCloseable c : new AutoCloseable[] {host, cloud, cri, registry, containerd, etcd}) {
            try {
                if (c != null) {
                    c.close();
                }
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
