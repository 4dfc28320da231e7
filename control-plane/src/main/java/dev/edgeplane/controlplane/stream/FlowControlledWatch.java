package dev.edgeplane.controlplane.stream;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BinaryOperator;
import org.jboss.logging.Logger;

/**
 * A server-streaming watch that honours HTTP/2 flow control. Offers only record (cheap, any thread,
 * even under an informer's lock); a {@link Sender} thread writes while the call {@code isReady()}
 * and again on {@code onReady}. Meanwhile the backlog keeps ONE message per object, the latest,
 * merged by the caller's rule; when it holds more than its bound the watch ends with
 * RESOURCE_EXHAUSTED naming the limit, so the client re-lists instead of the server buffering
 * without end.
 *
 * @param <K> what identifies an object (e.g. its etcd key)
 * @param <M> the message type of the stream
 */
public final class FlowControlledWatch<K, M> {
    private static final Logger LOG = Logger.getLogger(FlowControlledWatch.class);

    private final ServerCallStreamObserver<M> call;
    private final Sender sender;
    private final int maxBacklog;
    private final String limitName;
    private final BinaryOperator<M> merge;
    private final Runnable onEnd;
    /** Latest message per object, in the order of their latest change. */
    private final LinkedHashMap<K, M> backlog = new LinkedHashMap<>();
    /** Objects of the initial listing: they do not count against the bound. */
    private int listed;
    private boolean draining;
    private boolean overflowed;
    private boolean ended;

    /**
     * Must be created during the call's first invocation (it installs the ready and cancel handlers).
     *
     * @param maxBacklog objects waiting beyond the initial listing before the watch ends
     * @param limitName  the configuration name of {@code maxBacklog}, named in the RESOURCE_EXHAUSTED
     * @param merge      (older, newer) -> the one message that stands for both, or null when they cancel out
     * @param onEnd      runs once when the watch ends, whichever way (unsubscribe here)
     */
    public FlowControlledWatch(ServerCallStreamObserver<M> call, Sender sender, int maxBacklog, String limitName,
                               BinaryOperator<M> merge, Runnable onEnd) {
        this.call = call;
        this.sender = sender;
        this.maxBacklog = maxBacklog;
        this.limitName = limitName;
        this.merge = merge;
        this.onEnd = onEnd;
        call.setOnReadyHandler(this::schedule);
        call.setOnCancelHandler(() -> end());
    }

    /** One object of the initial listing (not counted against the bound). */
    public void offerListed(K key, M message) {
        synchronized (this) {
            listed++;
        }
        offer(key, message);
    }

    /** A change of one object; replaces (merged) whatever of it is still waiting. */
    public void offer(K key, M message) {
        synchronized (this) {
            if (ended || overflowed) {
                return;
            }
            M older = backlog.remove(key);
            M standing = older == null ? message : merge.apply(older, message);
            if (standing != null) {
                backlog.put(key, standing);
            }
            if (backlog.size() > maxBacklog + listed) {
                overflowed = true;
                backlog.clear();
            }
        }
        schedule();
    }

    public synchronized boolean ended() {
        return ended;
    }

    /** Messages waiting (for tests and metrics). */
    public synchronized int backlog() {
        return backlog.size();
    }

    private void schedule() {
        synchronized (this) {
            if (draining || ended) {
                return;
            }
            draining = true;
        }
        sender.execute(this::drain);
    }

    /** The only place that writes to the call, one thread at a time (a stream observer is not thread safe). */
    private void drain() {
        while (true) {
            M next;
            synchronized (this) {
                if (ended) {
                    draining = false;
                    return;
                }
                if (overflowed) {
                    draining = false;
                    next = null;
                } else {
                    if (!call.isReady() || backlog.isEmpty()) {
                        draining = false; // onReady or the next offer schedules again
                        return;
                    }
                    Iterator<Map.Entry<K, M>> first = backlog.entrySet().iterator();
                    next = first.next().getValue();
                    first.remove();
                    listed = Math.max(0, listed - 1);
                }
            }
            if (next == null) {
                LOG.infof("ending a watch whose client reads too slowly: more than %d changes waiting (%s)", maxBacklog, limitName);
                try {
                    call.onError(Status.RESOURCE_EXHAUSTED.withDescription("the client reads too slowly: more than "
                            + maxBacklog + " changes waiting (" + limitName + "); list again and re-watch").asRuntimeException());
                } catch (RuntimeException e) {
                    LOG.debugf("ending a watch failed: %s", e.toString());
                }
                end();
                return;
            }
            try {
                call.onNext(next);
            } catch (RuntimeException e) {
                LOG.debugf("watch send failed: %s", e.toString());
                end();
                return;
            }
        }
    }

    private void end() {
        synchronized (this) {
            if (ended) {
                return;
            }
            ended = true;
            backlog.clear();
        }
        onEnd.run();
    }
}
