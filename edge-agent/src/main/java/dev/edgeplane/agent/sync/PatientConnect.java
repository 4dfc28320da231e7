package dev.edgeplane.agent.sync;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.epoll.EpollSocketChannel;
import java.net.SocketAddress;

/**
 * The agent's TCP connection to the control plane connects patiently: it waits out the kernel's SYN
 * retransmissions (Linux 6.x: 1 s apart four times, then doubling) until {@link #CONNECT_TIMEOUT_MILLIS},
 * instead of giving up when grpc-java's TCP_USER_TIMEOUT runs out (the keep-alive timeout, 10 s, which
 * grpc-java sets on an epoll socket before it connects).
 *
 * <p>Why: a control plane that a whole fleet reconnects to at once stops accepting while its TLS
 * handshake queue is full, and the SYNs it leaves unanswered are its way of saying "later". An agent
 * that keeps retransmitting keeps its place at no cost to either side; one that gives up after 10 s
 * pays for a new transport, a new dial and a back-off, and comes back no sooner. (At 10,000 agents,
 * half of a resume's Sync attempts ended that way, and the simulators' connection churn took CPU
 * the restarted control plane needed.)
 *
 * <p>Once connected, the user timeout grpc-java asked for applies again: a dead peer with data
 * unacknowledged is still noticed within the keep-alive timeout. A handler at the head of the
 * pipeline does this ({@link EpollSocketChannel} is final): it sees the connect go out and the
 * connection become active, then removes itself.
 */
public final class PatientConnect extends ChannelDuplexHandler {
    /**
     * How long a connect waits: past the kernel's last SYN retransmission within it. The SYNs go out at
     * 0, 1, 2, 3, 4, 6, 10 and 18 s (on older kernels 0, 1, 3, 7 and 15 s), the next at 34 s (31 s), so
     * a connect unanswered at 20 s can only time out; Netty's default of 30 s waited 12 s for nothing
     * (the last agents of a 19,000-agent resume came back that way), where a new dial sends SYNs again.
     */
    public static final int CONNECT_TIMEOUT_MILLIS = 20_000;

    private int userTimeoutOnceConnected;

    private PatientConnect() {
    }

    /** For NettyChannelBuilder.channelFactory, with an epoll event loop group. */
    public static EpollSocketChannel newChannel() {
        EpollSocketChannel channel = new EpollSocketChannel();
        channel.pipeline().addFirst(new PatientConnect());
        return channel;
    }

    @Override
    public void connect(ChannelHandlerContext ctx, SocketAddress remote, SocketAddress local, ChannelPromise promise) {
        EpollSocketChannel channel = (EpollSocketChannel) ctx.channel();
        channel.config().setConnectTimeoutMillis(CONNECT_TIMEOUT_MILLIS); // read by the connect, after any bootstrap option
        userTimeoutOnceConnected = channel.config().getTcpUserTimeout();
        if (userTimeoutOnceConnected != 0) {
            channel.config().setTcpUserTimeout(0); // the kernel's SYN retries, bounded by CONNECT_TIMEOUT_MILLIS
        }
        ctx.connect(remote, local, promise);
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        EpollSocketChannel channel = (EpollSocketChannel) ctx.channel();
        if (userTimeoutOnceConnected != 0) {
            channel.config().setTcpUserTimeout(userTimeoutOnceConnected);
        }
        ctx.pipeline().remove(this);
        ctx.fireChannelActive();
    }
}
