package dev.edgeplane.controlplane.sync;

import com.sun.management.UnixOperatingSystemMXBean;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.api.SwappableKeyManager;
import dev.edgeplane.controlplane.join.CertificateAuthority;
import dev.edgeplane.controlplane.join.ClusterCa;
import dev.edgeplane.controlplane.join.CertificateRenewal;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.nodes.NodeTracker;
import dev.edgeplane.controlplane.secrets.SecretSealer;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.OpenSslSessionContext;
import io.netty.handler.ssl.OpenSslSessionStats;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;
import org.jboss.logging.Logger;

/**
 * The agents' endpoint: a grpc-java Netty server of its own (apart from the Quarkus HTTP port),
 * TLS with a certificate from the cluster CA presenting [leaf, CA], client certificates optional at
 * the handshake and required by Sync. Admission, cheapest first: the handshake gate at accept
 * ({@link HandshakeGate}), the bounded call pool ({@link BoundedCalls}), then the adaptive Sync
 * open limit ({@link ConnectLimiter}); every refusal carries a retry delay.
 */
@ApplicationScoped
public class AgentEndpoint {
    private static final Logger LOG = Logger.getLogger(AgentEndpoint.class);

    private final ControlPlaneConfig config;
    private final ClusterCa ca;
    private final AgentApi api;
    private final AssignmentIndex index;
    private final ConnectLimiter limiter;
    private final NodeTracker tracker;
    private final StateCaches caches;
    /** Hello deadlines of Sync streams; lives as long as the process (the API outlives endpoint restarts). */
    /** Hello deadlines and the server certificate's reissue. */
    private final ScheduledExecutorService helloTimers;
    private volatile SwappableKeyManager serverIdentity;
    private boolean followingCa;
    private volatile java.util.concurrent.ScheduledFuture<?> reissue;
    private Server server;
    private BoundedCalls calls;
    private volatile HandshakeGate gate;
    private EventLoopGroup boss;
    private EventLoopGroup workers;
    private SslProvider provider;
    private boolean apiStarted;
    private final EtcdStore store;
    private final SecretSealer sealer;
    /** Re-applies the session ticket keys at each rotation (OpenSSL only). */
    private volatile ScheduledFuture<?> ticketRotation;
    private volatile OpenSslSessionContext sessions;
    /** Resumed-session and issued-ticket counts of endpoint contexts stopped before (each context counts from zero). */
    private long resumedBefore;
    private long ticketsBefore;

    public AgentEndpoint(ControlPlaneConfig config, ClusterCa ca, Joiner joiner, CertificateRenewal renewal, AssignmentIndex index,
                         NodeTracker tracker, StateCaches caches, EtcdStore store,
                         dev.edgeplane.controlplane.volumes.VolumeReports volumeReports,
                         dev.edgeplane.controlplane.controllers.prefetch.PrefetchReports prefetchReports,
                         dev.edgeplane.controlplane.controllers.cronjob.EdgeCronJobRuns cronJobRuns,
                         SecretSealer sealer) {
        this.config = config;
        this.ca = ca;
        this.tracker = tracker;
        this.index = index;
        this.caches = caches;
        this.store = store;
        this.sealer = sealer;
        this.limiter = new ConnectLimiter(new ConnectLimiter.Settings(
                Math.min(64, config.agent().maxSyncOpensInFlight()), config.agent().maxSyncOpensInFlight(),
                config.agent().syncOpenTargetLatency(), config.agent().maxRetryDelay()),
                System::nanoTime, () -> ThreadLocalRandom.current().nextDouble());
        ScheduledThreadPoolExecutor timers = new ScheduledThreadPoolExecutor(1, new DefaultThreadFactory("agent-endpoint-timers", true));
        timers.setRemoveOnCancelPolicy(true); // almost every deadline is cancelled by its Hello: do not keep them queued
        this.helloTimers = timers;
        this.api = new AgentApi(joiner, renewal, ca, AgentApi.Limits.of(config.agent()), index, tracker, caches, store, limiter, volumeReports,
                prefetchReports, cronJobRuns, config.fanout().helloTimeout(), timers);
    }

    /** Sync streams admitted whose Hello is not served yet (what the connect limiter counts). */
    public int syncOpensInFlight() {
        return limiter.inFlight();
    }

