package dev.edgeplane.agent.loop;

import java.time.Duration;
import java.util.logging.Logger;

/**
 * A level-triggered loop on its own daemon thread, the shape of the kubelet's sync loop: it runs one
 * pass at start, again soon after every {@link #trigger()}, and at least once per period; a pass that
 * asks for it runs again after the (shorter) retry delay. Passes never overlap, and a failed pass is
 * logged and tried again next time rather than ending the loop.
 */
public final class PassLoop implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(PassLoop.class.getName());

    /** One pass; returns true when something should be retried sooner than the period. */
    @FunctionalInterface
    public interface Pass {
        boolean run();
    }

    private final Object signal = new Object();
    private final Thread thread;
    private final Duration period;
    private final Duration retry;
    private final Pass pass;
    private volatile boolean running;
    private boolean pending;

    public PassLoop(String name, Duration period, Duration retry, Pass pass) {
        this.period = period;
        this.retry = retry.compareTo(period) < 0 ? retry : period;
        this.pass = pass;
        this.thread = new Thread(this::run, name);
        this.thread.setDaemon(true);
    }

    /** A loop whose passes never ask to be retried early. */
    public PassLoop(String name, Duration period, Runnable pass) {
        this(name, period, period, () -> {
            pass.run();
            return false;
        });
    }

    public void start() {
        running = true;
        thread.start();
    }

    /** False once closing: long passes check it to stop early. */
    public boolean isRunning() {
        return running;
    }

    /** Asks for a pass soon. */
    public void trigger() {
        synchronized (signal) {
            pending = true;
            signal.notifyAll();
        }
    }

    private void run() {
        while (running) {
            boolean retrySoon = false;
            try {
                retrySoon = pass.run();
            } catch (RuntimeException e) {
                LOG.warning(thread.getName() + " pass failed: " + e);
            }
            synchronized (signal) {
                if (!pending && running) {
                    try {
                        signal.wait((retrySoon ? retry : period).toMillis());
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
                pending = false;
            }
        }
    }

    /** Stops the loop and waits up to {@code timeout} for a pass in progress to finish. */
    public void close(Duration timeout) {
        running = false;
        trigger();
        try {
            thread.join(timeout.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        close(Duration.ofSeconds(10));
    }
}
