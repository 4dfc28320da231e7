package dev.edgeplane.tunnel.edge;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.Grant;
import dev.edgeplane.api.v1.TunnelFrame;
import dev.edgeplane.tunnel.audit.SessionAudit;
import io.grpc.Status;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.function.Consumer;

/**
 * Port-forward and SSH: one TCP connection on the edge host, bytes both ways, half-close honoured.
 * Driven by the agent's {@link TcpPump} rather than a thread: the socket is read only while the
 * Tunnel stream is ready (HTTP/2 flow control is the back-pressure towards the hub), and a frame from
 * the operator is asked for only when an earlier one has been written to the socket (the target's
 * pace is the back-pressure towards the operator). An idle session holds no buffer.
 */
final class TcpSession extends EdgeSession implements TcpPump.Handler {
    /** The socket's side of the session. */
    enum State { CONNECTING, OPEN, CLOSED }

    private final InetSocketAddress address;
    private final Duration dialTimeout;
    private final TcpPump pump;

    // Touched on the pump's thread only.
    private State state = State.CONNECTING;
    private SocketChannel socket;
    private SelectionKey key;
    private long connectDeadline;
    /** Frames from the operator not yet written to the socket: at most Frames.PREFETCH (one per request). */
    private final ArrayDeque<ByteBuffer> unwritten = new ArrayDeque<>(0);
    private boolean closeWriteWanted;
    /** The stream was not ready when the socket was: reading waits for the stream's onReady (set on the pump). */
    private volatile boolean readPaused;

    TcpSession(Grant grant, InetSocketAddress address, Duration dialTimeout, TcpPump pump, Clock clock, Consumer<SessionAudit> onEnd) {
        super(grant, clock, onEnd);
        this.address = address;
        this.dialTimeout = dialTimeout;
        this.pump = pump;
    }

    /** Names the session on its stream and starts connecting; returns at once. */
    @Override
    void begin(String threadName) {
        if (!sendNow(TunnelFrame.newBuilder().setSessionId(grant.getSessionId()).build())) {
            return;
        }
        pump.execute(this::connect);
    }

    @Override
    protected void serve() {
        throw new UnsupportedOperationException("a TCP session is driven by the TcpPump (begin), not by a thread");
    }

    private void connect() {
        if (state != State.CONNECTING || isClosed()) {
            closeSocket();
            return;
        }
        try {
            socket = SocketChannel.open();
            socket.configureBlocking(false);
            socket.setOption(StandardSocketOptions.TCP_NODELAY, true);
            connectDeadline = System.nanoTime() + dialTimeout.toNanos();
            if (socket.connect(address)) {
                key = pump.register(socket, 0, this);
                opened();
            } else {
                key = pump.register(socket, SelectionKey.OP_CONNECT, this);
            }
        } catch (IOException e) {
            refused(e);
        }
    }

    @Override
    public void connectable() {
        if (state != State.CONNECTING) {
            return;
        }
        try {
            if (socket.finishConnect()) {
                // A connected socket is always "connectable": left in the interest set, it would wake the
                // pump forever (and open the session again each time).
                interest(SelectionKey.OP_CONNECT, false);
                opened();
            }
        } catch (IOException e) {
            refused(e);
        }
    }

    private void refused(IOException e) {
        fail(Status.UNAVAILABLE.withDescription("cannot connect to " + address + ": " + e.getMessage()));
        closeSocket();
    }

    private void opened() {
        state = State.OPEN;
        startReceiving();
        interest(SelectionKey.OP_READ, true);
    }

    @Override
    public void tick(long nowNanos) {
        if (state == State.CONNECTING && nowNanos - connectDeadline > 0) {
            fail(Status.DEADLINE_EXCEEDED.withDescription("connecting to " + address + " timed out"));
            closeSocket();
        } else if (state != State.CLOSED && isClosed()) {
            closeSocket(); // the stream ended while no socket event came
        }
    }

    // ---- target -> operator

    @Override
    public void readable(ByteBuffer shared) {
        if (state != State.OPEN) {
            return;
        }
        if (!streamReady()) {
            // HTTP/2 flow control: leave the bytes in the socket until the stream can take them.
            readPaused = true;
            interest(SelectionKey.OP_READ, false);
            if (streamReady()) { // it became ready meanwhile: its onReady may have seen readPaused still false
                readPaused = false;
                interest(SelectionKey.OP_READ, true);
            }
            return;
        }
        int n;
        try {
            n = socket.read(shared);
        } catch (IOException e) {
            failed(e);
            return;
        }
        if (n < 0) {
            // The target is done: the session is (the hub ends both sides).
            finish();
            closeSocket();
            return;
        }
        if (n > 0) {
            shared.flip();
            if (!sendNow(TunnelFrame.newBuilder().setData(ByteString.copyFrom(shared)).build())) {
                closeSocket();
            }
        }
    }

    @Override
    protected void onStreamReady() {
        if (!readPaused) {
            return;
        }
        pump.execute(() -> {
            if (state == State.OPEN && readPaused) {
                readPaused = false;
                interest(SelectionKey.OP_READ, true);
            }
        });
    }

    // ---- operator -> target

    @Override
    protected boolean asksForFramesItself() {
        return true;
    }

    /** Queues the frame for the pump; the next one is asked for once this one is written. */
    @Override
    protected void onFrame(TunnelFrame frame) {
        switch (frame.getKindCase()) {
            case DATA -> {
                ByteBuffer bytes = frame.getData().asReadOnlyByteBuffer(); // no copy: the frame's own bytes
                pump.execute(() -> {
                    unwritten.add(bytes);
                    write();
                });
            }
            case CLOSE_WRITE -> pump.execute(() -> {
                closeWriteWanted = true;
                write();
            });
            default -> requestFrames(1);
        }
    }

    @Override
    public void writable() {
        write();
    }

    private void write() {
        if (state != State.OPEN) {
            if (state == State.CLOSED) {
                unwritten.clear();
            }
            return; // written once connected
        }
        try {
            while (!unwritten.isEmpty()) {
                ByteBuffer head = unwritten.peek();
                socket.write(head);
                if (head.hasRemaining()) {
                    interest(SelectionKey.OP_WRITE, true);
                    return;
                }
                unwritten.poll();
                requestFrames(1);
            }
            interest(SelectionKey.OP_WRITE, false);
            if (closeWriteWanted && socket.isOpen()) {
                closeWriteWanted = false;
                socket.shutdownOutput();
            }
        } catch (IOException e) {
            failed(e);
        }
    }

    // ---- the end

    @Override
    public void failed(IOException e) {
        if (state == State.CLOSED) {
            return;
        }
        if (!isClosed()) {
            fail(Status.UNAVAILABLE.withDescription("session " + grant.getSessionId() + ": " + e.getMessage()));
        }
        closeSocket();
    }

    private void interest(int op, boolean on) {
        if (key == null || !key.isValid()) {
            return;
        }
        int ops = key.interestOps();
        key.interestOps(on ? ops | op : ops & ~op);
    }

    private void closeSocket() {
        if (state == State.CLOSED) {
            return;
        }
        state = State.CLOSED;
        unwritten.clear();
        if (key != null) {
            key.cancel();
        }
        if (socket != null) {
            try {
                socket.close();
            } catch (IOException e) {
                // nothing to do
            }
        }
    }

    /** The session ended (from any thread): the pump closes the socket. */
    @Override
    protected void release() {
        if (pump.onPumpThread()) {
            closeSocket();
        } else {
            pump.execute(this::closeSocket);
        }
    }
}
