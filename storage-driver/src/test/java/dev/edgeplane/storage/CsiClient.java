package dev.edgeplane.storage;

import dev.edgeplane.csi.v1.ControllerGrpc;
import dev.edgeplane.csi.v1.IdentityGrpc;
import dev.edgeplane.csi.v1.NodeGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Blocking CSI stubs over the driver's unix socket, as a CO would call them. */
public final class CsiClient implements AutoCloseable {
    private final EventLoopGroup group = new EpollEventLoopGroup(1);
    private final ManagedChannel channel;
    final IdentityGrpc.IdentityBlockingStub identity;
    final ControllerGrpc.ControllerBlockingStub controller;
    final NodeGrpc.NodeBlockingStub node;

    public CsiClient(Path socket) {
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class)
                .eventLoopGroup(group)
                .usePlaintext()
                .build();
        identity = IdentityGrpc.newBlockingStub(channel);
        controller = ControllerGrpc.newBlockingStub(channel);
        node = NodeGrpc.newBlockingStub(channel);
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow();
        channel.awaitTermination(5, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
