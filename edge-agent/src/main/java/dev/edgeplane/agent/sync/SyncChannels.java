package dev.edgeplane.agent.sync;

import io.grpc.netty.InternalNettyChannelBuilder;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContext;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The agent's channel to the control plane's agent endpoint, as {@link SyncClient} builds it and the
 * fleet simulator does for each agent it stands in for: the caller's event loop and sockets (patient
 * connects, {@link PatientConnect}), mutual TLS, pings after {@code keepAlive} of silence even with no
 * call open, inbound messages up to 64 MiB (a snapshot).
 *
 * <p>gRPC's census (OpenCensus stats and tracing) is off: the agent records neither, and with it on
 * every build looks the census classes up by reflection, a Class.forName that fails each time. The
 * agent builds a channel at each reconnect ({@link ReplaceableChannel}); 19,000 simulated agents
 * resuming at once spent 7% of their simulators' CPU on those lookups.
 */
public final class SyncChannels {
    /** The largest message an agent accepts from the control plane. */
    private static final int MAX_INBOUND_MESSAGE_BYTES = 64 * 1024 * 1024;

    private SyncChannels() {}

    /** {@code target} (forTarget or forAddress) set up as the agent's Sync channel; the caller may add to it and builds it. */
    public static NettyChannelBuilder configure(NettyChannelBuilder target, EventLoopGroup group, ChannelFactory<? extends Channel> sockets,
                                                SslContext tls, Duration keepAlive, Duration keepAliveTimeout) {
        target.eventLoopGroup(group)
                .channelFactory(sockets)
                .sslContext(tls)
                .keepAliveTime(keepAlive.toMillis(), TimeUnit.MILLISECONDS)
                .keepAliveTimeout(keepAliveTimeout.toMillis(), TimeUnit.MILLISECONDS)
                .keepAliveWithoutCalls(true)
                .maxInboundMessageSize(MAX_INBOUND_MESSAGE_BYTES);
        InternalNettyChannelBuilder.setStatsEnabled(target, false);
        InternalNettyChannelBuilder.setTracingEnabled(target, false);
        return target;
    }
}
