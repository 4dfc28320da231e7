package dev.edgeplane.tunnel.edge;

import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.Grant;
import dev.edgeplane.api.v1.OpenTunnel;
import dev.edgeplane.api.v1.SessionRequest;
import dev.edgeplane.api.v1.TunnelError;
import dev.edgeplane.api.v1.TunnelFrame;
import dev.edgeplane.tunnel.audit.AuditLog;
import dev.edgeplane.tunnel.audit.SessionAudit;
import dev.edgeplane.tunnel.grant.GrantRefused;
import dev.edgeplane.tunnel.grant.GrantVerifier;
import dev.edgeplane.tunnel.hub.Frames;
import dev.edgeplane.tunnel.hub.Targets;
import dev.edgeplane.tunnel.policy.Allowlist;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.net.http.HttpClient;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;

/**
 * The edge end of the tunnel. For each OpenTunnel that Sync delivers it checks the grant (signed by
 * the pinned CA, for this node, unexpired, unused) and the host's own allowlist, then opens a
 * Tunnel stream on the agent's outbound channel and serves the session: TCP sessions (port-forward,
 * SSH) on the agent's one socket thread ({@link TcpPump}), the others on a thread of their own.
 * A refused session still opens its stream, to tell the operator why at once.
 */
public final class TunnelAgent implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(TunnelAgent.class.getName());

    /**
     * @param maxSessions at most this many sessions at once on this host
     * @param dialTimeout for TCP connections on the host
     */
    public record Settings(Allowlist allowlist, int maxSessions, Duration dialTimeout) {
        public static Settings of(Allowlist allowlist) {
            return new Settings(allowlist, 64, Duration.ofSeconds(5));
        }
    }

    private final Channel channel;
    private final GrantVerifier verifier;
    private final Settings settings;
    private final Optional<CriContainers> containers;
    private final AuditLog audit;
    private final Clock clock;
    /** The JDK HTTP client of HTTP and exec sessions, made with the first one (its selector thread and ~100 classes). */
    private HttpClient http;
    private final AtomicInteger active = new AtomicInteger();
    /** The thread of every TCP session, started with the first one (an agent that never forwards has none). */
    private TcpPump pump;
    private volatile boolean closed;

    public TunnelAgent(Channel channel, GrantVerifier verifier, Settings settings, Optional<CriContainers> containers,
                       AuditLog audit, Clock clock) {
        this.channel = channel;
        this.verifier = verifier;
        this.settings = settings;
        this.containers = containers;
        this.audit = audit;
        this.clock = clock;
    }

    public int activeSessions() {
        return active.get();
    }

    /** Handles one OpenTunnel; returns at once (the session runs on the socket thread or its own). */
    public void open(OpenTunnel open) {
        if (closed) {
            return;
        }
        Grant grant;
        try {
            grant = verifier.verify(open);
        } catch (GrantRefused e) {
            LOG.warning("refused tunnel session " + open.getSessionId() + ": " + e.getMessage());
            refuse(open.getSessionId(), e.status(), null);
            return;
        }
        SessionRequest request = grant.getRequest();
        Optional<String> refusal = settings.allowlist().refusal(request);
        if (refusal.isPresent()) {
            LOG.warning("refused tunnel session " + grant.getSessionId() + " of " + grant.getSubject() + ": " + refusal.get());
            refuse(grant.getSessionId(), Status.PERMISSION_DENIED.withDescription(refusal.get()), grant);
            return;
        }
        Optional<String> undeclared = undeclaredReplicaPort(request);
        if (undeclared.isPresent()) {
            LOG.warning("refused tunnel session " + grant.getSessionId() + " of " + grant.getSubject() + ": " + undeclared.get());
            refuse(grant.getSessionId(), Status.PERMISSION_DENIED.withDescription(undeclared.get()), grant);
            return;
        }
        if (active.incrementAndGet() > settings.maxSessions()) {
            active.decrementAndGet();
            refuse(grant.getSessionId(), Status.RESOURCE_EXHAUSTED.withDescription("this node already serves "
                    + settings.maxSessions() + " sessions"), grant);
            return;
        }
        EdgeSession session;
        try {
            session = session(grant);
        } catch (IllegalStateException e) {
            active.decrementAndGet();
            refuse(grant.getSessionId(), Status.FAILED_PRECONDITION.withDescription(e.getMessage()), grant);
            return;
        }
        AgentServiceGrpc.AgentServiceStub stub = AgentServiceGrpc.newStub(channel).withOnReadyThreshold(Frames.ON_READY_THRESHOLD);
        if (session instanceof TcpSession) {
            // Its callbacks only hand work to the socket thread (never block): run them on the transport's
            // thread, saving a hop through gRPC's executor per frame.
            stub = stub.withExecutor(Runnable::run);
        }
        stub.tunnel(session);
        session.begin("tunnel-" + request.getVerb().name().toLowerCase() + "-" + grant.getSessionId().substring(0, 8));
    }

    private synchronized HttpClient http() {
        if (http == null) {
            http = HttpClient.newBuilder().connectTimeout(settings.dialTimeout()).build();
        }
        return http;
    }

    private synchronized TcpPump pump() {
        if (pump == null) {
            pump = new TcpPump();
        }
        return pump;
    }

    /**
     * A port-forward to a replica reaches only a port the replica declares (its containers' ports): pods
     * share the host's network, so any other port would be the host's own (sshd, the agent, etcd...).
     */
    private Optional<String> undeclaredReplicaPort(SessionRequest request) {
        if (request.getVerb() != dev.edgeplane.api.v1.SessionVerb.PORT_FORWARD || request.getTarget().getReplica().isEmpty()) {
            return Optional.empty();
        }
        if (containers.isEmpty()) {
            return Optional.of("this node has no container runtime to tell which ports replica "
                    + request.getTarget().getReplica() + " declares");
        }
        java.util.Set<Integer> declared;
        try {
            declared = containers.get().declaredPorts(request.getTarget());
        } catch (io.grpc.StatusRuntimeException e) {
            return Optional.of("cannot tell which ports replica " + request.getTarget().getReplica() + " declares: " + e.getStatus());
        }
        return declared.contains(request.getPort()) ? Optional.empty()
                : Optional.of("port " + request.getPort() + " is not a port replica " + request.getTarget().getNamespace() + "/"
                        + request.getTarget().getReplica() + " declares (" + (declared.isEmpty() ? "none" : declared) + ")");
    }

    private EdgeSession session(Grant grant) {
        SessionRequest request = grant.getRequest();
        return switch (request.getVerb()) {
            case PORT_FORWARD -> new TcpSession(grant, new InetSocketAddress("127.0.0.1", request.getPort()), settings.dialTimeout(), pump(), clock, this::ended);
            case SSH -> new TcpSession(grant, new InetSocketAddress("127.0.0.1", settings.allowlist().sshPort()), settings.dialTimeout(), pump(), clock, this::ended);
            case HTTP_PROXY -> new HttpSession(grant, http(), Duration.ofSeconds(30), clock, this::ended);
            case LOGS -> new LogsSession(grant, containers.orElseThrow(() -> new IllegalStateException("no container runtime on this agent")), clock, this::ended);
            case EXEC -> new ExecSession(grant, containers.orElseThrow(() -> new IllegalStateException("no container runtime on this agent")), http(), clock, this::ended);
            default -> throw new IllegalStateException("unknown session verb " + request.getVerb());
        };
    }

    /** Audited first: a session no longer counted as active has its record (TunnelTest saw the gap). */
    private void ended(SessionAudit record) {
        try {
            audit.record(record);
        } finally {
            active.decrementAndGet();
        }
    }

    /** Opens the session's stream only to say why it will not be served, then ends it. */
    private void refuse(String sessionId, Status status, Grant grant) {
        StreamObserver<TunnelFrame> out = AgentServiceGrpc.newStub(channel).tunnel(new StreamObserver<>() {
            @Override
            public void onNext(TunnelFrame value) {}

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onCompleted() {}
        });
        out.onNext(TunnelFrame.newBuilder().setSessionId(sessionId).build());
        out.onNext(TunnelFrame.newBuilder().setError(TunnelError.newBuilder()
                .setCode(status.getCode().value()).setMessage(String.valueOf(status.getDescription()))).build());
        out.onCompleted();
        audit.record(new SessionAudit("agent", sessionId, grant == null ? "?" : grant.getSubject(),
                grant == null ? "?" : grant.getNode(), grant == null ? "?" : grant.getRequest().getVerb().name(),
                grant == null ? "?" : Targets.describe(grant.getRequest()), clock.instant(), Duration.ZERO, 0, 0,
                "refused: " + status.getCode() + " " + status.getDescription()));
    }

    /** Refuses new sessions; open ones end when their streams do (the channel's owner closes it). */
    @Override
    public void close() {
        closed = true;
        synchronized (this) {
            if (pump != null) {
                pump.close();
            }
        }
    }
}
