package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.SwappableKeyManager;
import dev.edgeplane.api.TlsSessionCaches;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.JoinRequest;
import dev.edgeplane.api.v1.JoinResponse;
import dev.edgeplane.controlplane.join.CertificateAuthority;
import dev.edgeplane.testkit.FreePorts;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.handler.ssl.OpenSslSessionContext;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.net.InetSocketAddress;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * TLS session resumption on the agent endpoint as built (BoringSSL, its ticket keys from
 * {@link SessionTickets}), with a client as the agent makes it (the JDK's TLS, its node certificate):
 * a restarted endpoint holding the same secret resumes the agent's session, with its certificate; the
 * certificate of a resumed session is checked again at its first call; an agent that forgets its
 * sessions makes a full handshake.
 */
class SessionResumptionTest {
    private static final CertificateAuthority CA = CertificateAuthority.generate();
    private static final Duration ROTATION = Duration.ofHours(24);

    private final int port = FreePorts.next();
    private final List<Server> servers = new ArrayList<>();
    private final List<ManagedChannel> channels = new ArrayList<>();
    /** The client certificate the last call's session carried. */
    private final AtomicReference<X509Certificate> presented = new AtomicReference<>();
    /** The node the last call's session named. */
    private final AtomicReference<PeerCertificates.NodePeer> node = new AtomicReference<>();

    @AfterEach
    void stop() throws Exception {
        for (ManagedChannel channel : channels) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        for (Server server : servers) {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aRestartedEndpointWithTheSameSecretResumesTheAgentsSessionWithItsCertificate() throws Exception {
        byte[] secret = secret(1);
        Agent agent = agent(Duration.ofDays(1));

        OpenSslSessionContext first = endpoint(secret);
        call(agent);
        assertEquals(agent.certificate(), presented.get());
        assertEquals(0, first.stats().ticketKeyResume(), "the first handshake is a full one");
        restart();

        OpenSslSessionContext second = endpoint(secret);
        call(agent);
        assertEquals(1, second.stats().ticketKeyResume(), "the new process resumed the session from the agent's ticket");
        assertEquals(agent.certificate(), presented.get(), "a resumed session carries the agent's certificate");
    }

    @Test
    void theNodeOfAConnectionIsWorkedOutAtItsFirstCallAndKeptForTheNext() throws Exception {
        Agent agent = agent(Duration.ofDays(1));
        endpoint(secret(1));
        ManagedChannel connection = channel(agent);
        call(connection);
        PeerCertificates.NodePeer first = node.get();
        assertEquals(new PeerCertificates.NodePeer("edge-1", CertificateAuthority.hashOf(agent.certificate())), first);
        call(connection);
        assertSame(first, node.get(), "the second call on the connection reads the node its first call worked out");

        call(agent); // another connection, resuming the session
        assertEquals(first, node.get());
    }

    @Test
    void anEndpointWithAnotherSecretMakesAFullHandshake() throws Exception {
        Agent agent = agent(Duration.ofDays(1));
        connectOnceThenRestart(secret(1), agent);

        OpenSslSessionContext other = endpoint(secret(2));
        call(agent);
        assertEquals(0, other.stats().ticketKeyResume());
        assertEquals(agent.certificate(), presented.get());
    }

    @Test
    void aResumedSessionWhoseCertificateExpiredSinceIsRefused() throws Exception {
        byte[] secret = secret(1);
        endpoint(secret);
        // A first handshake with another agent runs the cold paths (on a loaded machine they took over two
        // seconds: the short-lived certificate expired before its own first handshake).
        call(agent(Duration.ofDays(1)));
        Agent agent = agent(Duration.ofSeconds(3));
        call(agent);
        restart();
        Instant expiry = agent.certificate().getNotAfter().toInstant();
        while (!Instant.now().isAfter(expiry.plusMillis(500))) {
            Thread.sleep(100);
        }

        OpenSslSessionContext second = endpoint(secret);
        presented.set(null);
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> call(agent));
        assertEquals(1, second.stats().ticketKeyResume(), "the session was resumed: the handshake checked no certificate");
        assertEquals(Status.Code.UNAUTHENTICATED, refused.getStatus().getCode());
        assertTrue(refused.getStatus().getDescription().contains("not accepted"), refused.getStatus().getDescription());
        assertEquals(null, presented.get(), "no call reached the service");
    }

    @Test
    void anAgentThatForgetsItsSessionsMakesAFullHandshake() throws Exception {
        byte[] secret = secret(1);
        Agent agent = agent(Duration.ofDays(1));
        connectOnceThenRestart(secret, agent);

        assertTrue(TlsSessionCaches.forget(agent.tls().sessionContext()) >= 1, "the agent held a session to forget");
        OpenSslSessionContext second = endpoint(secret);
        call(agent);
        assertEquals(0, second.stats().ticketKeyResume());
    }

    private static byte[] secret(int fill) {
        byte[] secret = new byte[SessionTickets.SECRET_BYTES];
        java.util.Arrays.fill(secret, (byte) fill);
        return secret;
    }

    /** A node certificate valid for {@code validity} and a client context as the agent builds one (JDK TLS). */
    private record Agent(X509Certificate certificate, SslContext tls) {}

    private static Agent agent(Duration validity) throws Exception {
        TestAgent keys = new TestAgent("edge-1");
        X509Certificate certificate = CA.signNodeCsr(keys.csrPem(), "edge-1", Instant.now(), validity);
        SwappableKeyManager identity = new SwappableKeyManager(
                new SwappableKeyManager.Identity(keys.key.getPrivate(), new X509Certificate[] {certificate}));
        SslContext tls = GrpcSslContexts.configure(SslContextBuilder.forClient(), SslProvider.JDK)
                .keyManager(identity.asFactory())
                .trustManager(CA.certificate())
                .build();
        return new Agent(certificate, tls);
    }

    /** The endpoint's TLS as AgentEndpoint builds it, on the same port each time (as a restarted process). */
    private OpenSslSessionContext endpoint(byte[] secret) throws Exception {
        CertificateAuthority.ServerIdentity issued = CA.issueServerCertificate(Set.of("127.0.0.1"), Instant.now(), Duration.ofHours(1));
        SwappableKeyManager identity = new SwappableKeyManager(
                new SwappableKeyManager.Identity(issued.key(), new X509Certificate[] {issued.certificate(), CA.certificate()}));
        var nodes = CA.nodeTrustManager(node -> null);
        SslContext ssl = AgentEndpoint.serverTls(identity, SslProvider.OPENSSL, nodes);
        OpenSslSessionContext sessions = (OpenSslSessionContext) ssl.sessionContext();
        sessions.setTicketKeys(SessionTickets.keysAt(secret, Instant.now(), ROTATION));
        AgentServiceGrpc.AgentServiceImplBase service = new AgentServiceGrpc.AgentServiceImplBase() {
            @Override
            public void join(JoinRequest request, StreamObserver<JoinResponse> responseObserver) {
                presented.set(PeerCertificates.CLIENT_CERTIFICATE.get());
                node.set(PeerCertificates.NODE_PEER.get());
                responseObserver.onNext(JoinResponse.getDefaultInstance());
                responseObserver.onCompleted();
            }
        };
        servers.add(NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
                .sslContext(ssl)
                .addService(ServerInterceptors.intercept(service, PeerCertificates.interceptor(nodes)))
                .build().start());
        return sessions;
    }

    /** The agent's first connection (a full handshake, and a ticket) to an endpoint holding {@code secret}, which then stops. */
    private void connectOnceThenRestart(byte[] secret, Agent agent) throws Exception {
        endpoint(secret);
        call(agent);
        restart();
    }

    /** Stops the endpoint and the agent's connections (the agent keeps its TLS context, and so its sessions). */
    private void restart() throws Exception {
        stop();
        channels.clear();
        servers.clear();
    }

    /** One call on a new connection. */
    private void call(Agent agent) {
        call(channel(agent));
    }

    private ManagedChannel channel(Agent agent) {
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port).sslContext(agent.tls()).build();
        channels.add(channel);
        return channel;
    }

    private static void call(ManagedChannel channel) {
        AgentServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS).join(JoinRequest.getDefaultInstance());
    }
}
