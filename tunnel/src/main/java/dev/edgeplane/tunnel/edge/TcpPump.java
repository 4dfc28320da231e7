package dev.edgeplane.tunnel.edge;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One thread that moves the bytes of every TCP session of an agent (port-forward, SSH): a selector
 * over non-blocking sockets, so a session costs no thread and, while idle, no buffer. Reads go
 * through one buffer of {@link dev.edgeplane.tunnel.hub.Frames#CHUNK_BYTES} shared by all sessions
 * (a frame copies exactly what was read). Every socket operation runs on this thread; other threads
 * hand it work with {@link #execute}.
 */
final class TcpPump implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(TcpPump.class.getName());
    /** How often connect deadlines are checked when nothing else wakes the loop. */
    private static final long TICK_MS = 250;

    /** What a session does when its socket is ready; called on the pump's thread only. */
    interface Handler {
        void connectable();

        void readable(ByteBuffer shared);

        void writable();

        /** Called on every tick: a session may time out its connect. */
        void tick(long nowNanos);

        /** The pump failed this session's socket (or is closing): end it. */
        void failed(IOException e);
    }

    private final Selector selector;
    private final Thread thread;
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final ByteBuffer shared = ByteBuffer.allocateDirect(dev.edgeplane.tunnel.hub.Frames.CHUNK_BYTES);
    private volatile boolean closing;

    TcpPump() {
        try {
            selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a selector for tunnel sockets", e);
        }
        thread = new Thread(this::loop, "edge-tunnel-io");
        thread.setDaemon(true);
        thread.start();
    }

    /** Runs {@code task} on the pump's thread (soon, in order). */
    void execute(Runnable task) {
        tasks.add(task);
        if (Thread.currentThread() != thread) {
            selector.wakeup();
        }
    }

    /** Registers a socket; call on the pump's thread. */
    SelectionKey register(SocketChannel channel, int ops, Handler handler) throws ClosedChannelException {
        return channel.register(selector, ops, handler);
    }

    boolean onPumpThread() {
        return Thread.currentThread() == thread;
    }

    private void loop() {
        long lastTick = System.nanoTime();
        while (!(closing && selector.keys().isEmpty() && tasks.isEmpty())) {
            try {
                selector.select(TICK_MS);
            } catch (IOException e) {
                LOG.log(Level.WARNING, "tunnel socket selector failed", e);
                break;
            }
            for (Runnable task; (task = tasks.poll()) != null; ) {
                runSafely(task);
            }
            for (SelectionKey key : selector.selectedKeys()) {
                Handler handler = (Handler) key.attachment();
                try {
                    int ready = key.readyOps();
                    if ((ready & SelectionKey.OP_CONNECT) != 0) {
                        handler.connectable();
                    }
                    if (key.isValid() && (ready & SelectionKey.OP_WRITE) != 0) {
                        handler.writable();
                    }
                    if (key.isValid() && (ready & SelectionKey.OP_READ) != 0) {
                        shared.clear();
                        handler.readable(shared);
                    }
                } catch (CancelledKeyException e) {
                    // the session closed its socket meanwhile
                } catch (RuntimeException e) {
                    LOG.log(Level.WARNING, "tunnel session failed on its socket", e);
                    handler.failed(new IOException(e));
                }
            }
            selector.selectedKeys().clear();
            long now = System.nanoTime();
            if (now - lastTick >= TICK_MS * 1_000_000) {
                lastTick = now;
                for (SelectionKey key : selector.keys()) {
                    if (key.isValid()) {
                        runSafely(() -> ((Handler) key.attachment()).tick(now));
                    }
                }
            }
        }
        for (SelectionKey key : selector.keys()) {
            ((Handler) key.attachment()).failed(new IOException("the agent's tunnel is shutting down"));
        }
        try {
            selector.close();
        } catch (IOException e) {
            // nothing left to do
        }
    }

    private static void runSafely(Runnable task) {
        try {
            task.run();
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "tunnel socket task failed", e);
        }
    }

    /** Stops once the open sessions have ended (their streams end them); takes no new ones. */
    @Override
    public void close() {
        closing = true;
        selector.wakeup();
    }
}
