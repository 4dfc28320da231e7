package dev.edgeplane.controlplane.sync;

import dev.edgeplane.api.v1.SyncResponse;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.atomic.AtomicLong;
import org.jboss.logging.Logger;

/**
 * One connected agent's Sync stream. Sends are serialised (a gRPC stream observer is not thread
 * safe); the cumulative ack is kept in memory only.
 */
public final class SyncSession {
    private static final Logger LOG = Logger.getLogger(SyncSession.class);

    private final String node;
    private final String certificateHash;
    private final StreamObserver<SyncResponse> out;
    private final AtomicLong acked = new AtomicLong();
    private final java.util.concurrent.atomic.AtomicBoolean ended = new java.util.concurrent.atomic.AtomicBoolean();
    private boolean closed;

    public SyncSession(String node, String certificateHash, StreamObserver<SyncResponse> out) {
        this.node = node;
        this.certificateHash = certificateHash;
        this.out = out;
    }

    public String node() {
        return node;
    }

    public String certificateHash() {
        return certificateHash;
    }

    public synchronized void send(SyncResponse response) {
        if (closed) {
            return;
        }
        try {
            out.onNext(response);
        } catch (RuntimeException e) {
            // The call was cancelled under us; the stream's own callbacks clean up.
            LOG.debugf("send to %s failed: %s", node, e.toString());
            closed = true;
        }
    }

    /** Ends the stream from the server side with {@code status}. */
    public synchronized void abort(Status status) {
        if (closed) {
            return;
        }
        closed = true;
        try {
            out.onError(status.asRuntimeException());
        } catch (RuntimeException e) {
            LOG.debugf("abort of %s failed: %s", node, e.toString());
        }
    }

    public synchronized void complete() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            out.onCompleted();
        } catch (RuntimeException e) {
            LOG.debugf("completing %s failed: %s", node, e.toString());
        }
    }

    /** Records a cumulative ack; returns the newest acked revision. */
    public long ack(long revision) {
        return acked.accumulateAndGet(revision, Math::max);
    }

    public long acked() {
        return acked.get();
    }

    private final java.util.concurrent.atomic.AtomicBoolean hello = new java.util.concurrent.atomic.AtomicBoolean();

    /** True for the first Hello only. */
    boolean markHello() {
        return hello.compareAndSet(false, true);
    }

    boolean helloSeen() {
        return hello.get();
    }

    /** True the first time only: the stream's end is handled once, whichever callback comes first. */
    boolean markEnded() {
        return ended.compareAndSet(false, true);
    }

    synchronized void markClosed() {
        closed = true;
    }
}
