package dev.edgeplane.controlplane.sync;

import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.join.CertificateAuthority;
import dev.edgeplane.controlplane.join.ClusterCa;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.nodes.NodeTracker;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.StateCaches;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;
import org.jboss.logging.Logger;

/**
 * The agents' endpoint: a grpc-java Netty server of its own (apart from the Quarkus HTTP port),
 * TLS with a certificate from the cluster CA presenting [leaf, CA], client certificates optional at
 * the handshake and required by Sync.
 */
@ApplicationScoped
public class AgentEndpoint {
    private static final Logger LOG = Logger.getLogger(AgentEndpoint.class);

    private final ControlPlaneConfig config;
    private final ClusterCa ca;
    private final AgentApi api;
    private final AssignmentIndex index;
    private Server server;

    public AgentEndpoint(ControlPlaneConfig config, ClusterCa ca, Joiner joiner, AssignmentIndex index,
                         NodeTracker tracker, StateCaches caches, EtcdStore store,
                         dev.edgeplane.controlplane.volumes.VolumeReports volumeReports) {
        this.config = config;
        this.ca = ca;
        this.index = index;
        this.api = new AgentApi(joiner, index, tracker, caches, store,
                new ConnectLimiter(config.agent().maxSyncOpensPerSecond(), System::nanoTime), volumeReports);
    }

    public synchronized void start() {
        CertificateAuthority authority = ca.get();
        Set<String> hosts = new LinkedHashSet<>();
        hosts.add(hostOf(config.agent().advertise()));
        hosts.add("localhost");
        hosts.add("127.0.0.1");
        CertificateAuthority.ServerIdentity identity = authority.issueServerCertificate(hosts);
        SslContext ssl;
        try {
            ssl = GrpcSslContexts.configure(SslContextBuilder.forServer(identity.key(), identity.certificate(), authority.certificate()))
                    .trustManager(authority.certificate())
                    .clientAuth(ClientAuth.OPTIONAL)
                    .build();
        } catch (SSLException e) {
            throw new IllegalStateException("cannot set up TLS for the agent endpoint", e);
        }
        api.start();
        InetSocketAddress address = new InetSocketAddress(config.agent().host(), config.agent().port());
        try {
            server = NettyServerBuilder.forAddress(address)
                    .sslContext(ssl)
                    .permitKeepAliveTime(5, TimeUnit.SECONDS)
                    .permitKeepAliveWithoutCalls(true)
                    // Our own pings: a silently dead agent link is found within 30 s and its node can go UNREACHABLE.
                    .keepAliveTime(20, TimeUnit.SECONDS)
                    .keepAliveTimeout(10, TimeUnit.SECONDS)
                    .addService(ServerInterceptors.intercept(api, PeerCertificates.interceptor()))
                    .build()
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot listen for agents on " + address, e);
        }
        LOG.infof("agent endpoint listening on %s (TLS, certificate for %s)", address, hosts);
    }

    /** The host part of "host:port" (IPv6 in brackets allowed). */
    static String hostOf(String hostPort) {
        String s = hostPort.trim();
        if (s.startsWith("[")) {
            int end = s.indexOf(']');
            return end > 0 ? s.substring(1, end) : s;
        }
        int colon = s.lastIndexOf(':');
        return colon > 0 && s.indexOf(':') == colon ? s.substring(0, colon) : s;
    }

    public int port() {
        return server == null ? -1 : server.getPort();
    }

    public synchronized void stop() {
        if (server == null) {
            return;
        }
        server.shutdown();
        index.abortAll(io.grpc.Status.UNAVAILABLE.withDescription("control plane shutting down; reconnect"));
        try {
            if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
                server.shutdownNow();
                server.awaitTermination(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.shutdownNow();
        }
        server = null;
    }
}
