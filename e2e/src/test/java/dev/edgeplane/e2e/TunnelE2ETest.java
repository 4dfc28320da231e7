package dev.edgeplane.e2e;

import dev.edgeplane.testkit.Commands;
import dev.edgeplane.testkit.Sshd;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.HttpProxyRequest;
import dev.edgeplane.api.v1.HttpProxyResponse;
import dev.edgeplane.api.v1.LogsRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.OpsServiceGrpc;
import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import com.sun.net.httpserver.HttpServer;
import dev.edgeplane.testkit.FreePorts;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ops tunnel through the real processes: edgectl -> control plane (Ops API) -> OpenTunnel on
 * the agent's Sync stream -> the agent's Tunnel stream -> containerd / the host.
 */
class TunnelE2ETest {
    static final String NODE = "edge-tunnel";

    @TempDir static Path dir;
    static Sshd sshd;
    static HttpServer metrics;
    static int echoPort;
    static EdgeCluster cluster;
    static ManagedChannel channel;
    static OpsServiceGrpc.OpsServiceBlockingStub ops;
    static String replica;

    @BeforeAll
    static void start() throws Exception {
        sshd = new Sshd();
        metrics = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        metrics.createContext("/metrics", exchange -> {
            byte[] body = "edge_up 1\n".getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        metrics.start();
        // Bound by the replica long after it is picked, while the cluster's processes make connections: a
        // port in the ephemeral range can be taken meanwhile as a source port, or be left in TIME_WAIT by one
        // (seen in CI: "nc: bind: Address already in use").
        echoPort = FreePorts.belowEphemeralRange();
        cluster = EdgeCluster.start(dir, NODE, List.of(
                "--tunnel-exec", "true", "--tunnel-ssh", "true", "--tunnel-ssh-port", String.valueOf(sshd.port),
                "--tunnel-http-ports", String.valueOf(metrics.getAddress().getPort()),
                "--audit-log", dir.resolve("agent-audit.log").toString()));
        channel = NettyChannelBuilder.forTarget(cluster.cloud.apiAddress()).usePlaintext().build();
        ops = OpsServiceGrpc.newBlockingStub(channel).withCallCredentials(ControlPlane.bearer(cluster.cloud.adminToken()));
        cluster.cloud.apps().createApp(CreateAppRequest.newBuilder().setApp(App.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("web"))
                .setSpec(AppSpec.newBuilder().setReplicas(1).setTemplate(PodTemplate.newBuilder()
                        .setRestartPolicy(PodTemplate.RestartPolicy.ALWAYS).setTerminationGraceSeconds(1)
                        .addContainers(Container.newBuilder().setName("main").setImage(cluster.image)
                                .addAllCommand(List.of("sh", "-c", "echo hello-from-web; exec nc -ll -p " + echoPort + " -e cat"))
                                // A port-forward reaches only a port the replica declares.
                                .addPorts(dev.edgeplane.api.v1.ContainerPort.newBuilder().setName("echo").setContainerPort(echoPort))))))
                .build());
        Await.until("app web running", EdgeCluster.CONVERGE, cluster.host::logTail, () -> {
            App app = cluster.cloud.apps().getApp(GetAppRequest.newBuilder().setNamespace("default").setName("web").build());
            return app.getStatus().getReplicasList().stream().anyMatch(r -> r.getPhase() == ReplicaStatus.Phase.RUNNING);
        });
        replica = cluster.cloud.apps().getApp(GetAppRequest.newBuilder().setNamespace("default").setName("web").build())
                .getStatus().getReplicas(0).getName();
    }

    @AfterAll
    static void stop() throws Exception {
        if (channel != null) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        if (cluster != null) {
            cluster.close();
        }
        if (metrics != null) {
            metrics.stop(0);
        }
        if (sshd != null) {
            sshd.close();
        }
    }

    private static Commands.Result edgectl(String... args) {
        List<String> cmd = new ArrayList<>(Binaries.edgectl());
        cmd.addAll(List.of(args));
        return Commands.exec(cmd, edgectlEnv(), Duration.ofSeconds(60));
    }

    @Test
    void logsOfAnAppThroughEdgectl() {
        Await.until("the app's first line", Duration.ofSeconds(30), () -> "", () -> edgectl("logs", "web").output().contains("hello-from-web"));
        Commands.Result r = edgectl("logs", "--tail", "1", "--timestamps", "web");
        assertEquals(0, r.exitCode(), r.output());
        assertTrue(r.output().matches("(?s)\\d{4}-\\d\\d-\\d\\dT\\S+ hello-from-web\\s*"), r.output());
    }

    @Test
    void execReturnsTheCommandsExitCode() {
        Commands.Result r = edgectl("exec", "web", "--", "sh", "-c", "echo in-container; exit 5");
        assertEquals(5, r.exitCode(), r.output());
        assertTrue(r.output().contains("in-container"), r.output());
        Commands.Result withStdin = Commands.exec(List.of("sh", "-c", "echo piped | "
                        + String.join(" ", Binaries.edgectl()) + " exec -i " + replica + " -- sh -c 'read l; echo got-$l'"),
                edgectlEnv(), Duration.ofSeconds(60));
        assertEquals(0, withStdin.exitCode(), withStdin.output());
        assertTrue(withStdin.output().contains("got-piped"), withStdin.output());
    }

    @Test
    void sshAsAProxyCommandRunsARemoteCommand() {
        List<String> ssh = new ArrayList<>(sshd.sshCommand(22, "echo ssh-ok-$((6*7))"));
        ssh.addAll(1, List.of("-o", "ProxyCommand=" + String.join(" ", Binaries.edgectl()) + " ssh " + NODE));
        Commands.Result r = Commands.exec(ssh, edgectlEnv(), Duration.ofSeconds(60));
        assertEquals(0, r.exitCode(), r.output());
        assertTrue(r.output().contains("ssh-ok-42"), r.output());
    }

    @Test
    void portForwardToTheEchoServerInTheReplica() throws Exception {
        int local = FreePorts.next();
        List<String> cmd = new ArrayList<>(Binaries.edgectl());
        cmd.addAll(List.of("port-forward", "web", local + ":" + echoPort));
        try (ManagedProcess forward = ManagedProcess.start("edgectl port-forward", cmd, edgectlEnv(), dir.resolve("port-forward.log"))) {
            Await.until("edgectl listening", Duration.ofSeconds(30), forward::logTail, () -> forward.logTail().contains("Forwarding from"));
            for (int i = 0; i < 3; i++) {
                try (java.net.Socket s = new java.net.Socket("127.0.0.1", local)) {
                    byte[] payload = ("ping-" + i + "\n").getBytes(StandardCharsets.UTF_8);
                    s.getOutputStream().write(payload);
                    s.shutdownOutput();
                    assertEquals("ping-" + i + "\n", new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
                }
            }
        }
    }

    @Test
    void httpProxyAndRefusals() {
        HttpProxyResponse r = ops.withDeadlineAfter(30, TimeUnit.SECONDS).httpProxy(HttpProxyRequest.newBuilder()
                .setTarget(OpsTarget.newBuilder().setNode(NODE)).setPort(metrics.getAddress().getPort()).setPath("/metrics").build());
        assertEquals("edge_up 1\n", r.getBody().toStringUtf8());
        StatusRuntimeException denied = assertThrows(StatusRuntimeException.class, () -> ops.withDeadlineAfter(30, TimeUnit.SECONDS)
                .httpProxy(HttpProxyRequest.newBuilder().setTarget(OpsTarget.newBuilder().setNode(NODE)).setPort(sshd.port).build()));
        assertEquals(Status.Code.PERMISSION_DENIED, denied.getStatus().getCode());
        StatusRuntimeException offline = assertThrows(StatusRuntimeException.class, () -> ops.withDeadlineAfter(5, TimeUnit.SECONDS)
                .logs(LogsRequest.newBuilder().setTarget(OpsTarget.newBuilder().setNode("no-such-node")).build()).hasNext());
        assertEquals(Status.Code.INVALID_ARGUMENT, offline.getStatus().getCode()); // logs need a replica
        StatusRuntimeException unavailable = assertThrows(StatusRuntimeException.class, () -> ops.withDeadlineAfter(5, TimeUnit.SECONDS)
                .httpProxy(HttpProxyRequest.newBuilder().setTarget(OpsTarget.newBuilder().setNode("no-such-node")).setPort(80).build()));
        assertEquals(Status.Code.UNAVAILABLE, unavailable.getStatus().getCode());
        StatusRuntimeException unauthenticated = assertThrows(StatusRuntimeException.class, () -> OpsServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(5, TimeUnit.SECONDS).httpProxy(HttpProxyRequest.newBuilder()
                        .setTarget(OpsTarget.newBuilder().setNode(NODE)).setPort(metrics.getAddress().getPort()).build()));
        assertEquals(Status.Code.UNAUTHENTICATED, unauthenticated.getStatus().getCode());
    }


    /** The e2e control plane serves its API in plaintext (ApiTlsTest covers TLS): edgectl is told so. */
    private static Map<String, String> edgectlEnv() {
        return Map.of("EDGECTL_SERVER", cluster.cloud.apiAddress(), "EDGECTL_TOKEN", cluster.cloud.adminToken(), "EDGECTL_INSECURE", "true");
    }
}
