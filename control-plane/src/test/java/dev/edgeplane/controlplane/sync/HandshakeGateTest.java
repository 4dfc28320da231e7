package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.Server;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.handler.ssl.util.SelfSignedCertificate;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.Test;

/**
 * The accept-time gate of TLS handshakes, saturated, on a real grpc-java TLS server: one handshake
 * in progress (a client that connected and says nothing), one waiting unread, the next closed at
 * accept before anything is read; when the first ends, the waiting one is let through and finishes
 * its handshake.
 */
class HandshakeGateTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    private static void await(String what, BooleanSupplier condition) {
        TestApi.await(what, WAIT, condition);
    }

    private static SSLSocket tlsClient(int port) throws Exception {
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, new TrustManager[] {new X509TrustManager() {
            @Override public void checkClientTrusted(X509Certificate[] chain, String authType) {}
            @Override public void checkServerTrusted(X509Certificate[] chain, String authType) {}
            @Override public X509Certificate[] getAcceptedIssuers() {
                return new X509Certificate[0];
            }
        }}, null);
        SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", port);
        SSLParameters parameters = socket.getSSLParameters();
        parameters.setApplicationProtocols(new String[] {"h2"});
        socket.setSSLParameters(parameters);
        socket.setSoTimeout((int) WAIT.toMillis());
        return socket;
    }

    /** True when the server closed the connection (EOF or reset) without sending anything. */
    private static boolean closedByServer(Socket socket) throws IOException {
        socket.setSoTimeout((int) WAIT.toMillis());
        InputStream in = socket.getInputStream();
        try {
            return in.read() == -1;
        } catch (SocketException reset) {
            return true;
        }
    }

    @Test
    void pastTheHandshakesInProgressAndWaitingNewConnectionsAreClosedAtAcceptAndTheWaitingOneGoesNext() throws Exception {
        SelfSignedCertificate certificate = new SelfSignedCertificate("localhost");
        HandshakeGate gate = new HandshakeGate(1, 1);
        EventLoopGroup boss = new NioEventLoopGroup(1, new DefaultThreadFactory("test-accept", true));
        EventLoopGroup workers = new NioEventLoopGroup(2, new DefaultThreadFactory("test-io", true));
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .sslContext(GrpcSslContexts.forServer(certificate.certificate(), certificate.privateKey()).build())
                .channelFactory(gate.channelFactory())
                .bossEventLoopGroup(boss)
                .workerEventLoopGroup(workers)
                .handshakeTimeout(60, TimeUnit.SECONDS)
                .addService(new AgentServiceGrpc.AgentServiceImplBase() {})
                .build().start();
        int port = server.getPort();
        try (Socket silent = new Socket("127.0.0.1", port)) {
            // Connected, never sends its ClientHello: it holds the one handshake slot.
            await("the first connection's handshake in progress", () -> gate.inProgress() == 1);

            try (SSLSocket waiting = tlsClient(port)) {
                CompletableFuture<Void> handshake = CompletableFuture.runAsync(() -> {
                    try {
                        waiting.startHandshake();
                    } catch (IOException e) {
                        throw new IllegalStateException(e);
                    }
                });
                await("the second connection waits unread", () -> gate.waiting() == 1);

                try (Socket third = new Socket("127.0.0.1", port)) {
                    assertTrue(closedByServer(third), "a connection past the waiting room is closed at once");
                    assertEquals(1, gate.closedAtAccept());
                }
                assertFalse(handshake.isDone(), "the waiting handshake has not been read yet");

                silent.close(); // its handshake ends (failed): the slot goes to the waiting connection
                handshake.get(WAIT.toSeconds(), TimeUnit.SECONDS);
                assertTrue(waiting.getSession().isValid(), "the waiting connection completed its TLS handshake");
                await("the slots come back", () -> gate.inProgress() == 0 && gate.waiting() == 0);
                assertTrue(gate.completed() >= 2, "both handshakes ended: " + gate.completed());
            }

            // Free again: a new connection starts its handshake at once.
            try (SSLSocket again = tlsClient(port)) {
                again.startHandshake();
                assertEquals(1, gate.closedAtAccept(), "nothing more closed at accept");
            }
        } finally {
            server.shutdownNow();
            server.awaitTermination(5, TimeUnit.SECONDS);
            boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            certificate.delete();
        }
    }
}
