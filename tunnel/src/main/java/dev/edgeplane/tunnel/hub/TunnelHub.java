package dev.edgeplane.tunnel.hub;

import dev.edgeplane.api.v1.OpenTunnel;
import dev.edgeplane.api.v1.SessionRequest;
import dev.edgeplane.api.v1.TunnelFrame;
import dev.edgeplane.tunnel.audit.AuditLog;
import dev.edgeplane.tunnel.grant.GrantSigner;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * The cloud end of the tunnel. An Ops call becomes a session: the hub signs a grant, asks the
 * node's agent (over its Sync stream, through {@link AgentLink}) to open a Tunnel stream, and
 * splices that stream with the operator's call when it arrives. A node that is not connected fails
 * at once with UNAVAILABLE; an agent that does not answer within the dial timeout, too.
 */
public final class TunnelHub implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(TunnelHub.class.getName());

    /** Delivers an OpenTunnel to a node's agent; false when the node has no Sync stream here. */
    @FunctionalInterface
    public interface AgentLink {
        boolean requestTunnel(String node, OpenTunnel open);
    }

    private final AgentLink link;
    private final GrantSigner signer;
    private final HubSettings settings;
    private final AuditLog audit;
    private final Clock clock;
    private final Map<String, HubSession> sessions = new ConcurrentHashMap<>();
    private final Map<String, Integer> perNode = new ConcurrentHashMap<>();
    private final ScheduledExecutorService timer;

    public TunnelHub(AgentLink link, GrantSigner signer, HubSettings settings, AuditLog audit, Clock clock) {
        this.link = link;
        this.signer = signer;
        this.settings = settings;
        this.audit = audit;
        this.clock = clock;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "tunnel-hub-timer");
            t.setDaemon(true);
            return t;
        });
        long sweep = Math.max(200, Math.min(settings.idleTimeout().toMillis() / 4, 5_000));
        timer.scheduleWithFixedDelay(this::closeIdle, sweep, sweep, TimeUnit.MILLISECONDS);
    }

    public HubSettings settings() {
        return settings;
    }

    /** Sessions open or waiting for their agent. */
    public int openSessions() {
        return sessions.size();
    }

    public AuditLog audit() {
        return audit;
    }

    /**
     * Starts a session for an operator's call whose target node is known. The returned handle takes
     * the operator's further messages; failures go to the operator's call.
     */
    <R> HubSession open(String subject, String node, SessionRequest request, ServerCallStreamObserver<R> call,
                        java.util.function.Function<TunnelFrame, R> convert, boolean streamsRequests) {
        String id = UUID.randomUUID().toString();
        OperatorEnd<R> operator = new OperatorEnd<>(call, convert, streamsRequests);
        HubSession session = new HubSession(id, subject, node, request, operator, clock, this::closed);
        int open = perNode.merge(node, 1, Integer::sum);
        sessions.put(id, session);
        if (open > settings.maxSessionsPerNode()) {
            session.fail(Status.RESOURCE_EXHAUSTED.withDescription("node " + node + " already has " + settings.maxSessionsPerNode()
                    + " open sessions"), "too many sessions");
            return session;
        }
        OpenTunnel message = OpenTunnel.newBuilder()
                .setSessionId(id)
                .setGrant(signer.sign(id, subject, node, request))
                .build();
        boolean delivered;
        try {
            delivered = link.requestTunnel(node, message);
        } catch (RuntimeException e) {
            LOG.warning("cannot ask node " + node + " to open session " + id + ": " + e);
            delivered = false;
        }
        if (!delivered) {
            session.fail(Status.UNAVAILABLE.withDescription("node " + node + " is not connected"), "node offline");
            return session;
        }
        timer.schedule(() -> {
            if (session.state() == HubSession.State.PENDING) {
                session.fail(Status.UNAVAILABLE.withDescription("node " + node + " did not open the session within "
                        + settings.dialTimeout().toMillis() + " ms"), "agent dial timeout");
            }
        }, settings.dialTimeout().toMillis(), TimeUnit.MILLISECONDS);
        return session;
    }

    /**
     * The agent's side: call from AgentService.Tunnel with the node that the caller's certificate
     * names, before the method returns (it turns on manual flow control).
     */
    public StreamObserver<TunnelFrame> agentTunnel(String node, StreamObserver<TunnelFrame> responses) {
        ServerCallStreamObserver<TunnelFrame> call = (ServerCallStreamObserver<TunnelFrame>) responses;
        call.disableAutoRequest();
        call.setOnReadyThreshold(Frames.ON_READY_THRESHOLD);
        AgentSide side = new AgentSide(node, call);
        call.setOnReadyHandler(side::ready);
        call.setOnCancelHandler(() -> side.onError(Status.CANCELLED.asRuntimeException()));
        call.request(1);
        return side;
    }

    private final class AgentSide implements StreamObserver<TunnelFrame> {
        private final String node;
        private final ServerCallStreamObserver<TunnelFrame> call;
        private volatile HubSession session;

        AgentSide(String node, ServerCallStreamObserver<TunnelFrame> call) {
            this.node = node;
            this.call = call;
        }

        void ready() {
            HubSession s = session;
            if (s != null) {
                s.agentReady();
            }
        }

        @Override
        public void onNext(TunnelFrame frame) {
            HubSession s = session;
            if (s != null) {
                s.fromAgent(frame);
                return;
            }
            if (frame.getKindCase() != TunnelFrame.KindCase.SESSION_ID) {
                refuse(Status.INVALID_ARGUMENT.withDescription("the first frame of a Tunnel stream must be session_id"));
                return;
            }
            HubSession found = sessions.get(frame.getSessionId());
            if (found == null || !found.node.equals(node)) {
                refuse(Status.NOT_FOUND.withDescription("no session " + frame.getSessionId() + " waits for node " + node));
                return;
            }
            if (!found.attach(call)) {
                refuse(Status.FAILED_PRECONDITION.withDescription("session " + frame.getSessionId() + " is no longer waiting"));
                return;
            }
            session = found;
        }

        private void refuse(Status status) {
            try {
                call.onError(status.asRuntimeException());
            } catch (RuntimeException e) {
                // already cancelled
            }
        }

        @Override
        public void onError(Throwable t) {
            HubSession s = session;
            if (s != null) {
                s.agentFailed(t);
            }
        }

        @Override
        public void onCompleted() {
            HubSession s = session;
            if (s != null) {
                s.agentCompleted();
            } else {
                refuse(Status.INVALID_ARGUMENT.withDescription("a Tunnel stream ended before naming its session"));
            }
        }
    }

    private void closed(dev.edgeplane.tunnel.audit.SessionAudit record) {
        if (sessions.remove(record.sessionId()) != null) {
            perNode.computeIfPresent(record.node(), (n, count) -> count <= 1 ? null : count - 1);
        }
        audit.record(record);
    }

    private void closeIdle() {
        Instant limit = clock.instant().minus(settings.idleTimeout());
        for (HubSession session : sessions.values()) {
            if (session.state() == HubSession.State.ATTACHED && session.lastActivity().isBefore(limit)) {
                session.fail(Status.DEADLINE_EXCEEDED.withDescription("session idle for more than "
                        + Duration.ofMillis(settings.idleTimeout().toMillis())), "idle timeout");
            }
        }
    }

    /** Ends every session (at shutdown). */
    @Override
    public void close() {
        for (HubSession session : sessions.values()) {
            session.fail(Status.UNAVAILABLE.withDescription("control plane shutting down"), "shutdown");
        }
        timer.shutdownNow();
    }
}
