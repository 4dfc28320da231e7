package dev.edgeplane.cli;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;

/**
 * edgectl's daemon: a JVM that stays up between commands and runs the quick ones {@link DaemonClient} hands
 * it, so `edgectl get nodes` costs a call into warm code instead of a JVM start (classes, JIT, TLS set-up:
 * ~700 ms of CPU). Like Gradle's daemon or Bazel's server it is started by the first command, serves one
 * user and one build of edgectl, and ends by itself after an idle period. Its socket sits in a directory only
 * that user can open, and it serves only peers of its own user (SO_PEERCRED): it never runs anything its
 * caller could not run itself, with the caller's environment and working directory.
 */
final class CommandDaemon implements AutoCloseable {
    static final Duration DEFAULT_IDLE = Duration.ofMinutes(30);
    /** Commands at once; more wait in a short queue, and past that the client runs its command itself. */
    private static final int WORKERS = 4;
    private static final int QUEUE = 16;
    /** A client that connects and sends no whole request within this is dropped (it holds a worker). */
    private static final Duration REQUEST_DEADLINE = Duration.ofSeconds(10);

    private final DaemonClient.Location location;
    private final Duration idle;
    private final PrintStream log;
    private final UserPrincipal owner;
    private final ThreadPoolExecutor workers;
    private final ScheduledExecutorService deadlines;
    private final AtomicInteger active = new AtomicInteger();
    private final AtomicLong served = new AtomicLong();
    private final Instant started = Instant.now();
    private volatile long lastActivityNanos = System.nanoTime();
    private volatile boolean stopping;
    private boolean closed;
    private FileChannel lockFile;
    private FileLock lock;
    private ServerSocketChannel server;
    private Selector selector;