    public synchronized void start() {
        start(tlsProvider(config.agent().tlsProvider()));
    }

    /** Stops and starts again with {@code tls} (HandshakeBench compares the providers on the real endpoint). */
    synchronized void restart(SslProvider tls) {
        stop();
        start(tls);
    }

    private void start(SslProvider tls) {
        CertificateAuthority authority = ca.get();
        Set<String> hosts = new LinkedHashSet<>();
        hosts.add(hostOf(config.agent().advertise()));
        hosts.add("localhost");
        hosts.add("127.0.0.1");
        serverIdentity = new SwappableKeyManager(issueServerIdentity(authority, hosts));
        provider = tls;
        javax.net.ssl.X509ExtendedTrustManager nodes = ca.nodeTrustManager(this::recordedCertificateHash);
        SslContext ssl;
        try {
            ssl = serverTls(serverIdentity, provider, nodes);
        } catch (SSLException e) {
            throw new IllegalStateException("cannot set up TLS for the agent endpoint", e);
        }
        String tickets = shareSessionTickets(ssl);
        if (!apiStarted) {
            api.start();
            apiStarted = true;
        }
        InetSocketAddress address = new InetSocketAddress(config.agent().host(), config.agent().port());
        ControlPlaneConfig.Agent agent = config.agent();
        calls = new BoundedCalls(agent.callThreads(), agent.maxQueuedTasks());
        int maxConnections = agent.maxConnections().orElseGet(() -> HandshakeGate.connectionsWithin(maxOpenFiles(), 512));
        // A slot is held a fifth of the longest wait at most (1 s by default): a resumed TLS 1.3 handshake takes
        // milliseconds, so a handshake past that waits on its client, and the waiting room should not.
        gate = new HandshakeGate(agent.maxConcurrentHandshakes(), agent.maxWaitingHandshakes(), agent.maxHandshakeWait(),
                Duration.ofMillis(Math.max(1, agent.maxHandshakeWait().toMillis() / 5)), maxConnections,
                () -> tracker.admissionBacklog(Duration.ZERO));
        boss = new NioEventLoopGroup(1, new DefaultThreadFactory("agent-accept", true));
        workers = new NioEventLoopGroup(0, new DefaultThreadFactory("agent-io", true));
        try {
            server = NettyServerBuilder.forAddress(address)
                    .sslContext(ssl)
                    // Accepting goes through the handshake gate (grpc-java has no public pipeline hook).
                    .channelFactory(gate.channelFactory())
                    .bossEventLoopGroup(boss)
                    .workerEventLoopGroup(workers)
                    .withOption(ChannelOption.SO_BACKLOG, agent.acceptBacklog())
                    .withOption(ChannelOption.SO_REUSEADDR, true)
                    // Handlers may wait on etcd: they run on BoundedCalls' pool, which refuses new calls when saturated.
                    .directExecutor()
                    .intercept(calls)
                    .maxInboundMessageSize(agent.maxInboundMessageBytes())
                    // Sync, Heartbeat, ReportMetrics, ReportEvents and a few ops tunnels per agent connection.
                    .maxConcurrentCallsPerConnection(64)
                    .permitKeepAliveTime(5, TimeUnit.SECONDS)
                    .permitKeepAliveWithoutCalls(true)
                    // Our own pings, only after keepalive-time of silence: a silently dead agent link is found
                    // and its node can go UNREACHABLE; a live agent's heartbeats keep them from being sent.
                    .keepAliveTime(config.agent().keepaliveTime().toMillis(), TimeUnit.MILLISECONDS)
                    .keepAliveTimeout(10, TimeUnit.SECONDS)
                    // A connection with no call (a joined host that never synced, a refused agent gone) is closed.
                    .maxConnectionIdle(5, TimeUnit.MINUTES)
                    .handshakeTimeout(30, TimeUnit.SECONDS)
                    .addService(ServerInterceptors.intercept(api, PeerCertificates.interceptor(nodes)))
                    .build()
                    .start();
        } catch (IOException e) {
            shutdownResources();
            throw new UncheckedIOException("cannot listen for agents on " + address, e);
        }
        scheduleReissue(hosts);
        if (!followingCa) {
            // A CA rollover's switch: the new signing CA issues the endpoint's certificate at once.
            ca.onChange(() -> {
                SwappableKeyManager identity = serverIdentity;
                if (identity != null && !ca.get().certificate().equals(identity.get().chain()[1])) {
                    identity.set(issueServerIdentity(ca.get(), hosts));
                    LOG.infof("reissued the agent endpoint's server certificate by the new signing CA %s", ca.get().hash());
                }
            });
            followingCa = true;
        }
        LOG.infof("agent endpoint listening on %s (TLS by %s, certificate for %s, %s; %d handshakes at once, %d connections at most, %d call threads)",
                address, provider, hosts, tickets, agent.maxConcurrentHandshakes(), maxConnections, agent.callThreads());
    }

