package dev.edgeplane.tunnel.hub;

import dev.edgeplane.api.v1.SessionRequest;
import dev.edgeplane.api.v1.TunnelFrame;
import dev.edgeplane.tunnel.audit.SessionAudit;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.function.Consumer;

/**
 * One session in the hub: the operator's call spliced with the agent's Tunnel stream. Both are
 * server calls with manual flow control: a message is requested from one side only when the other
 * side can take it, so back-pressure is HTTP/2's own, end to end, and the hub buffers nothing.
 */
final class HubSession {
    enum State { PENDING, ATTACHED, CLOSED }

    final String id;
    final String subject;
    final String node;
    final SessionRequest request;
    private final OperatorEnd<?> operator;
    private final Clock clock;
    private final Instant started;
    private final Consumer<SessionAudit> onClosed;

    private State state = State.PENDING;
    private ServerCallStreamObserver<TunnelFrame> agent;
    private boolean operatorHalfClosed;
    private boolean closeWriteSent;
    /**
     * Requests held back while the other side's stream was not ready, owed once it is: each is one of
     * the Frames.PREFETCH frames in flight, so forgetting one (a flag instead of a count) shrank the
     * pipeline for good each time a stream stopped being ready, down to one frame per round trip.
     */
    private int owedToOperator;
    private int owedToAgent;
    private long bytesIn;
    private long bytesOut;
    private volatile Instant lastActivity;

    HubSession(String id, String subject, String node, SessionRequest request, OperatorEnd<?> operator, Clock clock,
               Consumer<SessionAudit> onClosed) {
        this.id = id;
        this.subject = subject;
        this.node = node;
        this.request = request;
        this.operator = operator;
        this.clock = clock;
        this.started = clock.instant();
        this.lastActivity = started;
        this.onClosed = onClosed;
    }

    synchronized State state() {
        return state;
    }

    Instant lastActivity() {
        return lastActivity;
    }

    /** The agent's Tunnel stream arrived (its session_id frame was read). */
    synchronized boolean attach(ServerCallStreamObserver<TunnelFrame> agentCall) {
        if (state != State.PENDING) {
            return false;
        }
        state = State.ATTACHED;
        agent = agentCall;
        if (operatorHalfClosed) {
            closeWriteSent = true;
            send(TunnelFrame.newBuilder().setCloseWrite(true).build());
        } else {
            for (int i = 0; i < Frames.PREFETCH; i++) {
                pullFromOperator();
            }
        }
        for (int i = 0; i < Frames.PREFETCH; i++) {
            pullFromAgent();
        }
        return true;
    }

    // ---- operator -> agent

    synchronized void fromOperator(TunnelFrame frame) {
        if (state != State.ATTACHED) {
            return;
        }
        touch();
        bytesIn += Frames.payloadSize(frame);
        if (frame.getCloseWrite()) {
            if (closeWriteSent) {
                pullFromOperator();
                return;
            }
            closeWriteSent = true;
        }
        send(frame);
        pullFromOperator();
    }

    synchronized void operatorHalfClosed() {
        operatorHalfClosed = true;
        if (state == State.ATTACHED && !closeWriteSent) {
            closeWriteSent = true;
            send(TunnelFrame.newBuilder().setCloseWrite(true).build());
        }
    }

    synchronized void operatorCancelled() {
        close(Status.CANCELLED.withDescription("the operator went away"), "cancelled by the operator");
    }

    synchronized void agentReady() {
        if (state != State.ATTACHED) {
            return;
        }
        while (owedToOperator > 0 && agent.isReady()) {
            owedToOperator--;
            operator.request();
        }
    }

    private void pullFromOperator() {
        if (operatorHalfClosed) {
            return;
        }
        if (owedToOperator == 0 && agent.isReady()) {
            operator.request();
        } else {
            owedToOperator++;
        }
    }

    private void send(TunnelFrame frame) {
        try {
            agent.onNext(frame);
        } catch (RuntimeException e) {
            // the agent's call was cancelled: its own callbacks end the session
        }
    }

    // ---- agent -> operator

    synchronized void fromAgent(TunnelFrame frame) {
        if (state != State.ATTACHED) {
            return;
        }
        touch();
        if (frame.hasError()) {
            Status status = Status.fromCodeValue(frame.getError().getCode()).withDescription(frame.getError().getMessage());
            finishAgent();
            fail(status, "refused by the agent: " + status.getCode() + " " + frame.getError().getMessage());
            return;
        }
        bytesOut += operator.send(frame);
        pullFromAgent();
    }

    synchronized void operatorReady() {
        if (state == State.ATTACHED && owedToAgent > 0 && operator.isReady()) {
            agent.request(owedToAgent);
            owedToAgent = 0;
        }
    }

    private void pullFromAgent() {
        if (owedToAgent == 0 && operator.isReady()) {
            agent.request(1);
        } else {
            owedToAgent++;
        }
    }

    /** The agent ended its side normally: the session is over. */
    synchronized void agentCompleted() {
        if (state == State.CLOSED) {
            return;
        }
        finishAgent();
        state = State.CLOSED;
        audit("ok"); // first: the hub forgets the session before the operator hears it ended
        operator.complete();
    }

    synchronized void agentFailed(Throwable t) {
        fail(Status.UNAVAILABLE.withDescription("the node's side of the session was lost: " + Status.fromThrowable(t).getCode()),
                "agent stream lost");
    }

    private void finishAgent() {
        try {
            agent.onCompleted();
        } catch (RuntimeException e) {
            // already gone
        }
    }

    /** Ends the session from the hub with {@code status} to the operator. */
    synchronized void fail(Status status, String outcome) {
        if (state == State.CLOSED) {
            return;
        }
        if (state == State.ATTACHED) {
            try {
                agent.onError(Status.CANCELLED.withDescription(outcome).asRuntimeException());
            } catch (RuntimeException e) {
                // already gone
            }
        }
        state = State.CLOSED;
        audit(outcome);
        operator.fail(status);
    }

    private void close(Status toAgent, String outcome) {
        if (state == State.CLOSED) {
            return;
        }
        if (state == State.ATTACHED) {
            try {
                agent.onError(toAgent.asRuntimeException());
            } catch (RuntimeException e) {
                // already gone
            }
        }
        state = State.CLOSED;
        audit(outcome);
    }

    private void touch() {
        lastActivity = clock.instant();
    }

    private void audit(String outcome) {
        Instant now = clock.instant();
        onClosed.accept(new SessionAudit("control-plane", id, subject, node, request.getVerb().name(), Targets.describe(request),
                started, Duration.between(started, now), bytesIn, bytesOut, outcome));
    }
}
