package dev.edgeplane.e2e;

import dev.edgeplane.cri.v1.Container;
import dev.edgeplane.cri.v1.ContainerFilter;
import dev.edgeplane.cri.v1.ContainerState;
import dev.edgeplane.cri.v1.ContainerStateValue;
import dev.edgeplane.cri.v1.ListContainersRequest;
import dev.edgeplane.cri.v1.RuntimeServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The tests' own look at containerd through CRI: what really runs, independent of what the agent
 * or the control plane report.
 */
final class Cri implements AutoCloseable {
    private final EpollEventLoopGroup group = new EpollEventLoopGroup(1);
    private final ManagedChannel channel;

    Cri(String endpoint) {
        String path = endpoint.startsWith("unix://") ? endpoint.substring("unix://".length()) : endpoint;
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(path))
                .eventLoopGroup(group).channelType(EpollDomainSocketChannel.class)
                .usePlaintext().build();
    }

    /** Containers carrying all these labels, in any state. */
    List<Container> containers(Map<String, String> labels) {
        return RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .listContainers(ListContainersRequest.newBuilder()
                        .setFilter(ContainerFilter.newBuilder().putAllLabelSelector(labels)).build())
                .getContainersList();
    }

    List<Container> running(Map<String, String> labels) {
        return RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .listContainers(ListContainersRequest.newBuilder()
                        .setFilter(ContainerFilter.newBuilder().putAllLabelSelector(labels)
                                .setState(ContainerStateValue.newBuilder()
                                        .setState(ContainerState.CONTAINER_RUNNING)))
                        .build())
                .getContainersList();
    }

    /** True when containerd holds the image (CRI ImageStatus). */
    boolean hasImage(String image) {
        return dev.edgeplane.cri.v1.ImageServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .imageStatus(dev.edgeplane.cri.v1.ImageStatusRequest.newBuilder()
                        .setImage(dev.edgeplane.cri.v1.ImageSpec.newBuilder().setImage(image)).build())
                .hasImage();
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
    }
}
