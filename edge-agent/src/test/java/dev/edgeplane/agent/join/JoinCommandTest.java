package dev.edgeplane.agent.join;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.TestPki;
import dev.edgeplane.agent.cli.EdgeAgent;
import dev.edgeplane.agent.identity.CaPin;
import dev.edgeplane.agent.identity.Pem;
import dev.edgeplane.agent.identity.StateDir;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.JoinRequest;
import dev.edgeplane.api.v1.JoinResponse;
import dev.edgeplane.testkit.FreePorts;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.X509Certificate;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `edge-agent join` exit codes and state dir, against an in-test AgentService over real TLS. */
class JoinCommandTest {
    private static final String GOOD_TOKEN = "abc123.0123456789abcdef";
    private static final TestPki PKI = new TestPki("test-ca");
    private static final Map<String, JoinRequest> JOINED = new ConcurrentHashMap<>();
    private static Server server;
    private static int port;

    @TempDir
    Path tmp;

    @BeforeAll
    static void startServer() throws Exception {
        TestPki.Issued serving = PKI.server();
        port = FreePorts.next();
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
                .sslContext(GrpcSslContexts.configure(SslContextBuilder.forServer(serving.keys().getPrivate(), serving.certificate(), PKI.ca())).build())
                .addService(new AgentServiceGrpc.AgentServiceImplBase() {
                    @Override
                    public void join(JoinRequest request, StreamObserver<JoinResponse> response) {
                        if (!request.getToken().equals(GOOD_TOKEN)) {
                            response.onError(Status.UNAUTHENTICATED.withDescription("unknown token").asRuntimeException());
                            return;
                        }
                        JOINED.put(request.getNodeName(), request);
                        X509Certificate certificate = PKI.signCsr(request.getCsrPem());
                        response.onNext(JoinResponse.newBuilder()
                                .setNodeName(request.getNodeName())
                                .setCertificatePem(Pem.encode(certificate))
                                .setCaBundlePem(PKI.caPem())
                                .setSyncEndpoint("127.0.0.1:" + port)
                                .build());
                        response.onCompleted();
                    }
                })
                .build()
                .start();
    }

    @AfterAll
    static void stopServer() throws InterruptedException {
        server.shutdownNow();
        server.awaitTermination(5, TimeUnit.SECONDS);
    }

    private record Run(int code, String out, String err) {}

    private Run join(String... extra) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        String[] args = new String[extra.length + 1];
        args[0] = "join";
        System.arraycopy(extra, 0, args, 1, extra.length);
        int code = EdgeAgent.execute(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Run(code, out.toString(), err.toString());
    }

    private String caHash() {
        return CaPin.hashOf(PKI.ca());
    }

    @Test
    void goodTokenWritesTheStateDir() throws Exception {
        Path state = tmp.resolve("state");
        Run run = join("--server", "127.0.0.1:" + port, "--token", GOOD_TOKEN, "--ca-hash", caHash(),
                "--name", "edge-1", "--label", "agent.edgeplane.dev/site=shop-7", "--state-dir", state.toString());
        assertEquals(0, run.code(), run.err());
        assertTrue(run.out().contains("joined as node edge-1"), run.out());

        StateDir dir = new StateDir(state);
        assertTrue(dir.joined());
        assertEquals("edge-1", dir.readNode().name());
        assertEquals("127.0.0.1:" + port, dir.readNode().syncEndpoint());
        assertEquals(PosixFilePermissions.fromString("rw-------"), Files.getPosixFilePermissions(dir.nodeKey()));
        X509Certificate certificate = Pem.certificates(Files.readString(dir.nodeCertificate())).get(0);
        assertEquals(Pem.privateKey(Files.readString(dir.nodeKey())).getAlgorithm(), "EC");
        assertTrue(certificate.getSubjectX500Principal().getName().contains("CN=edge-1"));
        certificate.verify(PKI.ca().getPublicKey());
        assertEquals("shop-7", JOINED.get("edge-1").getLabelsMap().get("agent.edgeplane.dev/site"));

        // Joining again over an existing identity is refused without --force, allowed with it.
        Run again = join("--server", "127.0.0.1:" + port, "--token", GOOD_TOKEN, "--ca-hash", caHash(),
                "--name", "edge-1", "--state-dir", state.toString());
        assertEquals(1, again.code());
        assertTrue(again.err().contains("--force"), again.err());
        Run forced = join("--server", "127.0.0.1:" + port, "--token", GOOD_TOKEN, "--ca-hash", caHash(),
                "--name", "edge-1", "--state-dir", state.toString(), "--force");
        assertEquals(0, forced.code(), forced.err());
    }

