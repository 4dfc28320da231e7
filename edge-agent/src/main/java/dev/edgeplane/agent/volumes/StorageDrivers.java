package dev.edgeplane.agent.volumes;

import dev.edgeplane.storage.StorageDriver;
import dev.edgeplane.storage.StorageDriverConfig;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.UUID;

/** Ways for the agent to reach a CSI driver: hosted in this process, or on a unix socket. */
public final class StorageDrivers {
    private StorageDrivers() {}

    /**
     * Opens the driver in process (it takes the state dir's lock) and serves its CSI services on an
     * in-process gRPC server: the agent still speaks CSI, the bytes just never leave the JVM.
     */
    public static PodVolumes inProcess(Path volumesRoot, StorageDriverConfig config) {
        StorageDriver driver = StorageDriver.open(config);
        String name = "csi-" + UUID.randomUUID();
        InProcessServerBuilder builder = InProcessServerBuilder.forName(name).directExecutor();
        driver.services().forEach(builder::addService);
        Server server;
        try {
            server = builder.build().start();
        } catch (IOException e) {
            driver.close();
            throw new UncheckedIOException(e);
        }
        ManagedChannel channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        return new PodVolumes(volumesRoot, channel, () -> {
            server.shutdownNow();
            driver.close();
        });
    }

    /** A driver running as its own process (or a kubelet's), on its unix socket. */
    public static PodVolumes socket(Path volumesRoot, Path socket) {
        EpollEventLoopGroup group = new EpollEventLoopGroup(1);
        ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .eventLoopGroup(group).channelType(EpollDomainSocketChannel.class).usePlaintext().build();
        return new PodVolumes(volumesRoot, channel, group::shutdownGracefully);
    }
}