    /**
     * With OpenSSL, gives {@code ssl} the session ticket keys every control-plane process derives from
     * the secret in etcd ({@link SessionTickets}) and re-applies them at each rotation, so agents resume
     * their sessions across restarts and replicas. The JDK provider's ticket keys are its own (random
     * per process): sessions resume only within one process. Returns what the listening line says.
     */
    private String shareSessionTickets(SslContext ssl) {
        if (!(ssl.sessionContext() instanceof OpenSslSessionContext context)) {
            return "session tickets this process's own";
        }
        byte[] secret = SessionTickets.secret(store, sealer);
        Duration rotation = config.agent().sessionTicketRotation();
        sessions = context;
        applyTicketKeys(context, secret, rotation);
        return "session tickets shared through etcd, keys rotated every " + rotation;
    }

    private void applyTicketKeys(OpenSslSessionContext context, byte[] secret, Duration rotation) {
        Instant now = Instant.now();
        context.setTicketKeys(SessionTickets.keysAt(secret, now, rotation));
        // A little past the boundary, so the clock has surely crossed it when the keys are derived again.
        long delayMs = Duration.between(now, SessionTickets.nextRotation(now, rotation)).toMillis() + 1_000;
        ticketRotation = helloTimers.schedule(() -> {
            if (sessions == context) {
                applyTicketKeys(context, secret, rotation);
            }
        }, delayMs, TimeUnit.MILLISECONDS);
    }

    /** Handshakes that resumed a session from a ticket, and tickets issued, since this process started (OpenSSL only). */
    public synchronized TicketCounts sessionTickets() {
        OpenSslSessionContext context = sessions;
        if (context == null) {
            return new TicketCounts(resumedBefore, ticketsBefore);
        }
        var stats = context.stats();
        return new TicketCounts(resumedBefore + resumed(stats), ticketsBefore + stats.ticketKeyNew());
    }

    /** Sessions resumed by the current key and, after a rotation, by a previous one (tcnative counts them apart). */
    private static long resumed(OpenSslSessionStats stats) {
        return stats.ticketKeyResume() + stats.ticketKeyRenew();
    }

    /** @param resumed handshakes that resumed a session from a ticket; @param issued tickets issued (each handshake gets some) */
    public record TicketCounts(long resumed, long issued) {}

    /** The handshake gate's counts since this process started (zeros before the endpoint listens). */
    public GateCounts gate() {
        HandshakeGate g = gate;
        return g == null ? new GateCounts(0, 0, 0, 0, 0)
                : new GateCounts(g.completed(), g.expired(), g.stalled(), g.acceptPauses(), g.waiting());
    }

    /**
     * @param handshakes connections whose TLS handshake ended (done, failed or closed) after the gate let them start
     * @param expired    connections closed unread: they waited past the longest wait for a handshake slot
     * @param stalled    handshakes that gave their slot up unfinished after the longest hold (their clients were quiet)
     * @param acceptPauses times accepting paused (new connections left in the kernel's listen backlog)
     * @param waiting    connections waiting now, unread, for a handshake slot
     */
    public record GateCounts(long handshakes, long expired, long stalled, long acceptPauses, int waiting) {}

    /**
     * The endpoint's TLS: presents whatever {@code identity} holds at each handshake (so the certificate
     * is reissued without a restart) and asks for a node certificate, optional because Join has none.
     */
    static SslContext serverTls(SwappableKeyManager identity, SslProvider provider, javax.net.ssl.TrustManager nodes) throws SSLException {
        // For OpenSSL behind netty's key material cache, keyed by alias (each identity has its own), so a
        // handshake does not convert the key and chain again.
        javax.net.ssl.KeyManagerFactory keys = provider == SslProvider.JDK ? identity.asFactory()
                : new io.netty.handler.ssl.OpenSslCachingX509KeyManagerFactory(identity.asFactory());
        return GrpcSslContexts.configure(SslContextBuilder.forServer(keys), provider)
                .trustManager(nodes)
                .clientAuth(ClientAuth.OPTIONAL)
                .build();
    }

