package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.AccessServiceGrpc;
import dev.edgeplane.api.v1.ApiToken;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateApiTokenRequest;
import dev.edgeplane.api.v1.CreateRoleBindingRequest;
import dev.edgeplane.api.v1.EventFilter;
import dev.edgeplane.api.v1.ExecAction;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.ListEventsRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Probe;
import dev.edgeplane.api.v1.Role;
import dev.edgeplane.api.v1.RoleBinding;
import dev.edgeplane.testkit.Commands;
import io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The web console (issue 16) end to end: the real control plane, agent and containerd as the quick start runs
 * them, and Debian's headless Chromium driven by playwright-core (src/test/console/console-e2e.mjs). It signs in,
 * sees the node and the app, scales the app and sees the change (checked here through the API too), cordons and
 * uncordons the node, applies an App manifest, shows a workload's hostile probe output as text, refuses a viewer's
 * scale with PERMISSION_DENIED, and writes screenshots
 * to e2e/target/console-*.png. Prints {@code BENCH console page_load_ms=...} (navigation to the overview's data).
 */
class ConsoleE2ETest {
    static final String NODE = "edge-console";
    static final String APP = "web";
    static final String HOSTILE = "hostile";
    /** What a hostile workload prints: if the console ever parsed it as HTML, the handler would set the flag. */
    static final String HOSTILE_TEXT = "<img src=x onerror=window.__edgeplaneXss=1>";
    static final Pattern RESULT = Pattern.compile("^RESULT (\\{.*})$", Pattern.MULTILINE);

    @TempDir static Path dir;
    static EdgeCluster cluster;

    @BeforeAll
    static void startEverything() throws Exception {
        cluster = EdgeCluster.start(dir, EdgeCluster.FAST_FAULTS, EdgeCluster.FAST_AGENT, NODE);
    }

    @AfterAll
    static void stopEverything() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    /** playwright-core from the npm registry, as pinned by package-lock.json (never a browser download). */
    static Path scriptDir() {
        Path scripts = Binaries.repoRoot().resolve("e2e/src/test/console");
        if (!Files.isDirectory(scripts.resolve("node_modules/playwright-core"))) {
            Commands.Result install = Commands.exec(List.of("npm", "ci", "--no-audit", "--no-fund", "--prefix", scripts.toString()),
                    Map.of("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"), Duration.ofMinutes(5));
            assertEquals(0, install.exitCode(), install.output());
        }
        return scripts;
    }

    /** A named API token with a cluster-wide VIEWER binding: what a read-only operator holds. */
    static String viewerToken() {
        var channel = NettyChannelBuilder.forAddress("127.0.0.1", cluster.cloud.apiPort()).usePlaintext().build();
        try {
            var access = AccessServiceGrpc.newBlockingStub(channel).withCallCredentials(ControlPlane.bearer(cluster.cloud.adminToken()))
                    .withDeadlineAfter(20, TimeUnit.SECONDS);
            String secret = access.createApiToken(CreateApiTokenRequest.newBuilder().setApiToken(ApiToken.newBuilder()
                    .setMetadata(ObjectMeta.newBuilder().setName("console-viewer")).setDescription("console e2e")).build()).getSecret();
            access.createRoleBinding(CreateRoleBindingRequest.newBuilder().setRoleBinding(RoleBinding.newBuilder()
                    .setMetadata(ObjectMeta.newBuilder().setName("console-viewer")).setRole(Role.VIEWER)
                    .setSubject("token:console-viewer")).build());
            return secret;
        } finally {
            channel.shutdownNow();
        }
    }


    @Test
    void anOperatorSignsInSeesTheFleetAndScalesAnAppInChromium() throws Exception {
        assertTrue(Files.isExecutable(Path.of("/usr/bin/chromium")), "Debian's chromium is needed: apt-get install -y chromium");
        Path scripts = scriptDir();
        cluster.create(cluster.app(APP, 1, "sleep", "3600"));
        // A workload whose readiness probe prints HTML: the agent reports it in an Unhealthy event, as the kubelet would.
        App hostile = cluster.app(HOSTILE, 1, "sleep", "3600");
        Container probed = hostile.getSpec().getTemplate().getContainers(0).toBuilder()
                .setReadinessProbe(Probe.newBuilder().setExec(ExecAction.newBuilder()
                        .addAllCommand(List.of("sh", "-c", "echo '" + HOSTILE_TEXT + "'; exit 1"))).setPeriodSeconds(2)).build();
        cluster.create(hostile.toBuilder().setSpec(hostile.getSpec().toBuilder().setTemplate(
                hostile.getSpec().getTemplate().toBuilder().setContainers(0, probed))).build());
        cluster.awaitRunning(APP, 1);
        Await.until("web ready", EdgeCluster.CONVERGE, cluster::diagnostics, () -> cluster.get(APP).getStatus().getReadyReplicas() == 1);
        Await.until("the hostile probe output in an event", EdgeCluster.CONVERGE, cluster::diagnostics,
                () -> cluster.cloud.events().listEvents(ListEventsRequest.newBuilder().setFilter(EventFilter.newBuilder()
                        .setNamespace("default").setReason("Unhealthy")).build()).getEventsList().stream()
                        .anyMatch(e -> e.getMessage().contains(HOSTILE_TEXT)));
        String viewer = viewerToken();

        Path out = Binaries.repoRoot().resolve("e2e/target");
        Files.createDirectories(out);
        Path profile = Files.createDirectory(dir.resolve("chromium-profile"));
        Commands.Result run = Commands.exec(List.of("node", scripts.resolve("console-e2e.mjs").toString()), Map.of(
                "CONSOLE_URL", "http://127.0.0.1:" + cluster.cloud.apiPort() + "/console/",
                "ADMIN_TOKEN", cluster.cloud.adminToken(),
                "VIEWER_TOKEN", viewer,
                "NODE", NODE,
                "APP", APP,
                "HOSTILE_APP", HOSTILE,
                "IMAGE", cluster.image,
                "SCREENSHOT_DIR", out.toString(),
                "USER_DATA_DIR", profile.toString()), Duration.ofMinutes(6));
        System.out.println(run.output());
        Matcher result = RESULT.matcher(run.output());
        assertTrue(result.find(), "no RESULT line: " + run.output() + "\n" + cluster.diagnostics());
        assertEquals(0, run.exitCode(), result.group(1) + "\n" + cluster.diagnostics());

        // The console's scale went through the API: the App and the host agree.
        assertEquals(2, cluster.get(APP).getSpec().getReplicas());
        cluster.awaitRunning(APP, 2);
        assertTrue(Files.size(out.resolve("console-apps.png")) > 10_000, "a screenshot a person can look at");
        assertEquals(1, cluster.get("applied").getSpec().getReplicas(), "the applied manifest, created then configured");
        assertFalse(cluster.cloud.nodes().getNode(GetNodeRequest.newBuilder().setName(NODE).build()).getSpec().getUnschedulable(),
                "cordoned and uncordoned from the console");

        Matcher loads = Pattern.compile("\"pageLoadMs\":\\[([0-9,]+)]").matcher(result.group(1));
        assertTrue(loads.find(), result.group(1));
        int[] ms = Arrays.stream(loads.group(1).split(",")).mapToInt(Integer::parseInt).sorted().toArray();
        System.out.println("BENCH console page_load_ms=" + ms[ms.length / 2] + " page_load_max_ms=" + ms[ms.length - 1]
                + " runs=" + ms.length + " (navigation to the overview's data rendered, 1 node, 2 apps, headless Chromium)");
    }
}
