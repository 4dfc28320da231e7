package dev.edgeplane.tunnel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.ExecRequest;
import dev.edgeplane.api.v1.ExecResponse;
import dev.edgeplane.api.v1.ExecStart;
import dev.edgeplane.api.v1.LogsRequest;
import dev.edgeplane.api.v1.LogsResponse;
import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.PortForwardStart;
import dev.edgeplane.api.v1.TerminalSize;
import dev.edgeplane.cri.v1.ContainerConfig;
import dev.edgeplane.cri.v1.ContainerMetadata;
import dev.edgeplane.cri.v1.CreateContainerRequest;
import dev.edgeplane.cri.v1.ImageSpec;
import dev.edgeplane.cri.v1.LinuxContainerConfig;
import dev.edgeplane.cri.v1.LinuxContainerSecurityContext;
import dev.edgeplane.cri.v1.LinuxPodSandboxConfig;
import dev.edgeplane.cri.v1.LinuxSandboxSecurityContext;
import dev.edgeplane.cri.v1.NamespaceMode;
import dev.edgeplane.cri.v1.NamespaceOption;
import dev.edgeplane.cri.v1.PodSandboxConfig;
import dev.edgeplane.cri.v1.PodSandboxMetadata;
import dev.edgeplane.cri.v1.RemovePodSandboxRequest;
import dev.edgeplane.cri.v1.RunPodSandboxRequest;
import dev.edgeplane.cri.v1.RuntimeServiceGrpc;
import dev.edgeplane.cri.v1.StartContainerRequest;
import dev.edgeplane.cri.v1.StopPodSandboxRequest;
import dev.edgeplane.testkit.Containerd;
import dev.edgeplane.testkit.TestImages;
import dev.edgeplane.tunnel.client.StreamPipe;
import dev.edgeplane.tunnel.edge.CriContainers;
import dev.edgeplane.tunnel.hub.HubSettings;
import dev.edgeplane.tunnel.policy.Allowlist;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Logs (tail, since, timestamps, previous, follow), exec (exit code, stdin, TTY) and port-forward
 * to a TCP echo server in a container, against real containers in a real containerd.
 */
class CriSessionsTest {
    private static final String NS = "default";
    private static final String REPLICA = "web-0";
    private static Containerd containerd;
    private static EpollEventLoopGroup group;
    private static ManagedChannel cri;
    @TempDir static Path logs;
    private static String sandbox;
    private static int echoPort;
    private static TunnelFixture tunnel;

