package dev.edgeplane.controlplane.metrics;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The samples waiting to be remote-written: a bounded ring in primitive arrays (a series reference,
 * a time and a value: about 24 bytes a sample). Full, it drops the oldest (the newest say more about
 * now) and counts them. The sender reads a batch from the head without taking it and removes it only
 * once the receiver accepted it, so a failed request is retried with the same samples; samples
 * dropped while a batch was in flight are simply not removed twice (positions are sequence numbers).
 */
final class RemoteWriteQueue {
    /** A batch read from the head: samples {@code first .. first + size - 1} by sequence number. */
    record Batch(long first, SeriesKey[] series, long[] times, double[] values) {
        int size() {
            return series.length;
        }
    }

    private final int capacity;
    private final SeriesKey[] series;
    private final long[] times;
    private final double[] values;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition added = lock.newCondition();
    /** Sequence number of the oldest sample held, and of the next one to add. Guarded by lock. */
    private long head;
    private long tail;
    /** When the oldest sample now waiting was added (nanoTime), for the send deadline. Guarded by lock. */
    private long oldestAddedNanos;
    private long dropped;

    RemoteWriteQueue(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be at least 1: " + capacity);
        }
        this.capacity = capacity;
        this.series = new SeriesKey[capacity];
        this.times = new long[capacity];
        this.values = new double[capacity];
    }

    void offer(SeriesKey key, long timeMs, double value) {
        lock.lock();
        try {
            if (tail - head == capacity) {
                series[(int) (head % capacity)] = null;
                head++;
                dropped++;
            }
            if (tail == head) {
                oldestAddedNanos = System.nanoTime();
            }
            int at = (int) (tail % capacity);
            series[at] = key;
            times[at] = timeMs;
            values[at] = value;
            tail++;
            if (tail - head >= 1) {
                added.signalAll();
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until {@code max} samples wait or the oldest has waited {@code deadlineNanos}, or until
     * {@code waitNanos} passed; then reads up to {@code max} from the head (null: none).
     */
    Batch awaitBatch(int max, long deadlineNanos, long waitNanos) throws InterruptedException {
        lock.lock();
        try {
            long until = System.nanoTime() + waitNanos;
            while (true) {
                long waiting = tail - head;
                long now = System.nanoTime();
                if (waiting >= max || (waiting > 0 && now - oldestAddedNanos >= deadlineNanos)) {
                    return read(max);
                }
                long sleep = Math.min(until - now, waiting > 0 ? deadlineNanos - (now - oldestAddedNanos) : until - now);
                if (sleep <= 0) {
                    return waiting > 0 ? read(max) : null;
                }
                added.awaitNanos(sleep);
            }
        } finally {
            lock.unlock();
        }
    }

    private Batch read(int max) {
        int n = (int) Math.min(max, tail - head);
        SeriesKey[] s = new SeriesKey[n];
        long[] t = new long[n];
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            int at = (int) ((head + i) % capacity);
            s[i] = series[at];
            t[i] = times[at];
            v[i] = values[at];
        }
        return new Batch(head, s, t, v);
    }

    /** The batch was accepted (or given up): forget its samples, those not already dropped. */
    void remove(Batch batch) {
        lock.lock();
        try {
            long end = batch.first() + batch.size();
            while (head < end && head < tail) {
                series[(int) (head % capacity)] = null;
                head++;
            }
            oldestAddedNanos = System.nanoTime();
        } finally {
            lock.unlock();
        }
    }

    int size() {
        lock.lock();
        try {
            return (int) (tail - head);
        } finally {
            lock.unlock();
        }
    }

    long dropped() {
        lock.lock();
        try {
            return dropped;
        } finally {
            lock.unlock();
        }
    }

    /** Waits up to {@code timeout} for the queue to empty (shutdown). */
    boolean awaitEmpty(long timeout, TimeUnit unit) throws InterruptedException {
        long until = System.nanoTime() + unit.toNanos(timeout);
        while (size() > 0) {
            if (System.nanoTime() > until) {
                return false;
            }
            Thread.sleep(10);
        }
        return true;
    }
}
