package dev.edgeplane.controlplane.sync;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ServerChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.ssl.SslHandler;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.jboss.logging.Logger;

/**
 * Bounds the TLS handshakes in progress on the agent endpoint, at accept, before any of their work.
 * A handshake is the expensive part of a connection; a herd of thousands reconnecting at once would
 * otherwise all start theirs together, all finish late (or hit the handshake timeout and start
 * over). Here at most {@code maxInProgress} connections read their ClientHello at a time; the next
 * ones wait, first come first served, without reading (so they cost only a socket); past
 * {@code maxWaiting} a new connection is closed at once, before reading anything, and the agent
 * retries after its own jittered back-off.
 *
 * <p>grpc-java has no public hook into the accepted connection's pipeline, so the gate sits in the
 * server channel: {@link #channelFactory()} makes server sockets that put a {@link Gate} handler at
 * the head of each accepted connection's pipeline. The handshake's end is the SslHandler's
 * handshake future (grpc adds the SslHandler when the connection becomes active); if no SslHandler
 * is found the gate lets the connection through and frees its slot (it never blocks a connection it
 * cannot follow).
 */
final class HandshakeGate {
    private static final Logger LOG = Logger.getLogger(HandshakeGate.class);

    private final int maxInProgress;
    private final int maxWaiting;
    private final ArrayDeque<Channel> waiting = new ArrayDeque<>();
    private int inProgress;
    private final AtomicLong closedAtAccept = new AtomicLong();
    private final AtomicLong completed = new AtomicLong();

    HandshakeGate(int maxInProgress, int maxWaiting) {
        if (maxInProgress < 1 || maxWaiting < 0) {
            throw new IllegalArgumentException("maxInProgress >= 1 and maxWaiting >= 0 required");
        }
        this.maxInProgress = maxInProgress;
        this.maxWaiting = maxWaiting;
    }

    /** For NettyServerBuilder.channelFactory (with boss and worker groups of NIO event loops). */
    io.netty.channel.ChannelFactory<ServerChannel> channelFactory() {
        return GatedServerSocketChannel::new;
    }

    synchronized int inProgress() {
        return inProgress;
    }

    synchronized int waiting() {
        return waiting.size();
    }

    long closedAtAccept() {
        return closedAtAccept.get();
    }

    long completed() {
        return completed.get();
    }

    /** On the connection's event loop, when it becomes active: true to read now, false when it waits (or was closed). */
    private boolean arrive(Channel channel) {
        synchronized (this) {
            if (inProgress < maxInProgress) {
                inProgress++;
                return true;
            }
            if (waiting.size() < maxWaiting) {
                channel.config().setAutoRead(false);
                waiting.addLast(channel);
                return false;
            }
        }
        if (closedAtAccept.incrementAndGet() % 1000 == 1) {
            LOG.warnf("agent endpoint: %d TLS handshakes in progress and %d waiting: closing new connections at accept (%d so far)",
                    maxInProgress, maxWaiting, closedAtAccept.get());
        }
        channel.close();
        return false;
    }

    /** A handshake ended (done, failed, or its connection closed): the next waiting connection starts. */
    private void finished() {
        completed.incrementAndGet();
        Channel next;
        synchronized (this) {
            while ((next = waiting.pollFirst()) != null && !next.isActive()) {
                // closed while it waited
            }
            if (next == null) {
                inProgress--;
                return;
            }
        }
        Channel start = next;
        start.eventLoop().execute(() -> {
            if (start.isActive()) {
                start.config().setAutoRead(true); // reads the ClientHello that has been waiting
            } else {
                finished();
            }
        });
    }

    private void forget(Channel channel) {
        synchronized (this) {
            waiting.remove(channel);
        }
    }

    /** At the head of an accepted connection's pipeline. */
    private final class Gate extends ChannelInboundHandlerAdapter {
        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            // grpc's handlers add the SslHandler as the connection becomes active: let that happen first.
            ctx.fireChannelActive();
            Channel channel = ctx.channel();
            SslHandler ssl = ctx.pipeline().get(SslHandler.class);
            if (ssl == null) {
                ctx.pipeline().remove(this);
                return;
            }
            boolean started = arrive(channel);
            if (!started && channel.isActive()) {
                // Waiting: its slot is handed over by finished(); if it closes while waiting, forget it.
                channel.closeFuture().addListener(f -> forget(channel));
            }
            if (started || channel.isActive()) {
                ssl.handshakeFuture().addListener(f -> {
                    if (started || channel.config().isAutoRead()) {
                        finished();
                    }
                });
            }
            ctx.pipeline().remove(this);
        }
    }

    /** A NIO server socket that puts a Gate at the head of every connection it accepts. */
    private final class GatedServerSocketChannel extends NioServerSocketChannel {
        @Override
        protected int doReadMessages(List<Object> buf) throws Exception {
            int before = buf.size();
            int accepted = super.doReadMessages(buf);
            for (int i = before; i < buf.size(); i++) {
                if (buf.get(i) instanceof Channel child) {
                    child.pipeline().addFirst(new Gate());
                }
            }
            return accepted;
        }
    }
}
