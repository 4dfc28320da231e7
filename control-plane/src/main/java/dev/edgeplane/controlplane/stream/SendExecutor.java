package dev.edgeplane.controlplane.stream;

import java.time.Duration;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A few named threads that write to outbound gRPC streams, so no stream is ever written on the etcd
 * client's event loop or under an informer's lock. Its queue holds at most one drain task per
 * stream (streams schedule themselves only when idle), so it is bounded by the streams open.
 */
public final class SendExecutor implements Sender, AutoCloseable {
    private final ScheduledThreadPoolExecutor pool;

    public SendExecutor(String name, int threads) {
        AtomicInteger count = new AtomicInteger();
        ThreadFactory factory = runnable -> {
            Thread thread = new Thread(runnable, name + "-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
        this.pool = new ScheduledThreadPoolExecutor(Math.max(1, threads), factory);
        this.pool.setRemoveOnCancelPolicy(true);
    }

    /** Runs {@code task} soon; dropped silently once closed (streams end at shutdown anyway). */
    @Override
    public void execute(Runnable task) {
        if (!pool.isShutdown()) {
            try {
                pool.execute(task);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // closing
            }
        }
    }

    @Override
    public void schedule(Runnable task, Duration delay) {
        if (!pool.isShutdown()) {
            try {
                pool.schedule(task, delay.toNanos(), TimeUnit.NANOSECONDS);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // closing
            }
        }
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }
}
