package dev.edgeplane.controlplane.store;

/** After etcd failed a write: wait 200 ms, doubling to 10 s, before the next try; reset on success. */
final class Backoff {
    private static final long FIRST_NANOS = 200_000_000L;
    private static final long MAX_NANOS = 10_000_000_000L;

    private long delay;
    private long until;

    synchronized boolean ready() {
        return delay == 0 || System.nanoTime() - until >= 0;
    }

    synchronized void failed() {
        delay = delay == 0 ? FIRST_NANOS : Math.min(MAX_NANOS, delay * 2);
        until = System.nanoTime() + delay;
    }

    synchronized void succeeded() {
        delay = 0;
    }
}
