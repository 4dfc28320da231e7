package dev.edgeplane.controlplane.sync;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ServerChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.jboss.logging.Logger;

/**
 * Bounds the TLS handshakes in progress on the agent endpoint, at accept, before any of their work.
 * A handshake is the expensive part of a connection; a herd of thousands reconnecting at once would
 * otherwise all start theirs together, all finish late (or hit the handshake timeout and start
 * over).
 *
 * <p>At most {@code maxInProgress} connections read their ClientHello at a time; the next ones wait,
 * first come first served, without reading (a socket each, no CPU). When that queue holds half of
 * {@code maxWait} of work (as many connections as handshakes end in that time at the measured rate,
 * at most {@code maxWaiting}; or its oldest waited that long), or the process holds
 * {@code maxConnections} accepted connections (its file descriptors), the gate stops accepting: new connections wait in the kernel's listen backlog and,
 * past it, their SYNs go unanswered and the clients' TCP retransmits them (1 s, 3 s, 7 s...). That
 * is the cheapest refusal there is: no descriptor, no channel, no failed call for the agent to
 * retry at once. (Closing at accept, as this gate first did, made every refused agent dial again
 * after its short back-off: 19,000 agents made ~3,600 connections a second that cost more CPU than
 * the handshakes they displaced.) Accepting resumes when the queue is back to half the room ({@link #nextAccepting}).
 *
 * <p>A connection that waited longer than {@code maxWait} when its turn comes is closed instead of
 * started: its client's own handshake timeout (10 s in Netty) would likely end it half-way, after
 * the server had paid for the handshake. Waiting connections their clients closed are skipped.
 *
 * <p>A connection counts from the moment the accept loop takes it, not from when its own event loop
 * makes it active: on a busy machine that takes a while, and the accept loop would otherwise empty
 * the kernel's whole listen backlog into a waiting room that is already full.
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

    private record Waiting(Channel channel, Gate gate, long sinceNanos) {}

    private final int maxInProgress;
    private final int maxWaiting;
    private final long maxWaitNanos;
    private final long maxSlotHoldNanos;
    private final int maxConnections;
    private final ArrayDeque<Waiting> waiting = new ArrayDeque<>();
    private int inProgress;
    /**
     * Accepted connections their event loops have not made active yet: they join the queue (or take a
     * slot) in a moment, so accepting counts them now. Counting only at activation let a busy machine's
     * accept loop drain the whole listen backlog into an already full waiting room.
     */
    private int arriving;
    private boolean accepting = true;
    private ServerChannel server;
    private final AtomicInteger open = new AtomicInteger();
    private final Runnable backlog;
    private final AtomicLong expired = new AtomicLong();
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong acceptPauses = new AtomicLong();
    private final AtomicLong stalled = new AtomicLong();
    /** Handshakes ended per second (moving average, updated by the sweep): what sizes the queue. */
    private double rate;
    private long rateCompleted;
    private long rateNanos = System.nanoTime();
    private long sweeps;

    HandshakeGate(int maxInProgress, int maxWaiting, Duration maxWait, Duration maxSlotHold, int maxConnections) {
        this(maxInProgress, maxWaiting, maxWait, maxSlotHold, maxConnections, () -> {});
    }

    /**
     * @param maxSlotHold a handshake that has not ended this long after it got its slot gives the slot up
     *                    (it goes on, outside the count)
     * @param backlog     run by the sweep (four times a second) while connections wait or accepting is paused
     */
    HandshakeGate(int maxInProgress, int maxWaiting, Duration maxWait, Duration maxSlotHold, int maxConnections, Runnable backlog) {
        this.backlog = backlog;
        if (maxInProgress < 1 || maxWaiting < 1 || maxConnections < 1 || maxWait.isNegative() || maxWait.isZero()
                || maxSlotHold.isNegative() || maxSlotHold.isZero()) {
            throw new IllegalArgumentException("maxInProgress, maxWaiting, maxConnections, maxWait and maxSlotHold must be positive");
        }
        this.maxInProgress = maxInProgress;
        this.maxWaiting = maxWaiting;
        this.maxWaitNanos = maxWait.toNanos();
        this.maxSlotHoldNanos = maxSlotHold.toNanos();
        this.maxConnections = maxConnections;
    }

    /**
     * Connections this process may hold when its limit on open files is {@code maxFiles}: all but
     * {@code reserve} (etcd, the API, jars, logs), and at least one.
     */
    static int connectionsWithin(long maxFiles, int reserve) {
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, maxFiles - reserve));
    }

    /** For NettyServerBuilder.channelFactory (with boss and worker groups of NIO event loops). */
    io.netty.channel.ChannelFactory<ServerChannel> channelFactory() {
        return () -> {
            GatedServerSocketChannel channel = new GatedServerSocketChannel();
            synchronized (this) {
                server = channel;
            }
            return channel;
        };
    }

    synchronized int inProgress() {
        return inProgress;
    }

    synchronized int waiting() {
        return waiting.size();
    }

    synchronized boolean accepting() {
        return accepting;
    }

    int openConnections() {
        return open.get();
    }

    long expired() {
        return expired.get();
    }

    long completed() {
        return completed.get();
    }

    long acceptPauses() {
        return acceptPauses.get();
    }

    /** Handshakes that gave up their slot after holding it {@code maxSlotHold} without ending. */
    long stalled() {
        return stalled.get();
    }

    /** On the accept loop, for each connection it accepted. */
    private synchronized void accepted() {
        arriving++;
        updateAccepting();
    }

    /** An accepted connection became active, or closed before it did: it no longer counts as arriving. */
    private synchronized void arrived() {
        arriving--;
        updateAccepting();
    }

    /** On the connection's event loop, when it becomes active: true to read now, false when it waits. */
    private boolean arrive(Channel channel, Gate gate) {
        synchronized (this) {
            arriving--;
            if (inProgress < maxInProgress) {
                inProgress++; // arriving one less, in progress one more: queued() is unchanged
                return true;
            }
            channel.config().setAutoRead(false);
            waiting.addLast(new Waiting(channel, gate, System.nanoTime()));
            updateAccepting();
            return false;
        }
    }

    /**
     * A connection got a slot: it holds it until its handshake ends, or for {@code maxSlotHold} at most.
     * Past that its peer is the slow part (a client that connected and went quiet, or gave up without
     * the server seeing it yet): the connection goes on, outside the count, and its own handshake
     * timeout ends it. Without the limit 32 such connections stopped every handshake for seconds while
     * hundreds waited and expired, the machine idle (19,000-agent connects and resumes).
     */
    private void hold(Channel channel, Gate gate) {
        gate.holding.set(true);
        channel.eventLoop().schedule(() -> {
            if (gate.release()) {
                stalled.incrementAndGet();
            }
        }, maxSlotHoldNanos, TimeUnit.NANOSECONDS);
    }

    /** A slot was given back (its handshake ended, or held too long): the next waiting connection starts. */
    private void finished() {
        completed.incrementAndGet();
        Waiting next;
        synchronized (this) {
            next = nextToStart(System.nanoTime());
            if (next == null) {
                inProgress--;
            }
            updateAccepting();
        }
        if (next == null) {
            return;
        }
        Waiting start = next;
        start.channel().eventLoop().execute(() -> {
            if (start.channel().isActive()) {
                hold(start.channel(), start.gate());
                start.channel().config().setAutoRead(true); // reads the ClientHello that has been waiting
            } else {
                finished();
            }
        });
    }

    /** The oldest waiting connection still worth a handshake; closes the ones that waited too long. */
    private Waiting nextToStart(long now) {
        Waiting w;
        while ((w = waiting.pollFirst()) != null) {
            if (!w.channel().isActive()) {
                continue; // its client gave up
            }
            if (now - w.sinceNanos() > maxWaitNanos) {
                expire(w.channel());
                continue;
            }
            return w;
        }
        return null;
    }

    /**
     * Connections that may wait: as many as end their handshakes in half of {@code maxWait} at the
     * measured rate (so that the last of them is still served in time), at least one round of slots,
     * at most {@code maxWaiting}.
     */
    synchronized int waitingRoom() {
        long room = (long) (rate * maxWaitNanos / 2e9);
        return (int) Math.max(Math.min(maxInProgress, maxWaiting), Math.min(maxWaiting, room));
    }

    /** Four times a second: the rate, then gives up the waiting connections at the head that are closed or too old. */
    private void sweep() {
        long now = System.nanoTime();
        synchronized (this) {
            long done = completed.get();
            double seconds = (now - rateNanos) / 1e9;
            if (seconds > 0) {
                rate = 0.75 * rate + 0.25 * ((done - rateCompleted) / seconds);
            }
            rateCompleted = done;
            rateNanos = now;
            updateAccepting(); // first: a connection about to expire waited long enough to pause accepting
            Waiting w;
            while ((w = waiting.peekFirst()) != null && (!w.channel().isActive() || now - w.sinceNanos() > maxWaitNanos)) {
                waiting.pollFirst();
                if (w.channel().isActive()) {
                    expire(w.channel());
                }
            }
            updateAccepting();
            if (!accepting || !waiting.isEmpty()) {
                backlog.run();
            }
            if (++sweeps % 4 == 0 && LOG.isDebugEnabled()) { // once a second: the gate's state, for a herd's diagnosis
                LOG.debugf("agent endpoint: %s, %d handshakes in progress, %d waiting and %d arriving (room %d), %d connections open, "
                        + "%.0f handshakes/s, %d pauses, %d expired and %d stalled so far", accepting ? "accepting" : "paused", inProgress,
                        waiting.size(), arriving, waitingRoom(), open.get(), rate, acceptPauses.get(), expired.get(), stalled.get());
            }
        }
    }

    private void expire(Channel channel) {
        if (expired.incrementAndGet() % 1000 == 1) {
            LOG.warnf("agent endpoint: connections waited over %d ms for a TLS handshake slot and were closed (%d so far); "
                    + "agents are connecting faster than handshakes complete", TimeUnit.NANOSECONDS.toMillis(maxWaitNanos), expired.get());
        }
        channel.close();
    }

    private void updateAccepting() {
        assert Thread.holdsLock(this);
        Waiting oldest = waiting.peekFirst();
        long waited = oldest == null ? 0 : System.nanoTime() - oldest.sinceNanos();
        boolean next = nextAccepting(accepting, queued(), waitingRoom(), open.get() >= maxConnections, waited >= maxWaitNanos / 2);
        if (next == accepting) {
            return;
        }
        accepting = next;
        if (!accepting && acceptPauses.incrementAndGet() % 100 == 1) {
            LOG.infof("agent endpoint: %d TLS handshakes in progress, %d waiting, %d connections open: accepting paused "
                    + "(new connections wait in the listen backlog; %d pauses so far)", inProgress, waiting.size(), open.get(),
                    acceptPauses.get());
        }
        if (server != null) {
            server.config().setAutoRead(accepting); // thread-safe: Netty hands the change to the channel's loop
        }
    }

    /**
     * Whether to accept next. Pauses when the waiting room is full (a newcomer would wait half of
     * {@code maxWait} at the measured rate), or the descriptors are spent, or the queue is past half
     * the room while its oldest has waited half of {@code maxWait} (handshakes end slower than
     * measured). Resumes as soon as the queue is back to half the room (a newcomer would wait a
     * quarter of {@code maxWait}), however long its oldest has waited: after a pause nobody joins the
     * queue, so its head only gets older as it drains. Waiting for a young head meant waiting for an
     * empty queue, and each time the handshake slots ran dry while the herd sat out its SYN
     * retransmissions.
     */
    static boolean nextAccepting(boolean accepting, int waiting, int room, boolean descriptorsSpent, boolean oldestWaitedHalf) {
        if (accepting) {
            return !(waiting >= room || descriptorsSpent || (oldestWaitedHalf && waiting > room / 2));
        }
        return waiting <= room / 2 && !descriptorsSpent;
    }

    /** Connections waiting, and those arriving that will find no free slot. */
    private int queued() {
        assert Thread.holdsLock(this);
        return waiting.size() + Math.max(0, arriving - (maxInProgress - inProgress));
    }

    private void closed() {
        open.decrementAndGet();
        synchronized (this) {
            updateAccepting();
        }
    }

    /** At the head of an accepted connection's pipeline. */
    private final class Gate extends ChannelInboundHandlerAdapter {
        /** Cleared once, by whichever comes first: the connection's activation or its close. */
        private final AtomicBoolean arriving = new AtomicBoolean(true);
        /** While its connection holds a handshake slot. */
        private final AtomicBoolean holding = new AtomicBoolean();

        /** Gives the slot back once (handshake ended, or held too long); false when it held none. */
        boolean release() {
            if (!holding.compareAndSet(true, false)) {
                return false;
            }
            finished();
            return true;
        }

        /** Its connection closed: if it never became active, it stops counting as arriving. */
        void closedBeforeArrival() {
            if (arriving.compareAndSet(true, false)) {
                arrived();
            }
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            // grpc's handlers add the SslHandler as the connection becomes active: let that happen first.
            ctx.fireChannelActive();
            Channel channel = ctx.channel();
            SslHandler ssl = ctx.pipeline().get(SslHandler.class);
            ctx.pipeline().remove(this);
            if (!arriving.compareAndSet(true, false)) {
                return; // closed already (and counted as such)
            }
            if (ssl == null || !channel.isActive()) {
                arrived();
                return;
            }
            if (arrive(channel, this)) {
                hold(channel, this);
            }
            // A waiting connection's handshake ends after it got its slot, or as it closed unstarted (then
            // it held none, and the queue skips it).
            ssl.handshakeFuture().addListener(f -> release());
        }
    }

    /** A NIO server socket that counts its connections and puts a Gate at the head of each. */
    private final class GatedServerSocketChannel extends NioServerSocketChannel {
        private ScheduledFuture<?> sweeping;

        @Override
        protected void doRegister() throws Exception {
            super.doRegister();
            sweeping = eventLoop().scheduleAtFixedRate(HandshakeGate.this::sweep, 250, 250, TimeUnit.MILLISECONDS);
        }

        @Override
        protected void doClose() throws Exception {
            if (sweeping != null) {
                sweeping.cancel(false);
            }
            super.doClose();
        }

        @Override
        protected int doReadMessages(List<Object> buf) throws Exception {
            int before = buf.size();
            int accepted = super.doReadMessages(buf);
            for (int i = before; i < buf.size(); i++) {
                if (buf.get(i) instanceof Channel child) {
                    open.incrementAndGet();
                    Gate gate = new Gate();
                    child.closeFuture().addListener(f -> {
                        gate.closedBeforeArrival();
                        closed();
                    });
                    child.pipeline().addFirst(gate);
                    accepted(); // may pause accepting: then this read loop stops after this connection
                }
            }
            return accepted;
        }
    }
}
