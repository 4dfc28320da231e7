package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.testkit.Commands;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.UncordonNodeRequest;
import dev.edgeplane.api.v1.UpdateAppRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole path: an App created through the API runs as containers in a real containerd on a
 * joined edge host, follows updates, and survives the agent being killed.
 */
class AppLifecycleE2ETest {
    static final Duration CONVERGE = EdgeCluster.CONVERGE;
    static final String NODE = "edge-e2e";

    @TempDir static Path dir;
    static EdgeCluster cluster;
    static ControlPlane cloud;
    static EdgeHost host;
    static Cri cri;
    static String image;

    @BeforeAll
    static void startEverything() throws Exception {
        // Short restart back-off so a crash loop shows in seconds, not minutes.
        cluster = EdgeCluster.start(dir, NODE,
                List.of("--backoff-initial", "1s", "--backoff-max", "4s"));
        cloud = cluster.cloud;
        host = cluster.host;
        cri = cluster.cri;
        image = cluster.image;
    }

    @AfterAll
    static void stopEverything() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    static App app(String name, int replicas, PodTemplate.RestartPolicy restart, String... command) {
        return App.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(AppSpec.newBuilder().setReplicas(replicas).setTemplate(PodTemplate.newBuilder()
                        .setRestartPolicy(restart)
                        .setTerminationGraceSeconds(1)
                        .addContainers(Container.newBuilder().setName("main").setImage(image)
                                .addAllCommand(List.of(command)))))
                .build();
    }

    static Map<String, String> labelsOf(String app) {
        return Map.of("edgeplane.dev/app", app);
    }

    static App get(String name) {
        return cloud.apps().getApp(GetAppRequest.newBuilder().setNamespace("default").setName(name).build());
    }

    static Set<String> runningIds(String app) {
        return cri.running(labelsOf(app)).stream().map(c -> c.getId()).collect(Collectors.toSet());
    }

    static String diagnostics() {
        return host.logTail();
    }

