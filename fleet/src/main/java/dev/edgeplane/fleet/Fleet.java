package dev.edgeplane.fleet;

import dev.edgeplane.agent.sync.PatientConnect;
import dev.edgeplane.agent.sync.ReplaceableChannel;
import dev.edgeplane.agent.sync.SyncChannels;
import dev.edgeplane.api.SwappableKeyManager;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.JoinRequest;
import dev.edgeplane.api.v1.JoinResponse;
import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.Resources;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import javax.net.ssl.KeyManagerFactory;

/**
 * A fleet of simulated agents in this JVM: one shared epoll event loop group and one timer thread,
 * per agent only its state, its TLS context and its channel (a few tens of KiB). Controlled by
 * {@link FleetMain} through its commands; every figure is read through {@link #stats()}.
 */
public final class Fleet implements AutoCloseable {
    private static final int JOIN_ATTEMPTS = 30;

    private final FleetSettings settings;
    private final EpollEventLoopGroup group;
    /** The CA bundle Join gave last, and the trust manager every agent given it shares; guarded by this. */
    private ServerTrust serverTrust;
    private final ScheduledExecutorService timer;
    private final List<SimAgent> agents = new ArrayList<>();
    private final Identity[] identities;
    private final TemplateCache templates = new TemplateCache();
    private final Watches watches;
    private final RefusedDials refusedDials = new RefusedDials(System::nanoTime);
    /** Sync attempts that ended before an answer since the mark, by the root cause's class (a handful of kinds). */
    private final java.util.concurrent.ConcurrentMap<String, java.util.concurrent.atomic.LongAdder> failedSinceMark =
            new java.util.concurrent.ConcurrentHashMap<>();
    private volatile boolean metricsOn;
    private volatile Duration metricsHistory;
    private final AtomicInteger joined = new AtomicInteger();
    private final AtomicInteger joinFailures = new AtomicInteger();
    private final AtomicInteger joinRetries = new AtomicInteger();
    private final AtomicLong joinDoneAtMicros = new AtomicLong();
    private final AtomicReference<String> lastJoinError = new AtomicReference<>("");
    private volatile Thread joiner;
    private final AtomicBoolean prepared = new AtomicBoolean();

