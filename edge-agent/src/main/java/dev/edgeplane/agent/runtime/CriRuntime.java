package dev.edgeplane.agent.runtime;

import dev.edgeplane.cri.v1.AuthConfig;
import dev.edgeplane.cri.v1.Container;
import dev.edgeplane.cri.v1.ContainerConfig;
import dev.edgeplane.cri.v1.ContainerFilter;
import dev.edgeplane.cri.v1.ContainerStatus;
import dev.edgeplane.cri.v1.ContainerStatusRequest;
import dev.edgeplane.cri.v1.CreateContainerRequest;
import dev.edgeplane.cri.v1.Image;
import dev.edgeplane.cri.v1.ImageServiceGrpc;
import dev.edgeplane.cri.v1.ImageSpec;
import dev.edgeplane.cri.v1.ImageStatusRequest;
import dev.edgeplane.cri.v1.ImageStatusResponse;
import dev.edgeplane.cri.v1.ContainerStats;
import dev.edgeplane.cri.v1.ContainerStatsFilter;
import dev.edgeplane.cri.v1.ListContainerStatsRequest;
import dev.edgeplane.cri.v1.ListContainersRequest;
import dev.edgeplane.cri.v1.ListPodSandboxRequest;
import dev.edgeplane.cri.v1.PodSandbox;
import dev.edgeplane.cri.v1.PodSandboxConfig;
import dev.edgeplane.cri.v1.PodSandboxFilter;
import dev.edgeplane.cri.v1.PullImageRequest;
import dev.edgeplane.cri.v1.RemoveContainerRequest;
import dev.edgeplane.cri.v1.RemovePodSandboxRequest;
import dev.edgeplane.cri.v1.RunPodSandboxRequest;
import dev.edgeplane.cri.v1.RuntimeServiceGrpc;
import dev.edgeplane.cri.v1.StartContainerRequest;
import dev.edgeplane.cri.v1.StopContainerRequest;
import dev.edgeplane.cri.v1.StopPodSandboxRequest;
import dev.edgeplane.cri.v1.VersionRequest;
import dev.edgeplane.cri.v1.VersionResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A client of the CRI runtime.v1 API (containerd, CRI-O) over its unix socket: the kubelet's view
 * of a container runtime, with a deadline on every call.
 */
public final class CriRuntime implements AutoCloseable {
    // Netty warns once per connection that SO_KEEPALIVE (set by grpc-netty) means nothing on a unix socket.
    private static final java.util.logging.Logger BOOTSTRAP_LOG = quiet("io.netty.bootstrap.Bootstrap");
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration PULL_TIMEOUT = Duration.ofMinutes(10);
    private static final Duration STATS_TIMEOUT = Duration.ofSeconds(5);

    private final String endpoint;
    private final EventLoopGroup eventLoop;
    private final ManagedChannel channel;
    private final RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime;
    private final ImageServiceGrpc.ImageServiceBlockingStub images;

    private CriRuntime(String endpoint, EventLoopGroup eventLoop, ManagedChannel channel) {
        this.endpoint = endpoint;
        this.eventLoop = eventLoop;
        this.channel = channel;
        this.runtime = RuntimeServiceGrpc.newBlockingStub(channel);
        this.images = ImageServiceGrpc.newBlockingStub(channel);
    }

