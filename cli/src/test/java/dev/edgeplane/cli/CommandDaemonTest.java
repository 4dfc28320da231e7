package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.ListNodesResponse;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeServiceGrpc;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.testkit.TestPki;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** edgectl's daemon runs forwarded commands as the caller would have, over TLS to a real gRPC server, and guards its socket. */
class CommandDaemonTest {
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    @TempDir
    Path tmp;

    private Server api;
    private final Queue<String> authorizations = new ConcurrentLinkedQueue<>();
    private Path workingDir;
    private Map<String, String> env;
    private final List<Thread> serving = new java.util.ArrayList<>();
    private final List<CommandDaemon> daemons = new java.util.ArrayList<>();

    @BeforeEach
    void startApi() throws Exception {
        TestPki pki = TestPki.create("daemon-test-ca");
        workingDir = Files.createDirectory(tmp.resolve("operator"));
        pki.writeCertificate(workingDir.resolve("ca.crt"));
        Files.writeString(workingDir.resolve("token"), "operator-token\n");
        TestPki.Issued issued = pki.server("127.0.0.1", List.of("127.0.0.1"));
        ServerInterceptor recordAuthorization = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                authorizations.add(String.valueOf(headers.get(AUTHORIZATION)));
                return next.startCall(call, headers);
            }
        };
        api = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .useTransportSecurity(issued.writeCertificate(tmp.resolve("server.crt")).toFile(),
                        issued.writeKey(tmp.resolve("server.key"), TestPki.KeyFormat.PKCS8).toFile())
                .addService(ServerInterceptors.intercept(new NodeServiceGrpc.NodeServiceImplBase() {
                    @Override
                    public void listNodes(ListNodesRequest request, StreamObserver<ListNodesResponse> observer) {
                        observer.onNext(ListNodesResponse.newBuilder()
                                .addNodes(Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("edge-1"))).build());
                        observer.onCompleted();
                    }

                    @Override
                    public void getNode(GetNodeRequest request, StreamObserver<Node> observer) {
                        observer.onError(Status.NOT_FOUND.withDescription("node " + request.getName() + " not found").asRuntimeException());
                    }
                }, recordAuthorization)).build().start();
        env = new HashMap<>();
        env.put("EDGECTL_SERVER", "127.0.0.1:" + api.getPort());
        env.put("EDGECTL_CONFIG", tmp.resolve("no-config.yaml").toString());
        env.put("XDG_RUNTIME_DIR", tmp.resolve("run").toString());
        Files.createDirectory(tmp.resolve("run"));
    }

    @AfterEach
    void stopAll() throws Exception {
        for (CommandDaemon d : daemons) {
            d.close();
        }
        for (Thread t : serving) {
            t.join(10_000);
            assertFalse(t.isAlive(), "a daemon still serves");
        }
        api.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void forwardedGetPrintsWhatARunInTheCallersDirectoryPrintsAndSendsTheCallersToken() throws Exception {
        DaemonClient.Location at = location();
        start(at, Duration.ofMinutes(1));
        // relative paths, resolved from the caller's directory, not the daemon's
        String[] args = {"--ca-file", "ca.crt", "--token-file", "token", "get", "nodes"};
        assertTrue(DaemonClient.forwardable(args, env));

        Output viaDaemon = forward(at, args);
        assertEquals(OptionalInt.of(0), viaDaemon.exit, viaDaemon.err);
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(0, Edgectl.run(args, env, workingDir, new PrintWriter(out), new PrintWriter(err)), err.toString());
        assertEquals(out.toString(), viaDaemon.out);
        assertTrue(viaDaemon.out.contains("edge-1"), viaDaemon.out);
        assertEquals(List.of("Bearer operator-token", "Bearer operator-token"), List.copyOf(authorizations));
    }

    @Test
    void anApiErrorGoesToStandardErrorWithTheCommandsExitCode() throws Exception {
        DaemonClient.Location at = location();
        start(at, Duration.ofMinutes(1));
        Output missing = forward(at, new String[] {"--ca-file", "ca.crt", "--token", "t", "get", "node", "edge-9"});
        assertEquals(OptionalInt.of(Edgectl.EXIT_API_ERROR), missing.exit);
        assertEquals("", missing.out);
        assertTrue(missing.err.contains("NOT_FOUND") && missing.err.contains("edge-9"), missing.err);
    }

    @Test
    void statusCountsCommandsAndStopEndsTheDaemonAndRemovesItsSocket() throws Exception {
        DaemonClient.Location at = location();
        Thread thread = start(at, Duration.ofMinutes(1));
        forward(at, new String[] {"--ca-file", "ca.crt", "--token", "t", "get", "nodes"});
        Output status = forward(at, new String[] {"daemon", "status"});
        assertEquals(OptionalInt.of(0), status.exit);
        assertTrue(status.out.contains("1 commands served") && status.out.contains(at.socket().toString()), status.out);

        assertEquals(OptionalInt.of(0), forward(at, new String[] {"daemon", "stop"}).exit);
        thread.join(10_000);
        assertFalse(thread.isAlive(), "stopped");
        daemons.get(0).close();
        assertFalse(Files.exists(at.socket()), "socket removed");
        assertEquals(OptionalInt.empty(), forward(at, new String[] {"get", "nodes"}).exit, "no daemon: the caller runs it");
    }

    @Test
    void aSecondDaemonOfTheSameBuildStandsDownWhileTheFirstServes() throws Exception {
        DaemonClient.Location at = location();
        start(at, Duration.ofMinutes(1));
        try (CommandDaemon second = new CommandDaemon(at, Duration.ofMinutes(1), quietLog())) {
            assertFalse(second.bind());
        }
        assertEquals(OptionalInt.of(0), forward(at, new String[] {"--ca-file", "ca.crt", "--token", "t", "get", "nodes"}).exit,
                "the first still serves");
    }

    @Test
    void anIdleDaemonEndsByItself() throws Exception {
        Thread thread = start(location(), Duration.ofMillis(300));
        thread.join(10_000);
        assertFalse(thread.isAlive(), "ended after its idle period");
    }

    @Test
    void aMalformedOrOversizedRequestIsDroppedAndTheDaemonServesOn() throws Exception {
        DaemonClient.Location at = location();
        start(at, Duration.ofMinutes(1));
        for (int[] words : new int[][] {{0x12345678}, {DaemonWire.MAGIC, 4, 'x', 'x', DaemonWire.MAX_ARGS + 1}, {DaemonWire.MAGIC, Integer.MAX_VALUE}}) {
            try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                channel.connect(UnixDomainSocketAddress.of(at.socket()));
                DataOutputStream out = new DataOutputStream(Channels.newOutputStream(channel));
                for (int w : words) {
                    out.writeInt(w);
                }
                out.flush();
                assertEquals(-1, Channels.newInputStream(channel).read(), "closed without an answer");
            }
        }
        assertEquals(OptionalInt.of(0), forward(at, new String[] {"--ca-file", "ca.crt", "--token", "t", "get", "nodes"}).exit);
    }

    @Test
    void noDaemonMeansNothingIsPrintedAndTheCallerRunsTheCommand() throws Exception {
        Output none = forward(location(), new String[] {"get", "nodes"});
        assertEquals(OptionalInt.empty(), none.exit);
        assertEquals("", none.out + none.err);
    }

    @Test
    void onlyQuickCommandsAreForwardedAndTheDaemonCanBeTurnedOff() {
        assertTrue(DaemonClient.forwardable(new String[] {"--server", "h:1", "get", "apps", "-o", "yaml"}, Map.of()));
        assertTrue(DaemonClient.forwardable(new String[] {"describe", "node", "edge-1"}, Map.of()));
        assertFalse(DaemonClient.forwardable(new String[] {"get", "apps", "-w"}, Map.of()), "a watch runs here");
        assertFalse(DaemonClient.forwardable(new String[] {"get", "apps", "--watch=true"}, Map.of()));
        assertFalse(DaemonClient.forwardable(new String[] {"apply", "-f", "-"}, Map.of()), "reads standard input");
        assertFalse(DaemonClient.forwardable(new String[] {"daemon", "status"}, Map.of()));
        assertFalse(DaemonClient.forwardable(new String[] {"--token", "t"}, Map.of()));
        assertFalse(DaemonClient.forwardable(new String[] {"get", "nodes"}, Map.of("EDGECTL_DAEMON", "off")));
    }

    @Test
    void theSocketDirectoryIsMadePrivateAndANonPrivateOneIsNotUsed() throws Exception {
        Path runtime = tmp.resolve("runtime");
        Files.createDirectory(runtime);
        Map<String, String> fresh = Map.of("XDG_RUNTIME_DIR", runtime.toString());
        DaemonClient.Location made = DaemonClient.location(fresh, "b1").orElseThrow();
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(made.dir())));

        Files.setPosixFilePermissions(made.dir(), PosixFilePermissions.fromString("rwxrwx---"));
        assertTrue(DaemonClient.location(fresh, "b1").isEmpty(), "group-writable: another user could answer for the daemon");
        Files.setPosixFilePermissions(made.dir(), PosixFilePermissions.fromString("rwx------"));
        Files.delete(made.dir());
        Files.createSymbolicLink(made.dir(), Files.createDirectory(tmp.resolve("elsewhere")));
        assertTrue(DaemonClient.location(fresh, "b1").isEmpty(), "a symbolic link is not followed");
    }

    @Test
    void aDaemonThatFailedToStartIsNotStartedAgainForAWhileUntilOneServes() throws Exception {
        DaemonClient.Location at = location();
        assertTrue(DaemonClient.startInBackground(at, "/bin/true"), "started through setsid");
        assertFalse(DaemonClient.startInBackground(at, null), "no launcher, no daemon");
        DaemonClient.startFailed(at);
        assertFalse(DaemonClient.startInBackground(at, "/bin/true"), "failed a moment ago: the command runs without one");
        start(at, Duration.ofMinutes(1));
        assertFalse(Files.exists(at.failed()), "a serving daemon clears the mark");
        assertTrue(DaemonClient.startInBackground(at, "/bin/true"));
    }

    private DaemonClient.Location location() {
        return DaemonClient.location(env, "test").orElseThrow();
    }

    private Thread start(DaemonClient.Location at, Duration idle) throws IOException {
        CommandDaemon daemon = new CommandDaemon(at, idle, quietLog());
        daemons.add(daemon);
        assertTrue(daemon.bind());
        Thread thread = new Thread(() -> {
            try {
                daemon.serve();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, "test-daemon");
        thread.start();
        serving.add(thread);
        return thread;
    }

    private Output forward(DaemonClient.Location at, String[] args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        OptionalInt exit = DaemonClient.run(at, new DaemonWire.Request(workingDir.toString(), List.of(args), env), out, err);
        return new Output(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static PrintStream quietLog() {
        return new PrintStream(java.io.OutputStream.nullOutputStream());
    }

    private record Output(OptionalInt exit, String out, String err) {}
}
