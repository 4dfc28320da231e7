package dev.edgeplane.cli;

import com.google.common.net.HostAndPort;
import com.google.common.net.InetAddresses;
import dev.edgeplane.api.v1.AppServiceGrpc;
import dev.edgeplane.api.v1.JoinTokenServiceGrpc;
import dev.edgeplane.api.v1.NodeServiceGrpc;
import io.grpc.CallCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.Http2SecurityUtil;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/** One channel to the control plane's public API, with the caller's bearer token on every call. */
final class ApiClient implements AutoCloseable {
    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final long CALL_TIMEOUT_SECONDS = 30;
    /** gRPC's ALPN offer: h2 only (the server's choice is checked by gRPC's protocol negotiator). */
    private static final ApplicationProtocolConfig ALPN_H2 = new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, ApplicationProtocolNames.HTTP_2);

    private final EventLoopGroup eventLoop;
    private final ManagedChannel channel;
    private final CallCredentials credentials;

    ApiClient(ClientConfig config) {
        // The channel's own network thread, not gRPC's shared group (released a second after the channel, on a
        // timer): close() ends it. A thread still waiting in epoll when the JVM exits holds the exit ~300 ms
        // (HotSpot waits for threads in native code to stop), a third of a short command's time.
        this.eventLoop = new NioEventLoopGroup(1, new DefaultThreadFactory("edgectl-network", true));
        try {
            this.channel = channel(config, eventLoop);
        } catch (RuntimeException e) {
            eventLoop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            throw e;
        }
        this.credentials = new BearerToken(config.token());
    }

    /** TLS unless told --insecure; trusting the --ca-file CAs, or else the system's. */
    private static ManagedChannel channel(ClientConfig config, EventLoopGroup eventLoop) {
        // An IP literal needs no name resolution: gRPC's DNS resolver would start a thread pool to look it up.
        NettyChannelBuilder builder = ipLiteral(config.server())
                .map(NettyChannelBuilder::forAddress)
                .orElseGet(() -> NettyChannelBuilder.forTarget(config.server()))
                .eventLoopGroup(eventLoop)
                .channelType(NioSocketChannel.class);
        if (config.insecure()) {
            return builder.usePlaintext().build();
        }
        try {
            // What GrpcSslContexts.forClient() selects on a JDK without netty-tcnative (the JDK's TLS, ALPN h2,
            // HTTP/2's ciphers), without its probing for other providers: that probe initialises an SSLContext
            // and an SSLEngine of its own before Netty makes the ones it uses.
            SslContextBuilder tls = SslContextBuilder.forClient()
                    .sslProvider(SslProvider.JDK)
                    .ciphers(Http2SecurityUtil.CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                    .applicationProtocolConfig(ALPN_H2);
            if (config.caFile().isPresent()) {
                if (!java.nio.file.Files.isReadable(config.caFile().get())) {
                    throw new UsageException("cannot read the CA file " + config.caFile().get());
                }
                tls.trustManager(config.caFile().get().toFile());
            }
            return builder.sslContext(tls.build()).build();
        } catch (javax.net.ssl.SSLException | IllegalArgumentException e) {
            throw new UsageException("cannot use the CA file " + config.caFile().map(Path::toString).orElse("") + ": " + e.getMessage());
        }
    }

    /** "1.2.3.4:443" or "[::1]:443" as an address; a name or any other target form is left to gRPC's resolvers. */
    static java.util.Optional<InetSocketAddress> ipLiteral(String target) {
        try {
            HostAndPort hostAndPort = HostAndPort.fromString(target);
            if (hostAndPort.hasPort() && InetAddresses.isInetAddress(hostAndPort.getHost())) {
                return java.util.Optional.of(new InetSocketAddress(InetAddresses.forString(hostAndPort.getHost()), hostAndPort.getPort()));
            }
        } catch (IllegalArgumentException notHostAndPort) {
            // not host:port at all (e.g. "[::1"): gRPC's own parsing says what is wrong with it
        }
        return java.util.Optional.empty();
    }

    AppServiceGrpc.AppServiceBlockingStub apps() {
        return AppServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.ClusterCaServiceGrpc.ClusterCaServiceBlockingStub clusterCa() {
        return dev.edgeplane.api.v1.ClusterCaServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    NodeServiceGrpc.NodeServiceBlockingStub nodes() {
        return NodeServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.VolumeServiceGrpc.VolumeServiceBlockingStub volumes() {
        return dev.edgeplane.api.v1.VolumeServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.VolumeSnapshotPolicyServiceGrpc.VolumeSnapshotPolicyServiceBlockingStub snapshotPolicies() {
        return dev.edgeplane.api.v1.VolumeSnapshotPolicyServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.CronJobServiceGrpc.CronJobServiceBlockingStub cronJobs() {
        return dev.edgeplane.api.v1.CronJobServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.JobServiceGrpc.JobServiceBlockingStub jobs() {
        return dev.edgeplane.api.v1.JobServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.AutoscalerServiceGrpc.AutoscalerServiceBlockingStub autoscalers() {
        return dev.edgeplane.api.v1.AutoscalerServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.QuotaServiceGrpc.QuotaServiceBlockingStub quotas() {
        return dev.edgeplane.api.v1.QuotaServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.ConfigMapServiceGrpc.ConfigMapServiceBlockingStub configMaps() {
        return dev.edgeplane.api.v1.ConfigMapServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.ImagePrefetchServiceGrpc.ImagePrefetchServiceBlockingStub imagePrefetches() {
        return dev.edgeplane.api.v1.ImagePrefetchServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.SecretServiceGrpc.SecretServiceBlockingStub secrets() {
        return dev.edgeplane.api.v1.SecretServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.AuditServiceGrpc.AuditServiceBlockingStub audit() {
        return dev.edgeplane.api.v1.AuditServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.AccessServiceGrpc.AccessServiceBlockingStub access() {
        return dev.edgeplane.api.v1.AccessServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.StorageClassServiceGrpc.StorageClassServiceBlockingStub storageClasses() {
        return dev.edgeplane.api.v1.StorageClassServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.NodePoolServiceGrpc.NodePoolServiceBlockingStub nodePools() {
        return dev.edgeplane.api.v1.NodePoolServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    JoinTokenServiceGrpc.JoinTokenServiceBlockingStub tokens() {
        return JoinTokenServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.MetricsServiceGrpc.MetricsServiceBlockingStub metrics() {
        return dev.edgeplane.api.v1.MetricsServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.EventServiceGrpc.EventServiceBlockingStub events() {
        return dev.edgeplane.api.v1.EventServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    /** For WatchApps: no deadline, it lasts as long as the operator watches. */
    AppServiceGrpc.AppServiceBlockingStub appsWatch() {
        return AppServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials);
    }

    /** For WatchEvents: no deadline, it lasts as long as the operator watches. */
    dev.edgeplane.api.v1.EventServiceGrpc.EventServiceBlockingStub eventsWatch() {
        return dev.edgeplane.api.v1.EventServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials);
    }

    /** The Ops API: streaming sessions have no deadline (they last as long as the operator wants). */
    dev.edgeplane.api.v1.OpsServiceGrpc.OpsServiceStub ops() {
        return dev.edgeplane.api.v1.OpsServiceGrpc.newStub(channel).withCallCredentials(credentials);
    }

    io.grpc.Channel opsChannel() {
        return channel;
    }

    CallCredentials credentials() {
        return credentials;
    }

    dev.edgeplane.api.v1.OpsServiceGrpc.OpsServiceBlockingStub opsBlocking() {
        return dev.edgeplane.api.v1.OpsServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        eventLoop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).await(5, TimeUnit.SECONDS);
    }

    private static final class BearerToken extends CallCredentials {
        private final String token;

        BearerToken(String token) {
            this.token = token;
        }

        @Override
        public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
            Metadata headers = new Metadata();
            if (token != null) {
                headers.put(AUTHORIZATION, "Bearer " + token);
            }
            applier.apply(headers);
        }
    }
}
