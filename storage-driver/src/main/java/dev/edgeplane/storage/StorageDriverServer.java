package dev.edgeplane.storage;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/** Serves a driver's CSI services (plus server reflection) on a unix domain socket. */
public final class StorageDriverServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(StorageDriverServer.class.getName());
    private final Path socket;
    private final Server server;
    private final EventLoopGroup boss;
    private final EventLoopGroup workers;

    private StorageDriverServer(Path socket, Server server, EventLoopGroup boss, EventLoopGroup workers) {
        this.socket = socket;
        this.server = server;
        this.boss = boss;
        this.workers = workers;
    }

    /** Accepts "unix:///path", "unix:/path" or a plain absolute path. */
    public static Path socketPath(String endpoint) {
        String p = endpoint;
        if (p.startsWith("unix://")) {
            p = p.substring("unix://".length());
        } else if (p.startsWith("unix:")) {
            p = p.substring("unix:".length());
        }
        if (!p.startsWith("/")) {
            throw new IllegalArgumentException("endpoint must be unix:///absolute/path, got " + endpoint);
        }
        return Path.of(p);
    }

    public static StorageDriverServer start(StorageDriver driver, Path socket) {
        try {
            Files.createDirectories(socket.getParent());
            Files.deleteIfExists(socket); // a stale socket from a killed predecessor
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare socket " + socket, e);
        }
        EventLoopGroup boss = new EpollEventLoopGroup(1);
        EventLoopGroup workers = new EpollEventLoopGroup(2);
        NettyServerBuilder b = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(boss)
                .workerEventLoopGroup(workers)
                .addService(ProtoReflectionServiceV1.newInstance());
        for (BindableService s : driver.services()) {
            b.addService(s);
        }
        try {
            Server server = b.build().start();
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-rw----"));
            LOG.info(() -> "serving CSI on unix://" + socket);
            return new StorageDriverServer(socket, server, boss, workers);
        } catch (IOException e) {
            boss.shutdownGracefully();
            workers.shutdownGracefully();
            throw new UncheckedIOException("cannot serve on " + socket, e);
        }
    }

    public Path socket() {
        return socket;
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    @Override
    public void close() {
        server.shutdown();
        try {
            if (!server.awaitTermination(10, TimeUnit.SECONDS)) {
                server.shutdownNow();
                server.awaitTermination(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.shutdownNow();
        }
        boss.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            LOG.warning("cannot remove socket " + socket + ": " + e);
        }
        LOG.info(() -> "stopped serving on " + socket);
    }
}
