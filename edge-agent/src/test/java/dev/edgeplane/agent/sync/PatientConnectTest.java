package dev.edgeplane.agent.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollSocketChannel;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Against a real listening socket whose accept queue is full, so that the kernel drops the SYNs
 * (what the control plane's endpoint does while its handshake queue is full): a plain epoll socket
 * with grpc-java's TCP_USER_TIMEOUT gives up when it runs out; a patient one keeps retransmitting and
 * connects once the listener accepts again, with the user timeout back in force.
 */
class PatientConnectTest {
    /** What grpc-java sets from the keep-alive timeout; short, so that the plain socket fails fast. */
    private static final int USER_TIMEOUT_MS = 500;

    private final EpollEventLoopGroup group = new EpollEventLoopGroup(1);
    private ServerSocket listener;
    private final List<Socket> queued = new ArrayList<>();

    @BeforeEach
    void fullListener() throws IOException {
        listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        // Never accepted: the accept queue (backlog + 1) fills, and later SYNs are dropped.
        for (int i = 0; i < 8; i++) {
            Socket s = new Socket();
            queued.add(s);
            try {
                s.connect(listener.getLocalSocketAddress(), 300);
            } catch (SocketTimeoutException full) {
                return;
            }
        }
        throw new IllegalStateException("the listener's accept queue never filled");
    }

    @AfterEach
    void close() throws IOException {
        listener.close();
        synchronized (queued) {
            for (Socket s : queued) {
                s.close();
            }
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @Test
    void aPlainSocketGivesUpWhenTheUserTimeoutRunsOut() throws Exception {
        ChannelFuture connect = connect(EpollSocketChannel::new);
        assertTrue(connect.await(10, TimeUnit.SECONDS), "the connect ended");
        assertFalse(connect.isSuccess());
        assertTrue(String.valueOf(connect.cause()).contains("timed out"), String.valueOf(connect.cause()));
    }

    @Test
    void aPatientSocketWaitsOutTheUnansweredSynsAndConnectsWhenTheListenerAcceptsAgain() throws Exception {
        ChannelFuture connect = connect(PatientConnect::newChannel);
        assertFalse(connect.await(3 * USER_TIMEOUT_MS, TimeUnit.MILLISECONDS), "still connecting past the user timeout");
        assertEquals(0, ((EpollSocketChannel) connect.channel()).config().getTcpUserTimeout(), "no user timeout while connecting");
        assertEquals(PatientConnect.CONNECT_TIMEOUT_MILLIS, connect.channel().config().getConnectTimeoutMillis(),
                "gives up soon after the kernel's last SYN within it, not at Netty's 30 s");

        drainAcceptQueue();
        assertTrue(connect.await(20, TimeUnit.SECONDS), "connected at a SYN retransmission");
        assertTrue(connect.isSuccess(), String.valueOf(connect.cause()));
        EpollSocketChannel channel = (EpollSocketChannel) connect.channel();
        channel.eventLoop().submit(() -> { }).sync(); // channelActive has run
        assertEquals(USER_TIMEOUT_MS, channel.config().getTcpUserTimeout(), "the user timeout applies once connected");
        assertNull(channel.pipeline().get(PatientConnect.class), "the handler removed itself");
        channel.close().sync();
    }

    /** Accepts from now on (on its own thread, until the listener closes): the queue has room again. */
    private void drainAcceptQueue() {
        Thread accepting = new Thread(() -> {
            while (!listener.isClosed()) {
                try {
                    Socket accepted = listener.accept();
                    synchronized (queued) {
                        queued.add(accepted);
                    }
                } catch (IOException closed) {
                    return;
                }
            }
        }, "accepting");
        accepting.setDaemon(true);
        accepting.start();
    }

    /** Connects as grpc-java does: the user timeout set on the registered channel, then connect. */
    private ChannelFuture connect(Supplier<EpollSocketChannel> channels) throws InterruptedException {
        Bootstrap bootstrap = new Bootstrap().group(group).channelFactory(channels::get)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 30_000)
                .handler(new ChannelInboundHandlerAdapter());
        ChannelFuture registered = bootstrap.register().sync();
        ((EpollSocketChannel) registered.channel()).config().setTcpUserTimeout(USER_TIMEOUT_MS);
        return registered.channel().connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), listener.getLocalPort()));
    }
}