    CommandDaemon(DaemonClient.Location location, Duration idle, PrintStream log) throws IOException {
        this.location = location;
        this.idle = idle;
        this.log = log;
        // the directory's owner: DaemonClient.location checked it is this process's user (by uid, no name lookup)
        this.owner = Files.getOwner(location.dir(), java.nio.file.LinkOption.NOFOLLOW_LINKS);
        AtomicInteger threads = new AtomicInteger();
        this.workers = new ThreadPoolExecutor(WORKERS, WORKERS, 30, TimeUnit.SECONDS, new ArrayBlockingQueue<>(QUEUE), r -> {
            Thread t = new Thread(r, "edgectl-daemon-" + threads.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        workers.allowCoreThreadTimeOut(true);
        this.deadlines = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "edgectl-daemon-deadlines");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Takes the build's lock and socket: false when another daemon of this build holds them (a race of two
     * first commands), which then serves.
     */
    boolean bind() throws IOException {
        lockFile = FileChannel.open(location.lock(), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        try {
            lock = lockFile.tryLock();
        } catch (java.nio.channels.OverlappingFileLockException heldInThisJvm) {
            lock = null;
        }
        if (lock == null) {
            lockFile.close();
            return false;
        }
        // the lock is ours, so a socket file left here is a dead daemon's
        Files.deleteIfExists(location.socket());
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(location.socket()));
        Files.setPosixFilePermissions(location.socket(), PosixFilePermissions.fromString("rw-------"));
        server.configureBlocking(false);
        selector = Selector.open();
        server.register(selector, SelectionKey.OP_ACCEPT);
        Files.deleteIfExists(location.failed()); // a daemon serves again: commands may start one again
        log.println(Instant.now() + " edgectl daemon " + ProcessHandle.current().pid() + " serving on " + location.socket()
                + ", ending after " + idle.toSeconds() + " s idle");
        return true;
    }

    /** Accepts commands until stopped or idle for the idle period. */
    void serve() throws IOException {
        while (!stopping) {
            selector.select(Math.max(1, Math.min(1000, idle.toMillis())));
            for (SelectionKey key : selector.selectedKeys()) {
                if (key.isAcceptable()) {
                    SocketChannel client = server.accept();
                    if (client != null) {
                        accept(client);
                    }
                }
            }
            selector.selectedKeys().clear();
            if (active.get() == 0 && System.nanoTime() - lastActivityNanos > idle.toNanos()) {
                log.println(Instant.now() + " edgectl daemon: idle for " + idle.toSeconds() + " s, ending");
                break;
            }
        }
    }

    private void accept(SocketChannel client) throws IOException {
        client.configureBlocking(true);
        active.incrementAndGet();
        lastActivityNanos = System.nanoTime();
        try {
            workers.execute(() -> handle(client));
        } catch (RejectedExecutionException busy) {
            done(client); // closed before a byte: the client runs its command itself
        }
    }

    private void handle(SocketChannel client) {
        try (client) {
            UnixDomainPrincipal peer = client.getOption(ExtendedSocketOptions.SO_PEERCRED);
            if (!peer.user().equals(owner)) {
                log.println(Instant.now() + " edgectl daemon: refused a peer of user " + peer.user().getName());
                return;
            }
            ScheduledFuture<?> deadline = deadlines.schedule(() -> closeQuietly(client), REQUEST_DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            DaemonWire.Request request;
            try {
                request = DaemonWire.Request.readFrom(new DataInputStream(new BufferedInputStream(Channels.newInputStream(client))));
            } finally {
                deadline.cancel(false);
            }
            DataOutputStream socket = new DataOutputStream(new BufferedOutputStream(Channels.newOutputStream(client), 16 * 1024));
            if (!request.args().isEmpty() && request.args().get(0).equals("daemon")) {
                DaemonWire.writeExit(socket, control(request.args(), socket));
            } else {
                DaemonWire.writeExit(socket, runCommand(request, socket));
                served.incrementAndGet();
            }
        } catch (IOException | RuntimeException e) {
            // a client that went away or sent a bad request: nothing to answer
            if (!(e instanceof java.nio.channels.ClosedChannelException)) {
                log.println(Instant.now() + " edgectl daemon: a request failed: " + e);
            }
        } finally {
            done(client);
        }
    }

    private int runCommand(DaemonWire.Request request, DataOutputStream socket) {
        PrintWriter out = writer(socket, DaemonWire.STDOUT);
        PrintWriter err = writer(socket, DaemonWire.STDERR);
        try {
            return Edgectl.run(request.args().toArray(String[]::new), request.env(), Path.of(request.workingDir()), out, err);
        } catch (RuntimeException e) {
            err.println("error: " + e);
            return Edgectl.EXIT_API_ERROR;
        } finally {
            out.flush();
            err.flush();
        }
    }

    /** `edgectl daemon status|stop`, answered by the daemon itself. */
    private int control(List<String> args, DataOutputStream socket) {
        PrintWriter out = writer(socket, DaemonWire.STDOUT);
        String verb = args.size() > 1 ? args.get(1) : "";
        switch (verb) {
            case "status" -> out.println("edgectl daemon " + ProcessHandle.current().pid() + " running since " + started
                    + ", " + served.get() + " commands served, ends after " + idle.toSeconds() + " s idle; socket "
                    + location.socket());
            case "stop" -> {
                out.println("edgectl daemon " + ProcessHandle.current().pid() + " stopping");
                stop();
            }
            default -> {
                writer(socket, DaemonWire.STDERR).printf("error: unknown daemon request %s%n", verb).flush();
                return Edgectl.EXIT_USAGE;
            }
        }
        out.flush();
        return 0;
    }

    private static PrintWriter writer(DataOutputStream socket, byte kind) {
        return new PrintWriter(new OutputStreamWriter(new DaemonWire.FrameOutputStream(socket, kind), StandardCharsets.UTF_8), false);
    }

    private void done(SocketChannel client) {
        closeQuietly(client);
        lastActivityNanos = System.nanoTime();
        active.decrementAndGet();
    }

    /** On SIGTERM (a shutdown hook): no more commands, and no socket file left for the next daemon to clear. */
    void terminate() {
        stop();
        try {
            Files.deleteIfExists(location.socket());
        } catch (IOException ignored) {
            // the next daemon deletes it: it holds the lock then
        }
        log.println(Instant.now() + " edgectl daemon: terminated");
    }

    void stop() {
        stopping = true;
        Selector s = selector;
        if (s != null) {
            s.wakeup();
        }
    }

    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        stop();
        workers.shutdown();
        try {
            workers.awaitTermination(35, TimeUnit.SECONDS); // a command in flight has up to its 30 s call deadline
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        deadlines.shutdownNow();
        if (server != null) {
            server.close();
            selector.close();
            Files.deleteIfExists(location.socket());
        }
        if (lock != null) {
            // the lock file stays: deleting it would let a daemon that opened it just before lock an unlinked file
            lock.release();
            lockFile.close();
        }
    }

    private static void closeQuietly(SocketChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // already closed
        }
    }
}