    private SwappableKeyManager.Identity issueServerIdentity(CertificateAuthority authority, Set<String> hosts) {
        CertificateAuthority.ServerIdentity issued = authority.issueServerCertificate(hosts, Instant.now(),
                config.agent().serverCertificateValidity());
        return new SwappableKeyManager.Identity(issued.key(), new X509Certificate[] {issued.certificate(), authority.certificate()});
    }

    /**
     * Reissues the server certificate at two thirds of its validity, in place: new handshakes get the
     * new one, connected agents keep their connections.
     */
    private void scheduleReissue(Set<String> hosts) {
        X509Certificate current = serverIdentity.get().certificate();
        Duration lifetime = Duration.between(current.getNotBefore().toInstant(), current.getNotAfter().toInstant());
        Instant due = current.getNotBefore().toInstant().plus(lifetime.multipliedBy(2).dividedBy(3));
        long delayMs = Math.max(1_000, Duration.between(Instant.now(), due).toMillis());
        SwappableKeyManager identity = serverIdentity;
        reissue = helloTimers.schedule(() -> {
            try {
                identity.set(issueServerIdentity(ca.get(), hosts));
                LOG.infof("reissued the agent endpoint's server certificate; it expires at %s",
                        identity.get().certificate().getNotAfter().toInstant());
                scheduleReissue(hosts);
            } catch (RuntimeException e) {
                LOG.errorf(e, "cannot reissue the agent endpoint's server certificate; trying again in a minute");
                reissue = helloTimers.schedule(() -> scheduleReissue(hosts), 1, TimeUnit.MINUTES);
            }
        }, delayMs, TimeUnit.MILLISECONDS);
    }

    /** The certificate new agent connections are offered now. */
    X509Certificate serverCertificate() {
        return serverIdentity.get().certificate();
    }

    /** The sha256 of the certificate Join issued to {@code node}, as the informer has it; null if unknown. */
    private String recordedCertificateHash(String node) {
        Entry<Node> entry = caches.nodes().get(Keys.node(node));
        return entry == null ? null : Joiner.recordedCertificateHash(entry.value());
    }

    /** This process's limit on open files (RLIMIT_NOFILE), or a conservative guess where the JVM cannot tell. */
    private static long maxOpenFiles() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof UnixOperatingSystemMXBean unix) {
            return unix.getMaxFileDescriptorCount();
        }
        return 4096;
    }

    /** OpenSSL (BoringSSL, netty-tcnative) when asked or, for "auto", when its native library loads; else the JDK. */
    static SslProvider tlsProvider(String configured) {
        return switch (configured.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "jdk" -> SslProvider.JDK;
            case "openssl" -> {
                if (!OpenSsl.isAvailable()) {
                    throw new IllegalStateException("edgeplane.agent.tls-provider=openssl but netty-tcnative cannot load: "
                            + OpenSsl.unavailabilityCause());
                }
                yield SslProvider.OPENSSL;
            }
            case "auto" -> OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
            default -> throw new IllegalArgumentException("edgeplane.agent.tls-provider must be auto, openssl or jdk: " + configured);
        };
    }

    /** The TLS provider in use (after start). */
    public SslProvider provider() {
        return provider;
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
        shutdownResources();
    }

    private void shutdownResources() {
        if (ticketRotation != null) {
            ticketRotation.cancel(false);
            ticketRotation = null;
        }
        if (sessions != null) {
            var stats = sessions.stats();
            resumedBefore += resumed(stats);
            ticketsBefore += stats.ticketKeyNew();
            sessions = null;
        }
        if (reissue != null) {
            reissue.cancel(false);
            reissue = null;
        }
        if (calls != null) {
            calls.close();
            calls = null;
        }
        if (boss != null) {
            boss.shutdownGracefully(0, 2, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 2, TimeUnit.SECONDS);
            boss = null;
            workers = null;
        }
    }
}