    @Test
    void refusedTokenExits3WithTheServersReason() {
        Path state = tmp.resolve("state");
        Run run = join("--server", "127.0.0.1:" + port, "--token", "abc123.wrongwrongwrong", "--ca-hash", caHash(),
                "--name", "edge-2", "--state-dir", state.toString());
        assertEquals(3, run.code(), run.err());
        assertTrue(run.err().contains("unknown token"), run.err());
        assertFalse(new StateDir(state).joined());
    }

    @Test
    void caHashMismatchExits4() {
        Path state = tmp.resolve("state");
        String otherHash = CaPin.hashOf(new TestPki("another-ca").ca());
        Run run = join("--server", "127.0.0.1:" + port, "--token", GOOD_TOKEN, "--ca-hash", otherHash,
                "--name", "edge-3", "--state-dir", state.toString());
        assertEquals(4, run.code(), run.err());
        assertTrue(run.err().contains("does not match --ca-hash"), run.err());
        assertFalse(JOINED.containsKey("edge-3"), "the token must never reach an unpinned server");
        assertFalse(new StateDir(state).joined());
    }

    /** A control plane impostor: serves {@code presented} (chained to {@code bundle}), records any token it gets. */
    private static Server impostor(int at, TestPki.Issued presented, Map<String, JoinRequest> seen, String bundlePem) throws Exception {
        return NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", at))
                .sslContext(GrpcSslContexts.configure(SslContextBuilder.forServer(presented.keys().getPrivate(), presented.certificate(),
                        PKI.ca())).build())
                .addService(new AgentServiceGrpc.AgentServiceImplBase() {
                    @Override
                    public void join(JoinRequest request, StreamObserver<JoinResponse> response) {
                        seen.put(request.getNodeName(), request);
                        response.onNext(JoinResponse.newBuilder().setNodeName(request.getNodeName())
                                .setCertificatePem(Pem.encode(PKI.signCsr(request.getCsrPem()))).setCaBundlePem(bundlePem)
                                .setSyncEndpoint("127.0.0.1:" + at).build());
                        response.onCompleted();
                    }
                }).build().start();
    }

    @Test
    void aStolenNodeCertificateOrOneForAnotherNameCannotPoseAsTheControlPlane() throws Exception {
        Map<String, JoinRequest> seen = new ConcurrentHashMap<>();
        for (TestPki.Issued presented : java.util.List.of(PKI.node("edge-9"), PKI.server("cp.example.com"))) {
            int at = FreePorts.next();
            Server fake = impostor(at, presented, seen, PKI.caPem());
            try {
                Run run = join("--server", "127.0.0.1:" + at, "--token", GOOD_TOKEN, "--ca-hash", caHash(),
                        "--name", "edge-5", "--state-dir", tmp.resolve("state").toString());
                assertEquals(4, run.code(), run.err());
                assertTrue(run.err().contains("not for server authentication") || run.err().contains("is for [cp.example.com]"), run.err());
            } finally {
                fake.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
        assertTrue(seen.isEmpty(), "the token never reached either");
        assertFalse(new StateDir(tmp.resolve("state")).joined());
    }

    @Test
    void onlyThePinnedCaIsKeptAsATrustAnchor() throws Exception {
        int at = FreePorts.next();
        String extra = new TestPki("smuggled-ca").caPem();
        Server server = impostor(at, PKI.server(), new ConcurrentHashMap<>(), extra + PKI.caPem());
        try {
            Path state = tmp.resolve("state");
            Run run = join("--server", "127.0.0.1:" + at, "--token", GOOD_TOKEN, "--ca-hash", caHash(),
                    "--name", "edge-6", "--state-dir", state.toString());
            assertEquals(0, run.code(), run.err());
            var anchors = Pem.certificates(Files.readString(new StateDir(state).caBundle()));
            assertEquals(java.util.List.of(PKI.ca()), anchors, "the smuggled CA is not trusted");
        } finally {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void nothingListeningExits5() {
        Run run = join("--server", "127.0.0.1:" + FreePorts.next(), "--token", GOOD_TOKEN, "--ca-hash", caHash(),
                "--name", "edge-4", "--state-dir", tmp.resolve("state").toString());
        assertEquals(5, run.code(), run.err());
        assertTrue(run.err().contains("cannot reach"), run.err());
    }

    @Test
    void badArgumentsExit2() {
        assertEquals(2, join("--server", "127.0.0.1:1", "--token", GOOD_TOKEN, "--ca-hash", "md5:abc").code());
        assertEquals(2, join("--server", "127.0.0.1:1", "--token", "no-dot", "--ca-hash", caHash()).code());
        assertEquals(2, join("--token", GOOD_TOKEN).code());
    }
}
