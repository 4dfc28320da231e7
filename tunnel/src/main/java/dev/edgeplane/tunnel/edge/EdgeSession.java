package dev.edgeplane.tunnel.edge;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.Grant;
import dev.edgeplane.api.v1.TunnelError;
import dev.edgeplane.api.v1.TunnelFrame;
import dev.edgeplane.tunnel.audit.SessionAudit;
import dev.edgeplane.tunnel.hub.Frames;
import dev.edgeplane.tunnel.hub.Targets;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.function.Consumer;

/**
 * The agent's end of one session: a Tunnel call on the agent's own outbound channel. Sending blocks
 * the session's thread until the stream is ready (HTTP/2 flow control is the back-pressure);
 * incoming frames are asked for a few ahead, then one per frame handled. A session without a thread
 * of its own ({@link TcpSession}) overrides {@link #begin}, sends only when {@link #streamReady}, and
 * asks for frames itself.
 */
abstract class EdgeSession implements ClientResponseObserver<TunnelFrame, TunnelFrame> {
    /** Raised to a session's thread when the session is over. */
    static final class Closed extends IOException {
        Closed(String why) {
            super(why, null);
        }
    }

    protected final Grant grant;
    private final Clock clock;
    private final Instant started;
    private final Consumer<SessionAudit> onEnd;
    private ClientCallStreamObserver<TunnelFrame> out;
    private boolean closed;
    private boolean halfClosed;
    private String outcome = "ok";
    private long bytesIn;
    private long bytesOut;

    EdgeSession(Grant grant, Clock clock, Consumer<SessionAudit> onEnd) {
        this.grant = grant;
        this.clock = clock;
        this.started = clock.instant();
        this.onEnd = onEnd;
    }

    @Override
    public final void beforeStart(ClientCallStreamObserver<TunnelFrame> requestStream) {
        out = requestStream;
        requestStream.disableAutoRequestWithInitial(0);
        requestStream.setOnReadyHandler(() -> {
            signal();
            onStreamReady();
        });
    }

    private synchronized void signal() {
        notifyAll();
    }

    /** The stream became ready for more frames (on a gRPC thread). */
    protected void onStreamReady() {
    }

    /** Starts the session: by default its work ({@link #run}) gets a thread of its own. */
    void begin(String threadName) {
        Thread thread = new Thread(this::run, threadName);
        thread.setDaemon(true);
        thread.start();
    }

    /** Sends the first frame and starts the session's work (on the caller's thread). */
    final void run() {
        try {
            sendFrame(TunnelFrame.newBuilder().setSessionId(grant.getSessionId()).build());
            serve();
        } catch (Closed e) {
            // the other side ended the session
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail(Status.UNAVAILABLE.withDescription("the agent is shutting down"));
        } catch (RuntimeException | IOException e) {
            fail(Status.UNAVAILABLE.withDescription(e.getMessage() == null ? e.toString() : e.getMessage()));
        } finally {
            release();
        }
    }

    /** The session's work; returns (or throws) when this side is done sending. */
    protected abstract void serve() throws IOException, InterruptedException;

    /** A frame from the operator. Called one at a time; the next is asked for when this returns. */
    protected abstract void onFrame(TunnelFrame frame) throws IOException;

    /** Frees what the session holds (sockets, files); called once, whichever way the session ends. */
    protected abstract void release();

    /** Lets frames from the operator flow (Frames.PREFETCH asked for ahead, then one per frame handled). */
    protected final void startReceiving() {
        request(Frames.PREFETCH);
    }

    /**
     * True when the session asks for each next frame itself ({@link #requestFrames}), once it is done
     * with an earlier one; false: the next is asked for when {@link #onFrame} returns.
     */
    protected boolean asksForFramesItself() {
        return false;
    }

    protected final void requestFrames(int n) {
        request(n);
    }

    protected final boolean streamReady() {
        return out.isReady();
    }

    private void request(int n) {
        synchronized (this) {
            if (closed) {
                return;
            }
        }
        out.request(n);
    }

    protected final void sendData(byte[] bytes, int length) throws Closed, InterruptedException {
        sendFrame(TunnelFrame.newBuilder().setData(ByteString.copyFrom(bytes, 0, length)).build());
    }

    /**
     * Sends without waiting for readiness (the caller checked {@link #streamReady}, or the frame is
     * the small first one); false when the session is over.
     */
    protected final synchronized boolean sendNow(TunnelFrame frame) {
        if (closed || halfClosed) {
            return false;
        }
        out.onNext(frame);
        bytesOut += Frames.payloadSize(frame);
        return true;
    }

    protected final synchronized void sendFrame(TunnelFrame frame) throws Closed, InterruptedException {
        while (!closed && !halfClosed && !out.isReady()) {
            wait(1_000);
        }
        if (closed || halfClosed) {
            throw new Closed("session " + grant.getSessionId() + " closed");
        }
        out.onNext(frame);
        bytesOut += Frames.payloadSize(frame);
    }

    /** This side is done: the hub ends the session and closes the call. */
    protected final synchronized void finish() {
        if (closed || halfClosed) {
            return;
        }
        halfClosed = true;
        out.onCompleted();
    }

    /** Ends the session with an error the operator sees. */
    protected final synchronized void fail(Status status) {
        if (closed || halfClosed) {
            return;
        }
        outcome = status.getCode() + ": " + status.getDescription();
        try {
            out.onNext(TunnelFrame.newBuilder().setError(TunnelError.newBuilder()
                    .setCode(status.getCode().value())
                    .setMessage(status.getDescription() == null ? "" : status.getDescription())).build());
        } catch (RuntimeException e) {
            // the call is already gone
        }
        halfClosed = true;
        out.onCompleted();
    }

    protected final synchronized boolean isClosed() {
        return closed;
    }

    @Override
    public final void onNext(TunnelFrame frame) {
        synchronized (this) {
            bytesIn += Frames.payloadSize(frame);
        }
        try {
            onFrame(frame);
        } catch (IOException | RuntimeException e) {
            fail(Status.UNAVAILABLE.withDescription("session " + grant.getSessionId() + ": " + e.getMessage()));
            return;
        }
        if (!asksForFramesItself()) {
            request(1);
        }
    }

    @Override
    public final void onError(Throwable t) {
        end(Status.fromThrowable(t).getCode() == Status.Code.CANCELLED ? "cancelled by the control plane"
                : "stream lost: " + Status.fromThrowable(t));
    }

    @Override
    public final void onCompleted() {
        end(null);
    }

    private void end(String why) {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            if (why != null && outcome.equals("ok")) {
                outcome = why;
            }
            notifyAll();
        }
        release();
        onEnd.accept(new SessionAudit("agent", grant.getSessionId(), grant.getSubject(), grant.getNode(),
                grant.getRequest().getVerb().name(), Targets.describe(grant.getRequest()), started,
                Duration.between(started, clock.instant()), bytesIn, bytesOut, outcome));
    }
}