    @Test
    void appRunsItsReplicasFollowsUpdatesAndScalesToZero() {
        App created = cloud.apps().createApp(CreateAppRequest.newBuilder()
                .setApp(app("web", 2, PodTemplate.RestartPolicy.ALWAYS, "sleep", "3600")).build());

        Await.until("2 running containers of web", CONVERGE, AppLifecycleE2ETest::diagnostics,
                () -> runningIds("web").size() == 2);
        Set<String> first = runningIds("web");
        Await.until("web ready 2/2 in App.status", CONVERGE, AppLifecycleE2ETest::diagnostics,
                () -> get("web").getStatus().getReadyReplicas() == 2);

        // A new command replaces both containers.
        App current = get("web");
        App changed = current.toBuilder().setSpec(current.getSpec().toBuilder().setTemplate(
                current.getSpec().getTemplate().toBuilder().setContainers(0,
                        current.getSpec().getTemplate().getContainers(0).toBuilder()
                                .clearCommand().addAllCommand(List.of("sleep", "3601"))))).build();
        cloud.apps().updateApp(UpdateAppRequest.newBuilder().setApp(changed).build());
        Await.until("web replaced by 2 new containers", CONVERGE, AppLifecycleE2ETest::diagnostics, () -> {
            Set<String> now = runningIds("web");
            return now.size() == 2 && now.stream().noneMatch(first::contains);
        });
        // A rolling update removes the last old replica once the new one is available: its container goes a moment later.
        Await.until("the replaced containers are removed, not left exited", CONVERGE, AppLifecycleE2ETest::diagnostics,
                () -> cri.containers(labelsOf("web")).size() == 2);

        // Scale to zero: nothing of the app is left in containerd.
        current = get("web");
        cloud.apps().updateApp(UpdateAppRequest.newBuilder().setApp(current.toBuilder()
                .setSpec(current.getSpec().toBuilder().setReplicas(0))).build());
        Await.until("web scaled to 0", CONVERGE, AppLifecycleE2ETest::diagnostics,
                () -> cri.containers(labelsOf("web")).isEmpty());
        assertTrue(created.getMetadata().getResourceVersion() > 0);
        cloud.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace("default").setName("web").build());
    }

    @Test
    void deletingAnAppRemovesItsContainers() {
        cloud.apps().createApp(CreateAppRequest.newBuilder()
                .setApp(app("doomed", 1, PodTemplate.RestartPolicy.ALWAYS, "sleep", "3600")).build());
        Await.until("doomed running", CONVERGE, AppLifecycleE2ETest::diagnostics,
                () -> runningIds("doomed").size() == 1);
        cloud.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace("default").setName("doomed").build());
        Await.until("doomed gone", CONVERGE, AppLifecycleE2ETest::diagnostics,
                () -> cri.containers(labelsOf("doomed")).isEmpty());
    }

    @Test
    void aCrashingContainerIsRestartedWithBackOffAndItsRestartsShowInStatus() {
        cloud.apps().createApp(CreateAppRequest.newBuilder()
                .setApp(app("crasher", 1, PodTemplate.RestartPolicy.ALWAYS, "sh", "-c", "sleep 1; exit 3"))
                .build());
        Await.until("crasher restarted twice, visible in App.status", CONVERGE,
                AppLifecycleE2ETest::diagnostics, () -> {
                    List<ReplicaStatus> replicas = get("crasher").getStatus().getReplicasList();
                    return replicas.size() == 1 && replicas.get(0).getRestartCount() >= 2;
                });
        ReplicaStatus r = get("crasher").getStatus().getReplicas(0);
        assertEquals(3, r.getLastExitCode(), r.toString());
        assertEquals(NODE, r.getNode());
        cloud.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace("default").setName("crasher").build());
        Await.until("crasher gone", CONVERGE, AppLifecycleE2ETest::diagnostics,
                () -> cri.containers(labelsOf("crasher")).isEmpty());
    }

    @Test
    void aKilledAgentAdoptsItsContainersOnRestart() throws Exception {
        cloud.apps().createApp(CreateAppRequest.newBuilder()
                .setApp(app("steady", 3, PodTemplate.RestartPolicy.ALWAYS, "sleep", "3600")).build());
        Await.until("3 running containers of steady", CONVERGE, AppLifecycleE2ETest::diagnostics,
                () -> runningIds("steady").size() == 3);
        Set<String> before = runningIds("steady");

        host.kill9();
        host.start();
        cluster.awaitNodeReady();
        Await.until("steady reported ready 3/3 by the restarted agent", CONVERGE,
                AppLifecycleE2ETest::diagnostics, () -> get("steady").getStatus().getReadyReplicas() == 3);

        // Several reconcile periods later, still exactly the same containers: adopted, not duplicated.
        List<Set<String>> samples = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            samples.add(Set.copyOf(cri.containers(labelsOf("steady")).stream().map(c -> c.getId()).toList()));
            Thread.sleep(1_500);
        }
        for (Set<String> s : samples) {
            assertEquals(before, s, "containers after the agent restart\n" + diagnostics());
        }
        cloud.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace("default").setName("steady").build());
        Await.until("steady gone", CONVERGE, AppLifecycleE2ETest::diagnostics,
                () -> cri.containers(labelsOf("steady")).isEmpty());
    }

    @Test
    void edgectlAppliesAManifestWaitsForItAndListsIt() throws Exception {
        Path manifest = dir.resolve("hello.yaml");
        java.nio.file.Files.writeString(manifest, """
                kind: App
                metadata: {name: hello, labels: {tier: web}}
                spec:
                  replicas: 1
                  template:
                    containers:
                    - name: main
                      image: %s
                      imagePullPolicy: ALWAYS
                      command: [sleep, "3600"]
                      readinessProbe:
                        exec: {command: ["true"]}
                        periodSeconds: 1
                """.formatted(image));
        assertEquals("app/default/hello created", edgectl("apply", "-f", manifest.toString()).trim());
        assertEquals("app/default/hello unchanged", edgectl("apply", "-f", manifest.toString()).trim());
        assertTrue(edgectl("wait", "app", "hello", "--timeout", "90s").contains("ready: 1/1"));
        String table = edgectl("get", "apps", "-l", "tier=web");
        assertTrue(table.lines().anyMatch(l -> l.matches("default\\s+hello\\s+REPLICATED\\s+1\\s+1\\s+1\\s+.*")),
                table);
        String described = edgectl("describe", "app", "hello");
        assertTrue(described.lines().anyMatch(l -> l.matches("hello-0\\s+" + NODE + "\\s+RUNNING\\s+true \\(.*\\)\\s+0\\s+.*")),
                described);
        assertTrue(described.contains("  Readiness: exec [true] delay=0s timeout=1s period=1s #success=1 #failure=3"), described);
        assertEquals("app/default/hello deleted", edgectl("delete", "app", "hello").trim());
        Await.until("hello gone", CONVERGE, AppLifecycleE2ETest::diagnostics,
                () -> cri.containers(labelsOf("hello")).isEmpty());
    }

    @Test
    void edgectlCordonsDrainsAndUncordonsTheNode() {
        try {
            assertEquals("node/" + NODE + " cordoned", edgectl("cordon", NODE).trim());
            var spec = nodeSpec();
            assertTrue(spec.getUnschedulable() && !spec.getDrained(), spec.toString());
            assertTrue(edgectl("get", "node", NODE).contains("SCHEDULING-DISABLED"));
            String described = edgectl("describe", "node", NODE);
            assertTrue(described.contains("Phase:       READY") && described.contains("Scheduling:  cordoned"),
                    described);

            assertEquals("node/" + NODE + " drained", edgectl("drain", NODE).trim());
            spec = nodeSpec();
            assertTrue(spec.getUnschedulable() && spec.getDrained(), spec.toString());

            assertEquals("node/" + NODE + " uncordoned", edgectl("uncordon", NODE).trim());
            spec = nodeSpec();
            assertTrue(!spec.getUnschedulable() && !spec.getDrained(), spec.toString());
        } finally {
            // The other tests need a schedulable node, whatever happened here.
            cloud.nodes().uncordonNode(UncordonNodeRequest.newBuilder().setName(NODE).build());
        }
    }

    static dev.edgeplane.api.v1.NodeSpec nodeSpec() {
        return cloud.nodes().getNode(GetNodeRequest.newBuilder().setName(NODE).build()).getSpec();
    }

    /** Issue 6 through edgectl: top nodes/pods and metrics show what the real agent reports. */
    @Test
    void edgectlTopAndMetricsShowWhatTheAgentReports() {
        cluster.create(cluster.app("top-demo", 1, "sleep", "3600"));
        try {
            cluster.awaitRunning("top-demo", 1);
            String[] top = new String[1];
            Await.until("edgectl top nodes shows " + NODE + "'s CPU and memory", CONVERGE, () -> top[0], () -> {
                top[0] = edgectl("top", "nodes");
                return top[0].lines().anyMatch(l -> l.startsWith(NODE + " ") && !l.contains("<unknown>"));
            });
            assertTrue(top[0].startsWith("NAME"), top[0]);
            Await.until("edgectl top pods shows top-demo's container", CONVERGE, () -> top[0], () -> {
                top[0] = edgectl("top", "pods", "-n", "default");
                return top[0].lines().anyMatch(l -> l.contains("top-demo") && l.contains(NODE) && !l.contains("<unknown>"));
            });
            String table = edgectl("metrics", "node_memory_total_bytes", "-l", "node=" + NODE, "--since", "10m");
            assertTrue(table.lines().skip(1).anyMatch(l -> l.startsWith("node_memory_total_bytes{node=\"" + NODE + "\"}")), table);
            String json = edgectl("metrics", "node_cpu_usage_cores", "-l", "node=~edge-.*", "--since", "1h", "--step", "1m", "-o", "json");
            assertTrue(json.contains("\"name\": \"node_cpu_usage_cores\"") && json.contains("\"points\""), json);
        } finally {
            cluster.delete("top-demo");
        }
    }

    static String edgectl(String... args) {
        List<String> cmd = new ArrayList<>(Binaries.edgectl());
        cmd.addAll(List.of("--insecure", "--server", cloud.apiAddress(), "--token-file", cloud.adminTokenFile().toString()));
        cmd.addAll(List.of(args));
        Commands.Result r = Commands.exec(cmd, Map.of(), Duration.ofSeconds(120));
        assertEquals(0, r.exitCode(), String.join(" ", args) + ": " + r.output());
        return r.output();
    }
}