    /** Dials lazily: containerd may start after the agent; calls fail (and are retried by callers) until it is up. */
    public static CriRuntime connect(String endpoint) {
        String path = socketPath(endpoint);
        EventLoopGroup eventLoop = new EpollEventLoopGroup(1, daemonThreads("cri-netty"));
        ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(path))
                .eventLoopGroup(eventLoop)
                .channelType(EpollDomainSocketChannel.class)
                .overrideAuthority("localhost")
                .usePlaintext()
                .maxInboundMessageSize(64 * 1024 * 1024)
                .build();
        return new CriRuntime(endpoint, eventLoop, channel);
    }

    /** "unix:///run/containerd/containerd.sock" or a plain path -> the socket path. */
    public static String socketPath(String endpoint) {
        if (endpoint.startsWith("unix://")) {
            return endpoint.substring("unix://".length());
        }
        if (endpoint.startsWith("/")) {
            return endpoint;
        }
        throw new IllegalArgumentException("CRI endpoint must be unix:///path/to.sock, got '" + endpoint + "'");
    }

    /** The CRI channel, shared with the ops tunnel (logs, exec). */
    public io.grpc.Channel channel() {
        return channel;
    }

    public String endpoint() {
        return endpoint;
    }

    private RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime() {
        return runtime.withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    private ImageServiceGrpc.ImageServiceBlockingStub images(Duration timeout) {
        return images.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Reconnect now instead of after gRPC's own connection back-off (which grows to 2 minutes): the
     * reconciler's period is the retry policy for a runtime that went away and came back.
     */
    public void reconnectNow() {
        channel.resetConnectBackoff();
    }

    public VersionResponse version() {
        return runtime().version(VersionRequest.newBuilder().setVersion("v1").build());
    }

    public List<PodSandbox> listSandboxes(Map<String, String> labels) {
        return runtime().listPodSandbox(ListPodSandboxRequest.newBuilder()
                .setFilter(PodSandboxFilter.newBuilder().putAllLabelSelector(labels)).build()).getItemsList();
    }

    public List<Container> listContainers(Map<String, String> labels) {
        return runtime().listContainers(ListContainersRequest.newBuilder()
                .setFilter(ContainerFilter.newBuilder().putAllLabelSelector(labels)).build()).getContainersList();
    }

    /**
     * CPU and memory figures of the containers with these labels. A short deadline: metrics are
     * sampled every few seconds, and a stuck runtime must not hold the sampler up.
     */
    public List<ContainerStats> listContainerStats(Map<String, String> labels) {
        return runtime.withDeadlineAfter(STATS_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                .listContainerStats(ListContainerStatsRequest.newBuilder()
                        .setFilter(ContainerStatsFilter.newBuilder().putAllLabelSelector(labels)).build()).getStatsList();
    }

    /** Like {@link #listContainers} with the stats deadline, for the metrics sampler. */
    public List<Container> listContainersQuickly(Map<String, String> labels) {
        return runtime.withDeadlineAfter(STATS_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).listContainers(ListContainersRequest.newBuilder()
                .setFilter(ContainerFilter.newBuilder().putAllLabelSelector(labels)).build()).getContainersList();
    }

    public String runSandbox(PodSandboxConfig config) {
        return runtime().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(config).build()).getPodSandboxId();
    }

    public void stopSandbox(String id) {
        runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
    }

    public void removeSandbox(String id) {
        runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
    }

    public String createContainer(String sandboxId, ContainerConfig config, PodSandboxConfig sandboxConfig) {
        return runtime().createContainer(CreateContainerRequest.newBuilder()
                .setPodSandboxId(sandboxId).setConfig(config).setSandboxConfig(sandboxConfig).build()).getContainerId();
    }

    public void startContainer(String id) {
        runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
    }

    /** Stops with a grace period (SIGTERM, then SIGKILL after timeoutSeconds). Idempotent. */
    public void stopContainer(String id, long timeoutSeconds) {
        runtime.withDeadlineAfter(CALL_TIMEOUT.toMillis() + timeoutSeconds * 1000, TimeUnit.MILLISECONDS)
                .stopContainer(StopContainerRequest.newBuilder().setContainerId(id).setTimeout(timeoutSeconds).build());
    }

    public void removeContainer(String id) {
        runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
    }

    public List<Image> listImages() {
        return images(CALL_TIMEOUT).listImages(dev.edgeplane.cri.v1.ListImagesRequest.getDefaultInstance()).getImagesList();
    }

    public void removeImage(String imageId) {
        images(CALL_TIMEOUT).removeImage(dev.edgeplane.cri.v1.RemoveImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(imageId)).build());
    }

    /** The image the runtime runs pod sandboxes from (containerd's sandbox_image), if it says. */
    public Optional<String> sandboxImage() {
        java.util.Map<String, String> info = runtime().status(dev.edgeplane.cri.v1.StatusRequest.newBuilder().setVerbose(true).build())
                .getInfoMap();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"sandboxImage\"\\s*:\\s*\"([^\"]+)\"")
                .matcher(info.getOrDefault("config", ""));
        return m.find() ? Optional.of(m.group(1)) : Optional.empty();
    }

    /** Asks the runtime to open a new file at the container's log path (after the agent renamed the old one). */
    public void reopenContainerLog(String id) {
        runtime().reopenContainerLog(dev.edgeplane.cri.v1.ReopenContainerLogRequest.newBuilder().setContainerId(id).build());
    }

    /** The container's status, or empty if the runtime no longer knows it. */
    public Optional<ContainerStatus> containerStatus(String id) {
        try {
            return Optional.of(runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build()).getStatus());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.NOT_FOUND) {
                return Optional.empty();
            }
            throw e;
        }
    }

    /** The image if it is present locally. */
    public Optional<Image> image(String image) {
        ImageStatusResponse response = images(CALL_TIMEOUT).imageStatus(ImageStatusRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(image)).build());
        return response.hasImage() ? Optional.of(response.getImage()) : Optional.empty();
    }

    /** Pulls the image anonymously; returns its reference (ID or digest). */
    public String pullImage(String image, PodSandboxConfig sandboxConfig) {
        return pullImage(image, sandboxConfig, Optional.empty());
    }

    /**
     * Pulls the image with registry credentials if given; returns its reference (ID or digest). The
     * request holds secrets: it is never logged.
     */
    public String pullImage(String image, PodSandboxConfig sandboxConfig, Optional<AuthConfig> auth) {
        PullImageRequest.Builder request = PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(image));
        if (sandboxConfig != null) {
            request.setSandboxConfig(sandboxConfig);
        }
        auth.ifPresent(request::setAuth);
        return images(PULL_TIMEOUT).pullImage(request.build()).getImageRef();
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        eventLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }

    private static java.util.logging.Logger quiet(String name) {
        java.util.logging.Logger logger = java.util.logging.Logger.getLogger(name);
        logger.setLevel(java.util.logging.Level.SEVERE);
        return logger;
    }

    private static java.util.concurrent.ThreadFactory daemonThreads(String name) {
        return runnable -> {
            Thread thread = new Thread(runnable, name);
            thread.setDaemon(true);
            return thread;
        };
    }
}