    public Fleet(FleetSettings settings) {
        this.settings = settings;
        this.group = new EpollEventLoopGroup(settings.eventLoops());
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "fleet-timer");
            t.setDaemon(true);
            return t;
        });
        for (int i = 0; i < settings.agents(); i++) {
            agents.add(new SimAgent(i, settings.nameOf(i), this));
        }
        this.watches = new Watches(agents);
        this.identities = new Identity[settings.agents()];
        this.metricsOn = settings.metrics();
        this.metricsHistory = settings.metricsHistory();
    }

    /** Makes every agent's key and CSR (on its own host this costs the control plane nothing, so not timed). */
    public void prepare() {
        IntStream.range(0, agents.size()).parallel().forEach(i -> identities[i] = Identity.generate(agents.get(i).name));
        prepared.set(true);
    }

    /**
     * Joins every agent through the real Join RPC, {@code joinConcurrency} at a time, each on its own
     * server-authenticated TLS connection; a joined agent gets its mutual-TLS channel (not dialled yet).
     * Returns at once; {@link #stats()} tells the progress.
     */
    public void joinAll() throws Exception {
        SslContext joinTls = GrpcSslContexts.forClient().trustManager(InsecureTrustManagerFactory.INSTANCE).build();
        Semaphore inFlight = new Semaphore(settings.joinConcurrency());
        joiner = new Thread(() -> {
            try {
                for (SimAgent agent : agents) {
                    inFlight.acquire();
                    join(agent, joinTls, 0, inFlight::release);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "fleet-joiner");
        joiner.setDaemon(true);
        joiner.start();
    }

    private void join(SimAgent agent, SslContext joinTls, int attempt, Runnable done) {
        Identity identity = identities[agent.index];
        ManagedChannel joinChannel = channel(settings.joinAddress(), joinTls, null);
        JoinRequest request = JoinRequest.newBuilder().setToken(settings.token()).setCsrPem(identity.csrPem())
                .setNodeName(agent.name).setInfo(nodeInfo(agent.name)).build();
        AgentServiceGrpc.newStub(joinChannel).withDeadlineAfter(60, TimeUnit.SECONDS).join(request, new StreamObserver<>() {
            @Override
            public void onNext(JoinResponse response) {
                try {
                    // The agent's own key manager, not keyManager(key, chain): that one stores the key in a
                    // PKCS#12 key store, encrypted and decrypted again with PBKDF2, ~7 ms of CPU an agent
                    // (42% of the simulator's CPU in a join storm, on the cores the control plane needs).
                    KeyManagerFactory keys = new SwappableKeyManager(new SwappableKeyManager.Identity(
                            identity.key().getPrivate(), Identity.certificates(response.getCertificatePem()))).asFactory();
                    SslContext tls = GrpcSslContexts.forClient().trustManager(serverTrust(response.getCaBundlePem()))
                            .keyManager(keys).sessionTimeout(settings.timings().tlsSessionLifetime().toSeconds()).build();
                    agent.joined(new ReplaceableChannel(() -> channel(response.getSyncEndpoint(), tls, agent)));
                    identities[agent.index] = null;
                    joined.incrementAndGet();
                    joinDoneAtMicros.accumulateAndGet(SimAgent.nowMicros(), Math::max);
                } catch (Exception e) {
                    joinFailures.incrementAndGet();
                    lastJoinError.set(agent.name + ": " + e);
                }
            }

            @Override
            public void onError(Throwable t) {
                joinChannel.shutdownNow();
                Status status = Status.fromThrowable(t);
                // ABORTED: the join raced others on the same token ("retry"), as a provisioning script would.
                boolean transientError = status.getCode() == Status.Code.UNAVAILABLE || status.getCode() == Status.Code.ABORTED
                        || status.getCode() == Status.Code.RESOURCE_EXHAUSTED || status.getCode() == Status.Code.DEADLINE_EXCEEDED;
                if (transientError && attempt + 1 < JOIN_ATTEMPTS) {
                    joinRetries.incrementAndGet();
                    long delay = SimAgent.retryInfoMillis(t);
                    if (delay < 0) {
                        delay = settings.timings().retryDelayMillis(attempt, ThreadLocalRandom.current());
                    }
                    timer.schedule(() -> join(agent, joinTls, attempt + 1, done), delay, TimeUnit.MILLISECONDS);
                    return;
                }
                joinFailures.incrementAndGet();
                lastJoinError.set(agent.name + ": " + status.getCode() + " " + status.getDescription());
                done.run();
            }

            @Override
            public void onCompleted() {
                joinChannel.shutdownNow();
                done.run();
            }
        });
    }

    private record ServerTrust(String caBundlePem, VerifiedServerChains chains) {}

    /** One remembering trust manager for every agent given this CA bundle (Join hands all of them the same one). */
    private synchronized VerifiedServerChains serverTrust(String caBundlePem) {
        ServerTrust current = serverTrust;
        if (current == null || !current.caBundlePem().equals(caBundlePem)) {
            current = new ServerTrust(caBundlePem, VerifiedServerChains.trusting(Identity.certificates(caBundlePem)));
            serverTrust = current;
        }
        return current.chains();
    }

    /**
     * A channel as the agent builds it, on the shared event loop; {@code owner} (if any) learns each TCP
     * connection. The endpoint's address is resolved once, here: the agent resolves its name on every
     * reconnect, and in the simulator gRPC's resolver and proxy detection on each of 10,000 reconnects
     * were ~5% of its CPU. The authority (TLS host name check) stays the endpoint's host.
     */
    private ManagedChannel channel(String hostPort, SslContext tls, SimAgent owner) {
        int colon = hostPort.lastIndexOf(':');
        InetSocketAddress endpoint = new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
        io.netty.channel.ChannelFactory<EpollSocketChannel> sockets = () -> {
            EpollSocketChannel socket = PatientConnect.newChannel(); // as the agent's
            // With a source address, the port is picked at connect() (by the whole 4-tuple), not at bind():
            // a bind to port 0 searched the source address's used ports for a free one, ~18% of the
            // simulators' CPU at 9,500 agents an address (the kernel's inet_bhash2_conflict).
            socket.config().setIpBindAddressNoPort(settings.sourceAddress().isPresent());
            if (owner != null) {
                owner.socket = socket;
            }
            return socket;
        };
        NettyChannelBuilder builder = SyncChannels.configure(NettyChannelBuilder.forAddress(endpoint), group, sockets, tls,
                        settings.timings().keepAlive(), settings.timings().keepAliveTimeout())
                .directExecutor(); // every callback is short and never blocks: no thread per burst
        settings.sourceAddress().ifPresent(source ->
                builder.localSocketPicker(new NettyChannelBuilder.LocalSocketPicker() {
                    @Override
                    public java.net.SocketAddress createSocketAddress(java.net.SocketAddress remote, io.grpc.Attributes attrs) {
                        return new InetSocketAddress(source, 0);
                    }
                }));
        return builder.build();
    }

    /** Every joined agent opens its Sync stream now (as a fleet that boots at once). */
    public void connectAll() {
        for (SimAgent agent : agents) {
            agent.connect();
        }
    }

    public void setMetrics(boolean on) {
        metricsOn = on;
        for (SimAgent agent : agents) {
            if (on) {
                agent.startMetrics();
            } else {
                agent.stopMetrics();
            }
        }
    }

    public void setMetricsHistory(Duration history) {
        metricsHistory = history;
    }

    /** Marks now: "since the mark" figures (resumes, snapshots, bytes) count from here. */
    public long mark() {
        long now = SimAgent.nowMicros();
        agents.forEach(a -> a.mark(now));
        failedSinceMark.clear();
        return now;
    }

    /** A Sync attempt ended before an answer, for this root cause (its class: ConnectException, SslHandshakeTimeoutException...). */
    void attemptFailed(String cause) {
        failedSinceMark.computeIfAbsent(cause, k -> new java.util.concurrent.atomic.LongAdder()).increment();
    }

    /** Agents [from, to) of this JVM lose their link abruptly and stay offline until healed. */
    public int partition(int from, int to) {
        int n = 0;
        for (int i = Math.max(0, from); i < Math.min(to, agents.size()); i++) {
            agents.get(i).partition();
            n++;
        }
        return n;
    }

    public int heal() {
        int n = 0;
        for (SimAgent a : agents) {
            if (a.isPartitioned()) {
                a.heal();
                n++;
            }
        }
        return n;
    }

    public void watch(String id, String namespace, String app, String image) {
        watches.add(id, namespace, app, image);
    }

    public long[] watchTimes(String id) {
        return watches.times(id);
    }

    public int watchCount(String id) {
        return watches.count(id);
    }

    public void unwatch(String id) {
        watches.remove(id);
    }

    /** One digest per agent (see SimAgent.digest), joined by ';'. */
    public String digest() {
        StringBuilder out = new StringBuilder();
        for (SimAgent a : agents) {
            if (out.length() > 0) {
                out.append(';');
            }
            out.append(a.digest());
        }
        return out.toString();
    }

    /** Every figure as key=value pairs; the last problem seen, if any, last (it may contain spaces). */
    public String stats() {
        long established = 0, sinceMark = 0, lastSinceMark = 0, firstAll = 0, snapshots = 0, changes = 0, bytes = 0;
        long snapshotsSince = 0, changesSince = 0, bytesSince = 0, resumes = 0, resumesSince = 0, refused = 0, errors = 0, dialsSkipped = 0;
        long syncAttempts = 0, syncAttemptsFailed = 0;
        String attemptFailure = "";
        long heartbeatsOk = 0, heartbeatsFailed = 0, heartbeatsOnSync = 0, statusReports = 0, events = 0, metricsAcked = 0, partitioned = 0;
        long ackedMin = Long.MAX_VALUE, ackedMax = 0, desired = 0, everEstablished = 0;
        String problem = "";
        for (SimAgent a : agents) {
            synchronized (a) {
                if (a.established()) {
                    established++;
                }
                if (a.establishedSinceMark()) {
                    sinceMark++;
                    lastSinceMark = Math.max(lastSinceMark, a.establishedAtMicros);
                }
                if (a.firstEstablishedAtMicros > 0) {
                    everEstablished++;
                    firstAll = Math.max(firstAll, a.firstEstablishedAtMicros);
                }
                snapshots += a.snapshots;
                changes += a.changes;
                bytes += a.bytes;
                snapshotsSince += a.snapshots - a.mark.snapshots();
                changesSince += a.changes - a.mark.changes();
                bytesSince += a.bytes - a.mark.bytes();
                resumes += a.resumes;
                resumesSince += a.resumes - a.mark.resumes();
                refused += a.refusedBusy;
                dialsSkipped += a.dialsSkipped;
                syncAttempts += a.syncAttempts;
                syncAttemptsFailed += a.syncAttemptsFailed;
                if (!a.lastAttemptFailure.isEmpty()) {
                    attemptFailure = a.lastAttemptFailure;
                }
                errors += a.protocolErrors;
                heartbeatsOk += a.heartbeatsOk;
                heartbeatsFailed += a.heartbeatsFailed;
                heartbeatsOnSync += a.heartbeatsOnSync;
                statusReports += a.statusReports;
                events += a.eventReportsAcked;
                metricsAcked += a.metricsBatchesAcked;
                partitioned += a.isPartitioned() ? 1 : 0;
                ackedMin = Math.min(ackedMin, a.acked());
                ackedMax = Math.max(ackedMax, a.acked());
                desired += a.desiredCount();
                if (!a.lastProblem.isEmpty()) {
                    problem = a.name + ": " + a.lastProblem;
                }
            }
        }
        if (problem.isEmpty() && !lastJoinError.get().isEmpty()) {
            problem = "join " + lastJoinError.get();
        }
        return "agents=" + agents.size() + " prepared=" + (prepared.get() ? 1 : 0)
                + " joined=" + joined.get() + " join_failures=" + joinFailures.get() + " join_retries=" + joinRetries.get()
                + " join_done_at_us=" + joinDoneAtMicros.get()
                + " established=" + established + " ever_established=" + everEstablished
                + " all_first_established_at_us=" + (everEstablished == agents.size() ? firstAll : 0)
                + " established_since_mark=" + sinceMark + " last_established_since_mark_at_us=" + lastSinceMark
                + " snapshots=" + snapshots + " changes=" + changes + " bytes=" + bytes
                + " snapshots_since_mark=" + snapshotsSince + " changes_since_mark=" + changesSince + " bytes_since_mark=" + bytesSince
                + " resumes=" + resumes + " resumes_since_mark=" + resumesSince + " refused=" + refused + " dials_skipped=" + dialsSkipped
                + " sync_attempts=" + syncAttempts + " sync_attempts_failed=" + syncAttemptsFailed
                + " last_attempt_failure=" + (attemptFailure.isEmpty() ? "-" : attemptFailure.replaceAll("\\s+", "_"))
                + " failed_since_mark_by_cause=" + (failedSinceMark.isEmpty() ? "-" : new java.util.TreeMap<>(failedSinceMark).toString()
                        .replaceAll("[{} ]", ""))
                + " protocol_errors=" + errors + " heartbeats_ok=" + heartbeatsOk + " heartbeats_failed=" + heartbeatsFailed + " heartbeats_on_sync=" + heartbeatsOnSync
                + " status_reports=" + statusReports + " event_reports_acked=" + events + " metrics_batches_acked=" + metricsAcked
                + " partitioned=" + partitioned + " templates=" + templates.size()
                + " acked_min=" + (ackedMin == Long.MAX_VALUE ? 0 : ackedMin) + " acked_max=" + ackedMax + " desired=" + desired
                + " problem=" + problem.replace('\n', ' ');
    }

    // --- what the agents share

    NodeInfo nodeInfo(String name) {
        return NodeInfo.newBuilder().setHostname(name).setOs("linux").setArch("amd64").setKernelVersion("6.1.0-sim")
                .setAgentVersion("simulated").setContainerRuntimeVersion("containerd 1.6.20 (simulated)")
                .setCapacity(Resources.newBuilder().setCpuMillis(4000).setMemoryBytes(8L << 30)).build();
    }

    AgentTimings timings() {
        return settings.timings();
    }

    RefusedDials refusedDials() {
        return refusedDials;
    }

    ScheduledExecutorService timer() {
        return timer;
    }

    TemplateCache templates() {
        return templates;
    }

    Watches watches() {
        return watches;
    }

    boolean metricsOn() {
        return metricsOn;
    }

    Duration metricsHistory() {
        return metricsHistory;
    }

    boolean eventsOn() {
        return settings.events();
    }

    @Override
    public void close() {
        Thread j = joiner;
        if (j != null) {
            j.interrupt();
        }
        timer.shutdownNow();
        agents.forEach(SimAgent::close);
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
    }
}
