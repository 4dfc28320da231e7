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
import java.nio.file.Files;
import java.nio.file.Path;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
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
 * in progress (a client that connected and says nothing), one waiting unread, the next left in the
 * kernel's listen backlog (accepting paused, read from /proc/net/tcp); waiting connections that
 * waited too long are closed; the open-connection limit pauses accepting too.
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

    /** True when the server closed the connection (EOF or reset) without sending anything, within the test's wait. */
    private static boolean closedByServer(Socket socket) throws IOException {
        return closedWithin(socket, (int) WAIT.toMillis());
    }

    /** True when the server closed {@code socket} (EOF or reset) within {@code millis} (0: is it closed already). */
    private static boolean closedWithin(Socket socket, int millis) throws IOException {
        socket.setSoTimeout(Math.max(1, millis));
        try {
            return socket.getInputStream().read() == -1;
        } catch (SocketTimeoutException open) {
            return false;
        } catch (SocketException reset) {
            return true;
        }
    }

    /** A real TLS server behind {@code gate}; closed with everything it started. */
    private record GatedServer(Server server, EventLoopGroup boss, EventLoopGroup workers, SelfSignedCertificate certificate)
            implements AutoCloseable {
        static GatedServer start(HandshakeGate gate) throws Exception {
            return start(gate, 2);
        }

        static GatedServer start(HandshakeGate gate, int ioThreads) throws Exception {
            SelfSignedCertificate certificate = new SelfSignedCertificate("localhost");
            EventLoopGroup boss = new NioEventLoopGroup(1, new DefaultThreadFactory("test-accept", true));
            EventLoopGroup workers = new NioEventLoopGroup(ioThreads, new DefaultThreadFactory("test-io", true));
            Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                    .sslContext(GrpcSslContexts.forServer(certificate.certificate(), certificate.privateKey()).build())
                    .channelFactory(gate.channelFactory())
                    .bossEventLoopGroup(boss)
                    .workerEventLoopGroup(workers)
                    .withOption(io.netty.channel.ChannelOption.SO_BACKLOG, 16)
                    .handshakeTimeout(60, TimeUnit.SECONDS)
                    .addService(new AgentServiceGrpc.AgentServiceImplBase() {})
                    .build().start();
            return new GatedServer(server, boss, workers, certificate);
        }

        int port() {
            return server.getPort();
        }

        /**
         * Once the accept loop has run what was handed to it: the gate's pause (Netty hands an autoRead
         * change to the channel's loop) is in force, so a connection made after this is not accepted. (In
         * CI a third connection was once accepted between the gate's pause and its hand-over.)
         */
        void pauseApplied() throws Exception {
            boss.next().submit(() -> { }).get(WAIT.toSeconds(), TimeUnit.SECONDS);
        }

        @Override
        public void close() throws InterruptedException {
            server.shutdownNow();
            server.awaitTermination(5, TimeUnit.SECONDS);
            boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            certificate.delete();
        }
    }

    /**
     * Connections in the kernel's accept queue of the sockets listening on {@code port} (rx_queue in
     * /proc/net/tcp*), summed: on a shared machine another listener may hold the same port number in the
     * other address family, and the first line found need not be ours.
     */
    private static int listenBacklog(int port) {
        String local = String.format("%04X", port);
        int queued = 0;
        boolean listening = false;
        for (String table : new String[] {"/proc/net/tcp", "/proc/net/tcp6"}) { // Java listens on IPv6 sockets, mapped
            try {
                for (String line : Files.readAllLines(Path.of(table))) {
                    String[] f = line.trim().split("\\s+");
                    if (f.length > 4 && f[1].endsWith(":" + local) && f[3].equals("0A")) {
                        listening = true;
                        queued += Integer.parseInt(f[4].substring(f[4].indexOf(':') + 1), 16);
                    }
                }
            } catch (IOException e) {
                throw new IllegalStateException("cannot read " + table, e);
            }
        }
        if (!listening) {
            throw new IllegalStateException("nothing listens on port " + port);
        }
        return queued;
    }

    private static CompletableFuture<Void> handshakeInBackground(SSLSocket socket) {
        return CompletableFuture.runAsync(() -> {
            try {
                socket.startHandshake();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    @Test
    void pastTheWaitingRoomAcceptingPausesAndTheListenBacklogGoesNext() throws Exception {
        HandshakeGate gate = new HandshakeGate(1, 1, Duration.ofMinutes(1), Duration.ofMinutes(1), 100);
        try (GatedServer server = GatedServer.start(gate); Socket silent = new Socket("127.0.0.1", server.port())) {
            int port = server.port();
            // Connected, never sends its ClientHello: it holds the one handshake slot.
            await("the first connection's handshake in progress", () -> gate.inProgress() == 1);

            try (SSLSocket waiting = tlsClient(port)) {
                CompletableFuture<Void> second = handshakeInBackground(waiting);
                await("the second connection waits unread", () -> gate.waiting() == 1);
                assertFalse(gate.accepting(), "a full waiting room pauses accepting");
                server.pauseApplied();

                SSLSocket backlogged = tlsClient(port);
                CompletableFuture<Void> third = handshakeInBackground(backlogged);
                await("the third connection waits in the kernel's listen backlog", () -> listenBacklog(port) == 1);
                assertEquals(2, gate.openConnections(), "the third connection was not accepted");
                assertFalse(second.isDone() || third.isDone(), "no waiting handshake has been read yet");

                silent.close(); // its handshake ends (failed): the slot goes to the waiting connection
                second.get(WAIT.toSeconds(), TimeUnit.SECONDS);
                third.get(WAIT.toSeconds(), TimeUnit.SECONDS);
                assertTrue(waiting.getSession().isValid() && backlogged.getSession().isValid(), "both completed their TLS handshakes");
                await("the slots come back and accepting resumes", () -> gate.inProgress() == 0 && gate.waiting() == 0 && gate.accepting());
                assertTrue(gate.acceptPauses() >= 1, "accepting was paused");
                assertEquals(0, gate.expired(), "nobody waited too long");
                backlogged.close();
            }
        }
    }

    @Test
    void connectionsCountFromAcceptSoABusyEventLoopDoesNotDrainTheListenBacklog() throws Exception {
        HandshakeGate gate = new HandshakeGate(1, 1, Duration.ofMinutes(1), Duration.ofMinutes(1), 100);
        try (GatedServer server = GatedServer.start(gate, 1)) {
            int port = server.port();
            // The one connection event loop is busy: accepted connections cannot become active yet.
            CountDownLatch busy = new CountDownLatch(1);
            server.workers().next().execute(() -> {
                try {
                    busy.await(WAIT.toSeconds(), TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            List<Socket> clients = new ArrayList<>();
            try {
                for (int i = 0; i < 5; i++) {
                    clients.add(new Socket("127.0.0.1", port)); // the kernel completes the connection either way
                }
                await("three connections wait in the kernel's listen backlog", () -> listenBacklog(port) == 3);
                assertEquals(2, gate.openConnections(), "one for the slot and one for the waiting room were accepted");
                assertFalse(gate.accepting(), "arrivals not yet active fill the waiting room");
                assertEquals(0, gate.inProgress() + gate.waiting(), "none became active yet");

                busy.countDown();
                await("the arrivals take the slot and the waiting room", () -> gate.inProgress() == 1 && gate.waiting() == 1);
                assertEquals(3, listenBacklog(port), "the rest still wait in the kernel");
            } finally {
                busy.countDown();
                for (Socket client : clients) {
                    client.close();
                }
            }
            await("every connection gone, accepting again", () -> gate.openConnections() == 0 && gate.accepting()
                    && gate.inProgress() == 0 && gate.waiting() == 0);
        }
    }

    @Test
    void aHandshakeThatHoldsItsSlotTooLongGivesItUpAndTheNextOneStarts() throws Exception {
        HandshakeGate gate = new HandshakeGate(1, 10, Duration.ofMinutes(1), Duration.ofMillis(300), 100);
        try (GatedServer server = GatedServer.start(gate); Socket silent = new Socket("127.0.0.1", server.port())) {
            // Connected, never sends its ClientHello: after 300 ms its slot goes to the next connection.
            await("the silent connection's handshake in progress", () -> gate.inProgress() == 1);
            try (SSLSocket next = tlsClient(server.port())) {
                next.startHandshake();
                assertTrue(next.getSession().isValid(), "served while the silent connection is still open");
                assertFalse(closedWithin(silent, 0), "the silent connection itself goes on");
                // (the next one's own handshake may outlast 300 ms on a loaded machine: then it gave its slot up too)
                await("the silent one's slot given up, the next one's back", () -> gate.stalled() >= 1 && gate.inProgress() == 0);
            }
            silent.close();
            await("the silent connection's end gives back nothing more", () -> gate.openConnections() == 0);
            assertEquals(0, gate.inProgress(), "no slot given back twice");
            assertEquals(0, gate.expired());
        }
    }

    @Test
    void aConnectionThatWaitedPastTheLimitIsClosedInsteadOfStarted() throws Exception {
        HandshakeGate gate = new HandshakeGate(1, 10, Duration.ofMillis(600), Duration.ofMinutes(1), 100);
        try (GatedServer server = GatedServer.start(gate); Socket silent = new Socket("127.0.0.1", server.port())) {
            await("the first connection's handshake in progress", () -> gate.inProgress() == 1);
            try (Socket late = new Socket("127.0.0.1", server.port())) {
                await("the second connection waits", () -> gate.waiting() == 1);
                assertTrue(closedByServer(late), "a connection that waited past max-handshake-wait is closed");
                assertEquals(1, gate.expired());
                assertEquals(1, gate.acceptPauses(), "with no handshake rate measured yet, one waiting connection fills the room");
                await("accepting resumes with nobody waiting", gate::accepting);
            }
            silent.close();
            await("the slot comes back", () -> gate.inProgress() == 0);
            try (SSLSocket fresh = tlsClient(server.port())) {
                fresh.startHandshake();
                assertTrue(fresh.getSession().isValid(), "a new connection is served at once");
            }
        }
    }

    @Test
    void atTheConnectionLimitAcceptingPausesUntilOneCloses() throws Exception {
        HandshakeGate gate = new HandshakeGate(4, 10, Duration.ofMinutes(1), Duration.ofMinutes(1), 2);
        try (GatedServer server = GatedServer.start(gate)) {
            int port = server.port();
            try (SSLSocket first = tlsClient(port); SSLSocket second = tlsClient(port)) {
                first.startHandshake();
                second.startHandshake();
                await("accepting paused at two open connections", () -> gate.openConnections() == 2 && !gate.accepting());
                server.pauseApplied();
                try (SSLSocket third = tlsClient(port)) {
                    CompletableFuture<Void> handshake = handshakeInBackground(third);
                    await("the third connection waits in the listen backlog", () -> listenBacklog(port) == 1);
                    first.close();
                    handshake.get(WAIT.toSeconds(), TimeUnit.SECONDS);
                    assertTrue(third.getSession().isValid(), "accepted and served once a connection closed");
                    assertEquals(0, listenBacklog(port));
                    await("two connections open again", () -> gate.openConnections() == 2);
                }
            }
        }
    }

    @Test
    void theWaitingRoomHoldsHalfOfTheWaitLimitOfHandshakesAtTheMeasuredRate() throws Exception {
        HandshakeGate gate = new HandshakeGate(2, 1000, Duration.ofSeconds(10), Duration.ofMinutes(1), 1000);
        assertEquals(2, gate.waitingRoom(), "no rate measured: one round of slots");
        try (GatedServer server = GatedServer.start(gate)) {
            for (int i = 0; i < 40; i++) {
                try (SSLSocket client = tlsClient(server.port())) {
                    client.startHandshake();
                }
            }
            // 40 handshakes in a few seconds: the room (the measured rate x 5 s) soon exceeds one round of slots.
            await("the room grows with the measured rate", () -> gate.waitingRoom() > 2);
            assertTrue(gate.waitingRoom() <= 1000, "never past max-waiting-handshakes");
        }
    }

    @Test
    void theConnectionLimitIsTheFileLimitLessTheReserve() {
        assertEquals(19_488, HandshakeGate.connectionsWithin(20_000, 512));
        assertEquals(1, HandshakeGate.connectionsWithin(100, 512));
        assertEquals(Integer.MAX_VALUE, HandshakeGate.connectionsWithin(Long.MAX_VALUE, 512));
    }

    // The decision to accept, alone (room 100: a newcomer at the back would wait half of max-handshake-wait).

    @Test
    void acceptingPausesWhenTheWaitingRoomIsFull() {
        assertTrue(HandshakeGate.nextAccepting(true, 99, 100, false, false));
        assertFalse(HandshakeGate.nextAccepting(true, 100, 100, false, false));
    }

    @Test
    void aPausedGateResumesAtHalfTheRoomHoweverLongItsOldestWaited() {
        // After a pause nobody joins, so the head only ages as the queue drains: its age must not hold the gate shut.
        assertFalse(HandshakeGate.nextAccepting(false, 51, 100, false, true));
        assertTrue(HandshakeGate.nextAccepting(false, 50, 100, false, true));
        assertTrue(HandshakeGate.nextAccepting(false, 0, 100, false, false));
    }

    @Test
    void anOldHeadPausesAcceptingOnlyWithTheQueuePastHalfTheRoom() {
        assertTrue(HandshakeGate.nextAccepting(true, 50, 100, false, true), "a short queue with an old head: handshakes catch up");
        assertFalse(HandshakeGate.nextAccepting(true, 51, 100, false, true), "handshakes end slower than measured");
        assertTrue(HandshakeGate.nextAccepting(true, 51, 100, false, false));
    }

    @Test
    void spentDescriptorsPauseAcceptingAndHoldItPaused() {
        assertFalse(HandshakeGate.nextAccepting(true, 0, 100, true, false));
        assertFalse(HandshakeGate.nextAccepting(false, 0, 100, true, false));
        assertTrue(HandshakeGate.nextAccepting(false, 0, 100, false, false));
    }
}