    @BeforeAll
    static void start() throws Exception {
        containerd = Containerd.start(List.of(TestImages.BUSYBOX));
        group = new EpollEventLoopGroup(1);
        cri = NettyChannelBuilder.forAddress(new DomainSocketAddress(containerd.socket().toString()))
                .eventLoopGroup(group).channelType(EpollDomainSocketChannel.class).usePlaintext().build();
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            echoPort = probe.getLocalPort();
        }
        NamespaceOption host = NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE).setPid(NamespaceMode.CONTAINER)
                .setIpc(NamespaceMode.POD).build();
        PodSandboxConfig pod = PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(REPLICA).setNamespace(NS).setUid("uid-" + REPLICA))
                .setLogDirectory(logs.toString())
                .putLabels("edgeplane.dev/namespace", NS).putLabels("edgeplane.dev/replica", REPLICA)
                .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(host)))
                .build();
        sandbox = runtime().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(pod).build()).getPodSandboxId();
        // "once" ran before and exited: its log is the previous instance of "app"
        String once = container(pod, host, "app", 0, "echo gen1; exit 0");
        Poll.until(() -> !new CriContainers(cri).running(once), "first instance exited", 30_000);
        container(pod, host, "app", 1, "echo one; echo two; echo three; sleep 1.2; echo four; "
                + "while [ ! -e /go ]; do sleep 0.1; done; i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.2; done");
        container(pod, host, "static", 0, "echo one; echo two; echo three; sleep 1.2; echo four; exec sleep 3600");
        container(pod, host, "echo", 0, "exec nc -ll -p " + echoPort + " -e cat");
        tunnel = new TunnelFixture(new Allowlist(Set.of(), Set.of(), true, Set.of(), true, false, 22, true),
                HubSettings.defaults(), Optional.of(new CriContainers(cri)), Map.of(NS + "/" + REPLICA, TunnelFixture.NODE));
    }

    private static RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime() {
        return RuntimeServiceGrpc.newBlockingStub(cri).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    private static String container(PodSandboxConfig pod, NamespaceOption host, String name, int attempt, String script) {
        String id = runtime().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(sandbox).setSandboxConfig(pod)
                .setConfig(ContainerConfig.newBuilder()
                        .setMetadata(ContainerMetadata.newBuilder().setName(name).setAttempt(attempt))
                        .setImage(ImageSpec.newBuilder().setImage(TestImages.BUSYBOX.name()))
                        .addCommand("sh").addArgs("-c").addArgs(script)
                        .setLogPath(name + "/" + attempt + ".log")
                        .putLabels("edgeplane.dev/namespace", NS).putLabels("edgeplane.dev/replica", REPLICA)
                        .putLabels("edgeplane.dev/container", name)
                        // As the agent declares a container's ports: the echo container declares the echo port.
                        .putAnnotations(CriContainers.PORTS, name.equals("echo") ? Integer.toString(echoPort) : "")
                        .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                                LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(host))))
                .build()).getContainerId();
        runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        return id;
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (tunnel != null) {
                tunnel.close();
            }
            if (sandbox != null) {
                runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(sandbox).build());
                runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(sandbox).build());
            }
        } finally {
            if (cri != null) {
                cri.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
            if (group != null) {
                group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
            }
            if (containerd != null) {
                containerd.close();
            }
        }
    }

    private static OpsTarget app() {
        return OpsTarget.newBuilder().setNamespace(NS).setReplica(REPLICA).setContainer("app").build();
    }

    private static String logs(LogsRequest.Builder request) {
        return logs(request, app());
    }

    private static String logs(LogsRequest.Builder request, OpsTarget target) {
        StringBuilder out = new StringBuilder();
        tunnel.opsBlocking().withDeadlineAfter(30, TimeUnit.SECONDS).logs(request.setTarget(target).build())
                .forEachRemaining(r -> out.append(r.getData().toStringUtf8()));
        return out.toString();
    }

    @Test
    void logsTailSinceTimestampsAndPrevious() {
        OpsTarget target = OpsTarget.newBuilder().setNamespace(NS).setReplica(REPLICA).setContainer("static").build();
        Poll.until(() -> logs(LogsRequest.newBuilder(), target).contains("four"), "the fourth line", 30_000);
        assertEquals("one\ntwo\nthree\nfour\n", logs(LogsRequest.newBuilder(), target));
        assertEquals("three\nfour\n", logs(LogsRequest.newBuilder().setTailLines(2), target));
        String stamped = logs(LogsRequest.newBuilder().setTimestamps(true), target);
        List<String> lines = stamped.lines().toList();
        assertEquals(4, lines.size(), stamped);
        String fourAt = lines.get(3).substring(0, lines.get(3).indexOf(' '));
        assertTrue(lines.get(3).endsWith(" four"), stamped);
        Instant since = Instant.parse(fourAt);
        assertEquals("four\n", logs(LogsRequest.newBuilder().setSinceTime(Timestamp.newBuilder()
                .setSeconds(since.getEpochSecond()).setNanos(since.getNano())), target));
        assertEquals("gen1\n", logs(LogsRequest.newBuilder().setPrevious(true)));
    }

    @Test
    void logsFollowStreamsNewLinesUntilCancelled() throws Exception {
        Poll.until(() -> logs(LogsRequest.newBuilder()).contains("four"), "the fourth line", 30_000);
        StringBuffer followed = new StringBuffer();
        CompletableFuture<Status> ended = new CompletableFuture<>();
        Context.CancellableContext call = Context.current().withCancellation();
        call.run(() -> tunnel.ops().logs(LogsRequest.newBuilder().setTarget(app()).setFollow(true).setTailLines(1).build(),
                new StreamObserver<>() {
                    @Override
                    public void onNext(LogsResponse value) {
                        followed.append(value.getData().toStringUtf8());
                    }

                    @Override
                    public void onError(Throwable t) {
                        ended.complete(Status.fromThrowable(t));
                    }

                    @Override
                    public void onCompleted() {
                        ended.complete(Status.OK);
                    }
                }));
        Poll.until(() -> followed.toString().startsWith("four\n"), "the tail line (got " + followed + ")");
        assertEquals(0, exec(List.of("touch", "/go"), false, false, null).exitCode);
        Poll.until(() -> followed.toString().contains("tick3\n"), "lines written after the follow began (got " + followed + ")");
        assertTrue(followed.toString().startsWith("four\ntick1\ntick2\n"), followed.toString());
        call.cancel(null);
        assertEquals(Status.Code.CANCELLED, ended.get(10, TimeUnit.SECONDS).getCode());
        Poll.until(() -> tunnel.agent.activeSessions() == 0 && tunnel.hub.openSessions() == 0, "the follow session closed on both ends");
    }

    @Test
    void execReturnsOutputAndExitCode() throws Exception {
        Result r = exec(List.of("sh", "-c", "echo out; echo err >&2; exit 3"), false, false, null);
        assertEquals(3, r.exitCode);
        assertEquals("out\n", r.stdout);
        assertEquals("err\n", r.stderr);
    }

    @Test
    void execWithStdin() throws Exception {
        Result r = exec(List.of("sh", "-c", "read line; echo got:$line; echo bye >&2; exit 4"), true, false, "hello\n");
        assertEquals(4, r.exitCode);
        assertEquals("got:hello\n", r.stdout);
        assertEquals("bye\n", r.stderr);
    }

    @Test
    void execWithATerminal() throws Exception {
        Result r = exec(List.of("sh", "-c", "tty; sleep 0.5; stty size; exit 0"), true, true, null);
        assertEquals(0, r.exitCode, r.stdout);
        assertTrue(r.stdout.contains("/dev/pts/"), r.stdout);
        assertTrue(r.stdout.contains("40 100"), r.stdout);
    }

    @Test
    void execIntoAMissingContainerIsNotFound() {
        StatusRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class, () -> {
            exec(OpsTarget.newBuilder().setNamespace(NS).setReplica(REPLICA).setContainer("nope").build(), List.of("true"), false, false, null);
        });
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    }

    @Test
    void portForwardToAnEchoServerInAContainer() throws Exception {
        byte[] payload = new byte[256 * 1024];
        new java.util.Random(3).nextBytes(payload);
        Poll.until(() -> {
            try (java.net.Socket s = new java.net.Socket(InetAddress.getLoopbackAddress(), echoPort)) {
                return true;
            } catch (java.io.IOException e) {
                return false;
            }
        }, "the echo server in the container", 30_000);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        StreamPipe.run(tunnel.ops(), StreamPipe.Kind.PORT_FORWARD, PortForwardStart.newBuilder()
                .setTarget(OpsTarget.newBuilder().setNamespace(NS).setReplica(REPLICA)).setPort(echoPort).build(),
                new ByteArrayInputStream(payload), out);
        assertArrayEquals(payload, out.toByteArray());
    }

    @Test
    void portForwardToAPortTheReplicaDoesNotDeclareIsRefused() throws Exception {
        // The host's own services share the network namespace; a replica reaches only what it declares.
        try (java.net.ServerSocket hostService = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            StatusRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class, () ->
                    StreamPipe.run(tunnel.ops(), StreamPipe.Kind.PORT_FORWARD, PortForwardStart.newBuilder()
                            .setTarget(OpsTarget.newBuilder().setNamespace(NS).setReplica(REPLICA)).setPort(hostService.getLocalPort()).build(),
                            new ByteArrayInputStream(new byte[0]), new ByteArrayOutputStream()));
            assertEquals(Status.Code.PERMISSION_DENIED, e.getStatus().getCode());
            org.junit.jupiter.api.Assertions.assertTrue(e.getStatus().getDescription().contains("declares (" + "[" + echoPort + "])"),
                    e.getStatus().getDescription());
        }
    }

    private record Result(int exitCode, String stdout, String stderr) {}

    private static Result exec(List<String> command, boolean stdin, boolean tty, String input) throws Exception {
        return exec(app(), command, stdin, tty, input);
    }

    private static Result exec(OpsTarget target, List<String> command, boolean stdin, boolean tty, String input) throws Exception {
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        ByteArrayOutputStream stderr = new ByteArrayOutputStream();
        int[] exit = {-1};
        CompletableFuture<Void> done = new CompletableFuture<>();
        StreamObserver<ExecRequest> requests = tunnel.ops().exec(new StreamObserver<>() {
            @Override
            public void onNext(ExecResponse r) {
                switch (r.getKindCase()) {
                    case STDOUT -> stdout.writeBytes(r.getStdout().toByteArray());
                    case STDERR -> stderr.writeBytes(r.getStderr().toByteArray());
                    case EXIT_CODE -> exit[0] = r.getExitCode();
                    default -> { }
                }
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                done.complete(null);
            }
        });
        requests.onNext(ExecRequest.newBuilder().setStart(ExecStart.newBuilder().setTarget(target).addAllCommand(command)
                .setStdin(stdin).setTty(tty).setSize(TerminalSize.newBuilder().setWidth(100).setHeight(40))).build());
        if (input != null) {
            requests.onNext(ExecRequest.newBuilder().setStdin(ByteString.copyFromUtf8(input)).build());
        }
        if (!stdin) {
            requests.onCompleted();
        }
        try {
            done.get(60, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw (Exception) e.getCause();
        } finally {
            if (stdin) {
                requests.onCompleted();
            }
        }
        return new Result(exit[0], stdout.toString(StandardCharsets.UTF_8), stderr.toString(StandardCharsets.UTF_8));
    }
}
