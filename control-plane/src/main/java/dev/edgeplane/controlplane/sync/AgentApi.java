package dev.edgeplane.controlplane.sync;

import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.HeartbeatAck;
import dev.edgeplane.api.v1.JoinRequest;
import dev.edgeplane.api.v1.JoinResponse;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.SyncRequest;
import dev.edgeplane.api.v1.SyncResponse;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.api.RetryLater;
import dev.edgeplane.controlplane.join.ClusterCa;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.nodes.NodeTracker;
import dev.edgeplane.controlplane.ratelimit.KeyedTokenBuckets;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.store.StoreException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * AgentService, served only on the agent endpoint (mutual TLS optional at the handshake): Join needs
 * no client certificate; Sync requires one issued by the cluster CA, takes the node's name from its
 * CN, and accepts it only while it is the certificate recorded on the Node (a deleted or re-joined
 * node's old certificate is refused).
 */
public final class AgentApi extends AgentServiceGrpc.AgentServiceImplBase {
    private static final Logger LOG = Logger.getLogger(AgentApi.class);
    private static final java.util.regex.Pattern CERTIFICATE_HASH = java.util.regex.Pattern.compile("sha256:[0-9a-f]{64}");

    private final dev.edgeplane.controlplane.join.CertificateRenewal renewal;
    private final Limits limits;
    private final ClusterCa ca;
    private final Joiner joiner;
    private final AssignmentIndex index;
    private final NodeTracker tracker;
    private final StateCaches caches;
    private final EtcdStore store;
    private final ConnectLimiter limiter;
    private final dev.edgeplane.controlplane.volumes.VolumeReports volumeReports;
    private final dev.edgeplane.controlplane.controllers.prefetch.PrefetchReports prefetchReports;
    private final dev.edgeplane.controlplane.controllers.cronjob.EdgeCronJobRuns cronJobRuns;
    private final Clock clock = Clock.systemUTC();
    private final Duration helloTimeout;
    private final ScheduledExecutorService timers;
    /** At most this many connect/disconnect lines at INFO per interval; the rest in one summary line. */
    private static final int CONNECTION_LOG_LINES = 20;
    private static final Duration CONNECTION_LOG_INTERVAL = Duration.ofSeconds(10);
    private final ConnectionLog connections;

    /** Per-caller budgets: all joins (one key), refused joins by address, Sync opens by node. */
    public record Limits(KeyedTokenBuckets joins, KeyedTokenBuckets joinFailures, KeyedTokenBuckets syncOpens) {
        public static Limits of(ControlPlaneConfig.Agent config) {
            return new Limits(
                    new KeyedTokenBuckets(new KeyedTokenBuckets.Rate(config.joinRate(), (int) Math.max(1, 2 * config.joinRate())), 1, System::nanoTime),
                    new KeyedTokenBuckets(new KeyedTokenBuckets.Rate(config.joinFailuresPerAddress(), 20), 100_000, System::nanoTime),
                    new KeyedTokenBuckets(new KeyedTokenBuckets.Rate(config.syncOpensPerNodePerMinute() / 60.0, 10), 200_000, System::nanoTime));
        }
    }

    public AgentApi(Joiner joiner, dev.edgeplane.controlplane.join.CertificateRenewal renewal, ClusterCa ca, Limits limits, AssignmentIndex index, NodeTracker tracker, StateCaches caches, EtcdStore store,
                    ConnectLimiter limiter, dev.edgeplane.controlplane.volumes.VolumeReports volumeReports,
                    dev.edgeplane.controlplane.controllers.prefetch.PrefetchReports prefetchReports,
                    dev.edgeplane.controlplane.controllers.cronjob.EdgeCronJobRuns cronJobRuns, Duration helloTimeout, ScheduledExecutorService timers) {
        this.limiter = limiter;
        this.helloTimeout = helloTimeout;
        this.timers = timers;
        this.connections = new ConnectionLog(timers, CONNECTION_LOG_INTERVAL, CONNECTION_LOG_LINES);
        this.volumeReports = volumeReports;
        this.prefetchReports = prefetchReports;
        this.cronJobRuns = cronJobRuns;
        this.joiner = joiner;
        this.renewal = renewal;
        this.ca = ca;
        this.limits = limits;
        this.index = index;
        this.tracker = tracker;
        this.caches = caches;
        this.store = store;
    }

    /** Ends the streams of nodes that were deleted or re-joined with a new certificate. */
    public void start() {
        caches.nodes().subscribe(new PrefixCache.Listener<>() {
            @Override
            public void onEvents(List<PrefixCache.Event<Node>> events, long revision) {
                for (PrefixCache.Event<Node> event : events) {
                    String name = Keys.suffix(event.key(), Keys.NODES);
                    Node node = event instanceof PrefixCache.Put<Node> put ? put.entry().value() : null;
                    if (node == null) {
                        limits.syncOpens().forget(name);
                    }
                    for (SyncSession session : index.sessionsOf(name)) {
                        if (node == null || !Joiner.acceptsCertificate(node, session.certificateHash())) {
                            LOG.infof("closing the Sync stream of %s: its certificate is no longer accepted", name);
                            abort(session, Status.UNAUTHENTICATED.withDescription(
                                    "node " + name + " was deleted or re-joined; this certificate is no longer accepted"));
                        }
                    }
                }
            }

            @Override
            public void onReset(Map<String, Entry<Node>> state, long revision) {}
        });
    }

    @Override
    public void join(JoinRequest request, StreamObserver<JoinResponse> responseObserver) {
        String address = PeerCertificates.host(PeerCertificates.REMOTE_ADDRESS.get());
        Duration wait = limits.joinFailures().wait(address);
        if (!wait.isZero()) {
            responseObserver.onError(RetryLater.resourceExhausted("too many refused joins from " + address
                    + " (edgeplane.agent.join-failures-per-address)", wait));
            return;
        }
        wait = limits.joins().take("");
        if (!wait.isZero()) {
            responseObserver.onError(RetryLater.resourceExhausted("too many joins at once (edgeplane.agent.join-rate)", wait));
            return;
        }
        try {
            responseObserver.onNext(joiner.join(request));
            responseObserver.onCompleted();
        } catch (StatusRuntimeException e) {
            LOG.infof("join from %s refused: %s", address, e.getStatus().getDescription());
            if (e.getStatus().getCode() != Status.Code.ABORTED) {
                limits.joinFailures().take(address); // a refusal of the caller's making
            }
            responseObserver.onError(e);
        } catch (StoreException e) {
            responseObserver.onError(Status.UNAVAILABLE.withDescription(e.getMessage()).asRuntimeException());
        } catch (RuntimeException e) {
            LOG.error("join failed", e);
            responseObserver.onError(Status.INTERNAL.withDescription("join failed: " + e.getMessage()).asRuntimeException());
        }
    }

    @Override
    public void renewNodeCertificate(dev.edgeplane.api.v1.RenewNodeCertificateRequest request,
                                     StreamObserver<dev.edgeplane.api.v1.RenewNodeCertificateResponse> responseObserver) {
        try {
            java.net.SocketAddress remote = PeerCertificates.REMOTE_ADDRESS.get();
            responseObserver.onNext(renewal.renew(request, PeerCertificates.CLIENT_CERTIFICATE.get(), remote == null ? "" : remote.toString()));
            responseObserver.onCompleted();
        } catch (StatusRuntimeException e) {
            responseObserver.onError(e);
        } catch (StoreException e) {
            responseObserver.onError(Status.UNAVAILABLE.withDescription(e.getMessage()).asRuntimeException());
        } catch (RuntimeException e) {
            LOG.error("certificate renewal failed", e);
            responseObserver.onError(Status.INTERNAL.withDescription("certificate renewal failed: " + e.getMessage()).asRuntimeException());
        }
    }

    @Override
    public StreamObserver<SyncRequest> sync(StreamObserver<SyncResponse> responseObserver) {
        PeerCertificates.NodePeer peer = PeerCertificates.NODE_PEER.get();
        if (peer == null) {
            responseObserver.onError(Status.UNAUTHENTICATED
                    .withDescription("Sync requires mutual TLS with the node certificate issued by Join").asRuntimeException());
            return ignoring();
        }
        // The per-node budget first: the certificate's CN is authentic (the handshake checked the CA's
        // signature), so one node reconnecting in a loop cannot use up the fleet's admission slots.
        String node = peer.node();
        Duration nodeWait = limits.syncOpens().take(node);
        if (!nodeWait.isZero()) {
            responseObserver.onError(RetryLater.resourceExhausted("node " + node + " opens Sync streams too often "
                    + "(edgeplane.agent.sync-opens-per-node-per-minute)", nodeWait));
            return ignoring();
        }
        ConnectLimiter.Decision decision = limiter.admit();
        if (decision instanceof ConnectLimiter.Refused refused) {
            tracker.admissionBacklog(refused.retryAfter());
            responseObserver.onError(RetryLater.resourceExhausted("too many agents connecting at once ("
                    + refused.backlog() + " told to come back before this one)", refused.retryAfter()));
            return ignoring();
        }
        // Held until the Hello is served (or the stream ends first): what the admission limit counts.
        ConnectLimiter.Permit permit = ((ConnectLimiter.Admitted) decision).permit();
        String hash = peer.certificateHash();
        Optional<String> refusal = refusal(node, hash);
        if (refusal.isPresent()) {
            permit.release();
            LOG.infof("refused Sync from %s: %s", node, refusal.get());
            responseObserver.onError(Status.UNAUTHENTICATED.withDescription(refusal.get()).asRuntimeException());
            return ignoring();
        }
        SyncSession session = index.session(node, hash, responseObserver);
        // A stream that never says Hello must not hold its admission slot (nor its session) forever.
        ScheduledFuture<?> helloDeadline = timers.schedule(() -> {
            if (session.markHello()) { // claims the Hello: one arriving after this is ignored
                permit.abandon();
                LOG.infof("closing the Sync stream of %s: no Hello within %s", node, helloTimeout);
                session.abort(Status.DEADLINE_EXCEEDED.withDescription("no Hello within edgeplane.fanout.hello-timeout="
                        + helloTimeout.toMillis() + "ms: a Sync stream must open with a Hello"));
                end(session, false, false);
            }
        }, helloTimeout.toMillis(), TimeUnit.MILLISECONDS);
        if (responseObserver instanceof ServerCallStreamObserver<SyncResponse> call) {
            call.setOnCancelHandler(() -> {
                helloDeadline.cancel(false);
                permit.release();
                end(session, false, session.helloSeen());
            });
        }
        return new StreamObserver<>() {
            @Override
            public void onNext(SyncRequest request) {
                switch (request.getKindCase()) {
                    case HELLO -> {
                        if (!session.markHello()) {
                            return;
                        }
                        helloDeadline.cancel(false);
                        Optional<StatusRuntimeException> invalid = invalidTemplateHashes(request.getHello().getTemplateHashesList())
                                .or(() -> invalidHeldConfigs(request.getHello().getHeldConfigsList()))
                                .or(() -> invalidConditions("hello.info.conditions", request.getHello().getInfo().getConditionsList()))
                                .or(() -> invalidPolicy("hello.info.workload_policy", request.getHello().getInfo().getWorkloadPolicy()));
                        if (invalid.isPresent()) {
                            LOG.infof("refused the Hello of %s: %s", node, invalid.get().getStatus().getDescription());
                            session.abort(invalid.get());
                            end(session, false);
                            return;
                        }
                        session.agentHolds(request.getHello().getTemplateHashesList());
                        session.agentHoldsConfigs(request.getHello().getHeldConfigsList());
                        for (SyncSession older : index.sessionsOf(node)) {
                            // The agent reconnected before its old stream was seen to die: one stream per node.
                            abort(older, Status.ABORTED.withDescription("replaced by a newer Sync stream of node " + node));
                        }
                        long last = request.getHello().getLastAppliedRevision();
                        try {
                            tracker.connected(node, request.getHello().getInfo(), last);
                            connections.connected(node, last, new Resumer(index, store).open(session, last));
                        } finally {
                            permit.release();
                        }
                    }
                    case ACK -> {
                        long acked = session.ack(request.getAck().getRevision());
                        tracker.acked(node, acked);
                        index.cursors().acked(node, acked);
                    }
                    case STATUS -> {
                        tracker.report(node, request.getStatus());
                        volumeReports.report(node, request.getStatus());
                        prefetchReports.report(node, request.getStatus());
                        cronJobRuns.report(node, request.getStatus());
                    }
                    // Deprecated (agents now use ReportEvents): still logged for older agents.
                    case EVENTS -> {
                        for (dev.edgeplane.api.v1.AgentEvent e : request.getEvents().getEventsList()) {
                            LOG.infof("event from node %s at %s: %s %s: %s", node,
                                    Joiner.toInstant(e.getTime()), e.getType(), e.getReason(), e.getMessage());
                        }
                        if (request.getEvents().getDropped() > 0) {
                            LOG.warnf("node %s dropped %d events while it could not send them", node, request.getEvents().getDropped());
                        }
                    }
                    case HEARTBEAT -> {
                        Optional<StatusRuntimeException> invalid = invalidConditions("heartbeat.conditions",
                                request.getHeartbeat().getConditionsList());
                        if (invalid.isPresent()) {
                            LOG.infof("refused a heartbeat of %s: %s", node, invalid.get().getStatus().getDescription());
                            session.abort(invalid.get());
                            end(session, false);
                            return;
                        }
                        tracker.heartbeat(node, request.getHeartbeat());
                        session.sendControl(SyncResponse.newBuilder()
                                .setHeartbeatAck(HeartbeatAck.newBuilder().setTime(Joiner.timestamp(clock.instant())))
                                .build());
                    }
                    default -> LOG.debugf("ignoring an empty SyncRequest from %s", node);
                }
            }

            @Override
            public void onError(Throwable t) {
                end(session, false);
            }

            @Override
            public void onCompleted() {
                end(session, true);
            }

            private void end(SyncSession s, boolean complete) {
                helloDeadline.cancel(false);
                permit.release();
                AgentApi.this.end(s, complete, s.helloSeen());
            }
        };
    }

    /** At most this many template hashes in a Hello. */
    static final int MAX_HELLO_TEMPLATE_HASHES = 1024;

    /** INVALID_ARGUMENT naming hello.template_hashes when there are too many or one is not a template hash. */
    static Optional<StatusRuntimeException> invalidTemplateHashes(List<String> hashes) {
        if (hashes.size() > MAX_HELLO_TEMPLATE_HASHES) {
            return Optional.of(dev.edgeplane.controlplane.api.Validation.invalid("hello.template_hashes",
                    hashes.size() + " hashes; at most " + MAX_HELLO_TEMPLATE_HASHES));
        }
        for (int i = 0; i < hashes.size(); i++) {
            if (!dev.edgeplane.api.TemplateHashes.isWellFormed(hashes.get(i))) {
                return Optional.of(dev.edgeplane.controlplane.api.Validation.invalid("hello.template_hashes[" + i + "]",
                        "is not a template hash (\"sha256:\" and 64 lower-case hex digits)"));
            }
        }
        return Optional.empty();
    }

    /** At most this many ConfigMaps and Secrets in a Hello. */
    static final int MAX_HELLO_CONFIGS = 1024;

    /** INVALID_ARGUMENT naming hello.held_configs when there are too many, or one is not a reference without data. */
    static Optional<StatusRuntimeException> invalidHeldConfigs(List<ConfigData> held) {
        if (held.size() > MAX_HELLO_CONFIGS) {
            return Optional.of(dev.edgeplane.controlplane.api.Validation.invalid("hello.held_configs",
                    held.size() + " objects; at most " + MAX_HELLO_CONFIGS));
        }
        for (int i = 0; i < held.size(); i++) {
            ConfigData data = held.get(i);
            String field = "hello.held_configs[" + i + "]";
            if (!dev.edgeplane.controlplane.api.Validation.isDnsLabel(data.getNamespace())) {
                return Optional.of(dev.edgeplane.controlplane.api.Validation.invalid(field + ".namespace", "must be a DNS-1123 label"));
            }
            if (data.getRef().getKind() != ConfigRef.Kind.CONFIG_MAP && data.getRef().getKind() != ConfigRef.Kind.SECRET) {
                return Optional.of(dev.edgeplane.controlplane.api.Validation.invalid(field + ".ref.kind", "must be CONFIG_MAP or SECRET"));
            }
            if (!dev.edgeplane.controlplane.api.Validation.isDnsLabel(data.getRef().getName())) {
                return Optional.of(dev.edgeplane.controlplane.api.Validation.invalid(field + ".ref.name", "must be a DNS-1123 label"));
            }
            if (data.getDataCount() > 0) {
                return Optional.of(dev.edgeplane.controlplane.api.Validation.invalid(field + ".data", "a Hello names objects; it carries no data"));
            }
        }
        return Optional.empty();
    }

    /** The node conditions an agent may report; they are written on the Node, so they are bounded. */
    static final Set<String> NODE_CONDITION_TYPES = Set.of("MemoryPressure", "DiskPressure", "RuntimeUnreachable");
    static final int MAX_CONDITION_MESSAGE_BYTES = 256;

    /** INVALID_ARGUMENT naming the field when a condition is unknown, repeated or its message too long. */
    static Optional<StatusRuntimeException> invalidConditions(String field, List<dev.edgeplane.api.v1.NodeCondition> conditions) {
        if (conditions.size() > NODE_CONDITION_TYPES.size()) {
            return Optional.of(dev.edgeplane.controlplane.api.Validation.invalid(field,
                    conditions.size() + " conditions; at most " + NODE_CONDITION_TYPES.size()));
        }
        Set<String> seen = new java.util.HashSet<>();
        for (int i = 0; i < conditions.size(); i++) {
            dev.edgeplane.api.v1.NodeCondition c = conditions.get(i);
            if (!NODE_CONDITION_TYPES.contains(c.getType()) || !seen.add(c.getType())) {
                return Optional.of(dev.edgeplane.controlplane.api.Validation.invalid(field + "[" + i + "].type",
                        "must be one of " + new java.util.TreeSet<>(NODE_CONDITION_TYPES) + ", each at most once"));
            }
            if (c.getMessage().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_CONDITION_MESSAGE_BYTES) {
                return Optional.of(dev.edgeplane.controlplane.api.Validation.invalid(field + "[" + i + "].message",
                        "at most " + MAX_CONDITION_MESSAGE_BYTES + " bytes"));
            }
        }
        return Optional.empty();
    }

    static final int MAX_POLICY_HOST_PATHS = 64;
    static final int MAX_POLICY_HOST_PATH_CHARS = 1024;

    /** INVALID_ARGUMENT naming the field when the agent's policy lists too many, too long or relative host paths. */
    static Optional<StatusRuntimeException> invalidPolicy(String field, dev.edgeplane.api.v1.WorkloadPolicy policy) {
        if (policy.getAllowedHostPathsCount() > MAX_POLICY_HOST_PATHS) {
            return Optional.of(dev.edgeplane.controlplane.api.Validation.invalid(field + ".allowed_host_paths",
                    policy.getAllowedHostPathsCount() + " paths; at most " + MAX_POLICY_HOST_PATHS));
        }
        for (int i = 0; i < policy.getAllowedHostPathsCount(); i++) {
            String path = policy.getAllowedHostPaths(i);
            if (!path.startsWith("/") || path.length() > MAX_POLICY_HOST_PATH_CHARS) {
                return Optional.of(dev.edgeplane.controlplane.api.Validation.invalid(field + ".allowed_host_paths[" + i + "]",
                        "must be an absolute path of at most " + MAX_POLICY_HOST_PATH_CHARS + " characters"));
            }
        }
        return Optional.empty();
    }

    /** Ends a stream from the server side; the call's own callbacks will not run, so clean up here. */
    private void abort(SyncSession session, Status status) {
        session.abort(status);
        end(session, false, session.helloSeen());
    }

    private void end(SyncSession session, boolean complete, boolean connected) {
        if (!session.markEnded()) {
            return;
        }
        index.close(session);
        if (connected) {
            tracker.disconnected(session.node());
            connections.disconnected(session.node(), session.acked());
        }
        if (complete) {
            session.complete();
        } else {
            session.markClosed();
        }
    }

    /**
     * Metrics on their own HTTP/2 stream (flow-controlled apart from Sync); mutual TLS like Sync, the
     * node is the certificate's CN, and it is checked again before each batch.
     */
    @Override
    public StreamObserver<dev.edgeplane.api.v1.MetricsBatch> reportMetrics(
            StreamObserver<dev.edgeplane.api.v1.MetricsAck> responseObserver) {
        Optional<PeerCertificates.NodePeer> peer = authenticate("ReportMetrics", responseObserver);
        if (peer.isEmpty()) {
            return ignoring();
        }
        return io.quarkus.arc.Arc.container().instance(dev.edgeplane.controlplane.metrics.AgentMetrics.class).get()
                .receiver().open(peer.get().node(), stillValid(peer.get()), () -> tracker.heard(peer.get().node()), responseObserver);
    }

    /**
     * A heartbeat on its own HTTP/2 stream (never behind bulk Sync data). The refusal check hits the
     * nodes cache, so it is cheap at every period.
     */
    @Override
    public void heartbeat(dev.edgeplane.api.v1.Heartbeat request, StreamObserver<HeartbeatAck> responseObserver) {
        Optional<PeerCertificates.NodePeer> peer = authenticate("Heartbeat", responseObserver);
        if (peer.isEmpty()) {
            return;
        }
        String node = peer.get().node();
        if (index.sessionsOf(node).isEmpty()) {
            responseObserver.onError(Status.FAILED_PRECONDITION
                    .withDescription("node " + node + " has no Sync stream on this control plane").asRuntimeException());
            return;
        }
        Optional<StatusRuntimeException> invalid = invalidConditions("conditions", request.getConditionsList());
        if (invalid.isPresent()) {
            responseObserver.onError(invalid.get());
            return;
        }
        String installed = request.getInstalledCertificate();
        if (!installed.isEmpty() && !CERTIFICATE_HASH.matcher(installed).matches()) {
            responseObserver.onError(dev.edgeplane.controlplane.api.Validation.invalid("installed_certificate", "must be sha256:<64 hex digits>"));
            return;
        }
        tracker.heartbeat(node, request);
        boolean lostRenewal;
        try {
            lostRenewal = !installed.isEmpty() && renewal.installedCertificate(node, installed);
        } catch (StoreException e) {
            // Not acknowledged: the agent says it again at its next heartbeat.
            responseObserver.onError(Status.UNAVAILABLE.withDescription("cannot record the installed certificate now; say it again")
                    .asRuntimeException());
            return;
        }
        responseObserver.onNext(HeartbeatAck.newBuilder().setTime(Joiner.timestamp(clock.instant()))
                .setRenewCertificate(lostRenewal || shouldRenewNow(node)).build());
        responseObserver.onCompleted();
    }

    /**
     * Whether the node should renew its certificate now: during a CA rollover (or after one) until it
     * has the current CA bundle and a certificate of the signing CA. Nodes of an earlier version (no
     * record of either) are asked only during a rollover, so an upgrade does not renew the whole fleet.
     */
    private boolean shouldRenewNow(String node) {
        Entry<Node> entry = caches.nodes().get(Keys.node(node));
        if (entry == null) {
            return false;
        }
        Map<String, String> annotations = entry.value().getMetadata().getAnnotationsMap();
        String bundle = annotations.get(Joiner.CA_BUNDLE_ANNOTATION);
        if (ca.rollover().isEmpty() && bundle == null) {
            return false;
        }
        return !ca.bundleHash().equals(bundle) || !ca.get().hash().equals(annotations.get(Joiner.CERT_ISSUER_ANNOTATION));
    }

    private Optional<String> refusal(String node, String certHash) {
        Entry<Node> entry = caches.nodes().get(Keys.node(node));
        if (entry == null || !Joiner.acceptsCertificate(entry.value(), certHash)) {
            // The cache may lag a Join that just happened: ask etcd.
            try {
                entry = store.get(Keys.node(node), Node.parser()).orElse(null);
            } catch (StoreException e) {
                return Optional.of("cannot check node " + node + ": " + e.getMessage());
            }
        }
        if (entry == null) {
            return Optional.of("node " + node + " is not registered (deleted?); join it again");
        }
        if (!Joiner.acceptsCertificate(entry.value(), certHash)) {
            return Optional.of("this certificate of node " + node + " was replaced by a newer join");
        }
        return Optional.empty();
    }

    /**
     * One ops tunnel session, opened by the agent after Sync delivered its OpenTunnel; mutual TLS
     * like Sync, and the hub only splices it with a session that waits for this very node.
     */
    @Override
    public StreamObserver<dev.edgeplane.api.v1.TunnelFrame> tunnel(StreamObserver<dev.edgeplane.api.v1.TunnelFrame> responseObserver) {
        Optional<PeerCertificates.NodePeer> peer = authenticate("Tunnel", responseObserver);
        if (peer.isEmpty()) {
            return ignoring();
        }
        return io.quarkus.arc.Arc.container().instance(dev.edgeplane.controlplane.tunnel.OpsTunnel.class).get().hub()
                .agentTunnel(peer.get().node(), responseObserver);
    }

    /**
     * Events on their own HTTP/2 stream (flow-controlled apart from Sync); mutual TLS like Sync, the
     * node is the certificate's CN, checked again before each report (a deleted node's stream ends).
     */
    @Override
    public StreamObserver<dev.edgeplane.api.v1.EventReport> reportEvents(
            StreamObserver<dev.edgeplane.api.v1.EventReportAck> responseObserver) {
        Optional<PeerCertificates.NodePeer> peer = authenticate("ReportEvents", responseObserver);
        if (peer.isEmpty()) {
            return ignoring();
        }
        return io.quarkus.arc.Arc.container().instance(dev.edgeplane.controlplane.events.AgentEventReports.class).get()
                .open(peer.get().node(), stillValid(peer.get()), responseObserver);
    }

    /** Empty while the peer's certificate is still its node's current one; else why not (asked per message). */
    private Supplier<Optional<String>> stillValid(PeerCertificates.NodePeer peer) {
        return () -> refusal(peer.node(), peer.certificateHash());
    }

    /**
     * The calling node, from the mutual-TLS certificate (never from a field), or empty after answering
     * UNAUTHENTICATED: no certificate, a deleted node, or a certificate a newer join replaced.
     */
    private Optional<PeerCertificates.NodePeer> authenticate(String rpc, StreamObserver<?> responseObserver) {
        PeerCertificates.NodePeer peer = PeerCertificates.NODE_PEER.get();
        if (peer == null) {
            responseObserver.onError(Status.UNAUTHENTICATED
                    .withDescription(rpc + " requires mutual TLS with the node certificate").asRuntimeException());
            return Optional.empty();
        }
        Optional<String> refused = refusal(peer.node(), peer.certificateHash());
        if (refused.isPresent()) {
            responseObserver.onError(Status.UNAUTHENTICATED.withDescription(refused.get()).asRuntimeException());
            return Optional.empty();
        }
        return Optional.of(peer);
    }

    private static <T> StreamObserver<T> ignoring() {
        return new StreamObserver<>() {
            @Override
            public void onNext(T value) {}

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onCompleted() {}
        };
    }
}
