package dev.edgeplane.controlplane.sync;

import dev.edgeplane.controlplane.api.RetryLater;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.jboss.logging.Logger;

/**
 * The agent endpoint's call executor: every call's handler and callbacks run on a fixed pool of
 * threads (they may block on etcd), serialised per call, instead of on grpc-java's unbounded default
 * executor. The server itself runs with directExecutor, so this interceptor sees each new call on
 * the transport thread and can refuse it at once: while the pool's backlog is at its bound, a new
 * call gets RESOURCE_EXHAUSTED with a RetryInfo (backlog x mean task time / threads, jittered)
 * and costs nothing more. Callbacks of calls already admitted are never refused (that would break
 * a call half-way); their number is bounded by the calls admitted and HTTP/2 flow control.
 */
final class BoundedCalls implements ServerInterceptor, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(BoundedCalls.class);
    /** Tasks one call runs before letting other calls' tasks have the thread. */
    private static final int FAIR_SHARE = 16;

    private final ThreadPoolExecutor pool;
    private final int threads;
    private final int maxBacklog;
    private final AtomicLong refused = new AtomicLong();
    /** Mean task time (exponentially weighted), nanoseconds; racy updates are fine for a hint. */
    private volatile double taskNanos = 1_000_000;

    BoundedCalls(int threads, int maxBacklog) {
        if (threads < 1 || maxBacklog < 1) {
            throw new IllegalArgumentException("threads and maxBacklog must be >= 1");
        }
        this.threads = threads;
        this.maxBacklog = maxBacklog;
        AtomicInteger n = new AtomicInteger();
        this.pool = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "agent-call-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call, Metadata headers,
                                                                 ServerCallHandler<ReqT, RespT> next) {
        int backlog = pool.getQueue().size();
        if (backlog >= maxBacklog) {
            Duration wait = retryAfter(backlog);
            if (refused.incrementAndGet() % 1000 == 1) {
                LOG.warnf("agent endpoint saturated (%d tasks waiting for %d threads): refusing new calls, retry in %d ms (%d refused so far)",
                        backlog, threads, wait.toMillis(), refused.get());
            }
            StatusRuntimeException e = RetryLater.resourceExhausted("the agent endpoint is saturated ("
                    + backlog + " tasks waiting, edgeplane.agent.max-queued-tasks=" + maxBacklog + ")", wait);
            call.close(e.getStatus(), e.getTrailers() == null ? new Metadata() : e.getTrailers());
            return new ServerCall.Listener<>() {};
        }
        return new PooledListener<>(call, headers, next);
    }

    /** How long the backlog takes to drain at the measured task time, spread over [1x, 2x). */
    Duration retryAfter(int backlog) {
        double drainNanos = backlog * taskNanos / threads;
        long millis = (long) (drainNanos / 1e6 * (1 + ThreadLocalRandom.current().nextDouble()));
        return Duration.ofMillis(Math.max(100, Math.min(30_000, millis)));
    }

    long refusedCalls() {
        return refused.get();
    }

    /** Tasks waiting for a thread (what admission compares with maxBacklog). */
    int backlog() {
        return pool.getQueue().size();
    }

    @Override
    public void close() {
        pool.shutdown();
        try {
            if (!pool.awaitTermination(5, TimeUnit.SECONDS)) {
                pool.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            pool.shutdownNow();
        }
    }

    /** Runs one call's tasks in order, one at a time, on the pool. */
    private final class SerialTasks implements Executor, Runnable {
        private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
        private final AtomicBoolean scheduled = new AtomicBoolean();

        @Override
        public void execute(Runnable task) {
            tasks.add(task);
            schedule();
        }

        private void schedule() {
            if (!tasks.isEmpty() && scheduled.compareAndSet(false, true)) {
                try {
                    pool.execute(this);
                } catch (RejectedExecutionException stopping) {
                    scheduled.set(false); // the endpoint is shutting down; its calls are being cancelled
                }
            }
        }

        @Override
        public void run() {
            try {
                Runnable task;
                for (int i = 0; i < FAIR_SHARE && (task = tasks.poll()) != null; i++) {
                    long start = System.nanoTime();
                    try {
                        task.run();
                    } catch (RuntimeException e) {
                        LOG.error("agent call task failed", e);
                    }
                    taskNanos = 0.95 * taskNanos + 0.05 * (System.nanoTime() - start);
                }
            } finally {
                scheduled.set(false);
                schedule(); // tasks added meanwhile, or the rest after this call's fair share
            }
        }
    }

    /** Buffers a call's callbacks onto its SerialTasks, starting the call there first. */
    private final class PooledListener<ReqT, RespT> extends ServerCall.Listener<ReqT> {
        private final SerialTasks serial = new SerialTasks();
        private final Context context = Context.current();
        /** Only read and written on the call's SerialTasks. */
        private ServerCall.Listener<ReqT> delegate = new ServerCall.Listener<>() {};

        PooledListener(ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
            serial.execute(context.wrap(() -> {
                try {
                    delegate = next.startCall(call, headers);
                } catch (RuntimeException e) {
                    LOG.error("agent call failed to start", e);
                    call.close(Status.fromThrowable(e), new Metadata());
                }
            }));
        }

        private void later(java.util.function.Consumer<ServerCall.Listener<ReqT>> callback) {
            serial.execute(context.wrap(() -> callback.accept(delegate)));
        }

        @Override
        public void onMessage(ReqT message) {
            later(l -> l.onMessage(message));
        }

        @Override
        public void onHalfClose() {
            later(ServerCall.Listener::onHalfClose);
        }

        @Override
        public void onCancel() {
            later(ServerCall.Listener::onCancel);
        }

        @Override
        public void onComplete() {
            later(ServerCall.Listener::onComplete);
        }

        @Override
        public void onReady() {
            later(ServerCall.Listener::onReady);
        }
    }
}
