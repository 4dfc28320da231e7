package dev.edgeplane.controlplane.workqueue;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.jboss.logging.Logger;

/**
 * client-go's workqueue, small: keyed, de-duplicated, never two workers on one key (a key added
 * while being reconciled is re-queued after), per-key exponential retry back-off on failure
 * (10 ms .. 60 s, reset on success), bounded (a full queue refuses with false, counted).
 *
 * <p>A key is in at most one of: the ready queue, being reconciled (possibly also marked dirty, to
 * run again after), waiting for a delay. Keys must have proper equals/hashCode (a record, a String).
 * Workers are daemon threads named {@code edgeplane-<name>-<i>}; delays run on one scheduler thread
 * per queue, {@code edgeplane-<name>-delay}.
 */
public final class WorkQueue<K> implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(WorkQueue.class);
    static final Duration MIN_BACKOFF = Duration.ofMillis(10);
    static final Duration MAX_BACKOFF = Duration.ofSeconds(60);
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(5);

    public interface Reconciler<K> {
        Outcome reconcile(K key) throws Exception;
    }

    public sealed interface Outcome permits Done, Requeue, RequeueAfter {}

    /** Finished; forget failures. */
    public record Done() implements Outcome {}

    /** Budget used up, more to do: back of the queue, no back-off. */
    public record Requeue() implements Outcome {}

    /** Look again after {@code delay} (e.g. a deadline); not a failure. */
    public record RequeueAfter(Duration delay) implements Outcome {
        public RequeueAfter {
            Objects.requireNonNull(delay, "delay");
        }
    }

    public static final Outcome DONE = new Done();
    public static final Outcome REQUEUE = new Requeue();

    private final String name;
    private final int capacity;
    private final Reconciler<K> reconciler;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition ready = lock.newCondition();
    /** Keys ready to be reconciled, in order. Guarded by lock. */
    private final ArrayDeque<K> queue = new ArrayDeque<>();
    /** Keys that need a reconcile: those in the queue, and those added again while being reconciled. Guarded by lock. */
    private final Set<K> dirty = new HashSet<>();
    /** Keys a worker is reconciling now. Guarded by lock. */
    private final Set<K> processing = new HashSet<>();
    /** Keys waiting for a delay, with when they are due (nanoTime) and the scheduled add. Guarded by lock. */
    private final Map<K, Delayed> waiting = new HashMap<>();
    /** Consecutive failures per key, for the back-off; forgotten on success. Guarded by lock. */
    private final Map<K, Integer> failures = new HashMap<>();
    private final List<Thread> workers;
    private final ScheduledExecutorService delays;
    private final AtomicLong adds = new AtomicLong();
    private final AtomicLong retries = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();
    private boolean closed;

    private record Delayed(long dueNanos, ScheduledFuture<?> task) {}

    public WorkQueue(String name, int workers, int capacity, Reconciler<K> reconciler) {
        if (workers < 1 || capacity < 1) {
            throw new IllegalArgumentException("a work queue needs at least 1 worker and a capacity of at least 1 (" + name + ")");
        }
        this.name = name;
        this.capacity = capacity;
        this.reconciler = reconciler;
        this.delays = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "edgeplane-" + name + "-delay"));
        List<Thread> threads = new ArrayList<>(workers);
        for (int i = 0; i < workers; i++) {
            Thread t = daemon(this::work, "edgeplane-" + name + "-" + i);
            threads.add(t);
        }
        this.workers = List.copyOf(threads);
        this.workers.forEach(Thread::start);
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    /**
     * Queues {@code key} unless it is already queued (then this is a no-op). True when the key is (or
     * already was) queued; false when the queue is full or closed (counted in {@link #refused()}).
     */
    public boolean add(K key) {
        Objects.requireNonNull(key, "key");
        lock.lock();
        try {
            return enqueue(key, false);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Queues {@code key} after {@code delay}; an earlier pending delay for the key wins. A full queue
     * refuses (counted in {@link #refused()}).
     */
    public void addAfter(K key, Duration delay) {
        Objects.requireNonNull(key, "key");
        lock.lock();
        try {
            schedule(key, delay, false);
        } finally {
            lock.unlock();
        }
    }

    /** Keys ready and waiting for a worker. */
    public int depth() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }

    /** Keys waiting for a delay (retry back-off or RequeueAfter). */
    public int delayed() {
        lock.lock();
        try {
            return waiting.size();
        } finally {
            lock.unlock();
        }
    }

    /** Keys being reconciled now. */
    public int inProgress() {
        lock.lock();
        try {
            return processing.size();
        } finally {
            lock.unlock();
        }
    }

    /** Keys accepted by {@link #add} (not counting de-duplicated adds of a queued key, nor retries). */
    public long adds() {
        return adds.get();
    }

    /** Reconciles that failed and were retried after a back-off. */
    public long retries() {
        return retries.get();
    }

    /** Adds refused because the queue was full or closed. */
    public long refused() {
        return refused.get();
    }

    /** Failures in a row of {@code key} (0 once it succeeded): what its next back-off follows. */
    int failuresOf(K key) {
        lock.lock();
        try {
            return failures.getOrDefault(key, 0);
        } finally {
            lock.unlock();
        }
    }

    public String name() {
        return name;
    }

    /** Caller holds lock. {@code internal}: a key the queue already held (retry, Requeue), never refused for capacity. */
    private boolean enqueue(K key, boolean internal) {
        if (closed) {
            refused.incrementAndGet();
            return false;
        }
        if (dirty.contains(key)) {
            return true;
        }
        if (!internal && dirty.size() + waiting.size() >= capacity && !waiting.containsKey(key)) {
            refused.incrementAndGet();
            return false;
        }
        dirty.add(key);
        if (!internal) {
            adds.incrementAndGet();
        }
        if (!processing.contains(key)) {
            queue.addLast(key);
            ready.signal();
        }
        return true;
    }

    /** Caller holds lock. */
    private void schedule(K key, Duration delay, boolean internal) {
        if (closed) {
            refused.incrementAndGet();
            return;
        }
        if (delay.isNegative() || delay.isZero()) {
            enqueue(key, internal);
            return;
        }
        long due = System.nanoTime() + delay.toNanos();
        Delayed pending = waiting.get(key);
        if (pending != null) {
            if (pending.dueNanos() <= due) {
                return; // an earlier one will add it
            }
            pending.task().cancel(false);
        } else if (!internal && dirty.size() + waiting.size() >= capacity) {
            refused.incrementAndGet();
            return;
        }
        ScheduledFuture<?> task = delays.schedule(() -> due(key, due), delay.toNanos(), TimeUnit.NANOSECONDS);
        waiting.put(key, new Delayed(due, task));
    }

    private void due(K key, long dueNanos) {
        lock.lock();
        try {
            Delayed pending = waiting.get(key);
            if (pending == null || pending.dueNanos() != dueNanos) {
                return; // replaced by an earlier one
            }
            waiting.remove(key);
            enqueue(key, true);
        } finally {
            lock.unlock();
        }
    }

    private void work() {
        while (true) {
            K key;
            lock.lock();
            try {
                while (queue.isEmpty() && !closed) {
                    ready.awaitUninterruptibly();
                }
                if (closed) {
                    return;
                }
                key = queue.pollFirst();
                dirty.remove(key);
                processing.add(key);
            } finally {
                lock.unlock();
            }
            Outcome outcome;
            Throwable failure = null;
            try {
                outcome = reconciler.reconcile(key);
            } catch (Throwable t) {
                outcome = null;
                failure = t;
            }
            finish(key, outcome, failure);
        }
    }

    private void finish(K key, Outcome outcome, Throwable failure) {
        lock.lock();
        try {
            processing.remove(key);
            if (dirty.contains(key) && !closed) {
                // Added while it was being reconciled: run it again now that no worker holds it.
                queue.addLast(key);
                ready.signal();
            }
            if (failure != null) {
                int n = failures.merge(key, 1, Integer::sum);
                Duration backoff = backoff(n);
                retries.incrementAndGet();
                if (n == 1 || n % 10 == 0) {
                    LOG.warnf(failure, "%s: reconciling %s failed (%d in a row); retrying in %d ms", name, key, n, backoff.toMillis());
                }
                schedule(key, backoff, true);
                return;
            }
            failures.remove(key);
            if (outcome instanceof Requeue) {
                enqueue(key, true); // behind every key queued meanwhile
            } else if (outcome instanceof RequeueAfter after) {
                schedule(key, after.delay(), true);
            }
        } finally {
            lock.unlock();
        }
    }

    /** 10 ms, 20 ms, 40 ms ... capped at 60 s, for the {@code n}th failure in a row. */
    static Duration backoff(int n) {
        long millis = MIN_BACKOFF.toMillis() << Math.min(Math.max(n - 1, 0), 20);
        return Duration.ofMillis(Math.min(millis, MAX_BACKOFF.toMillis()));
    }

    /**
     * Stops taking work: the workers finish the reconcile they are in and exit, waiting at most a
     * few seconds (then they are interrupted); pending delays are dropped. Idempotent.
     */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            ready.signalAll();
        } finally {
            lock.unlock();
        }
        delays.shutdownNow();
        long deadline = System.nanoTime() + CLOSE_WAIT.toNanos();
        try {
            delays.awaitTermination(CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Thread worker : workers) {
            if (worker == Thread.currentThread()) {
                continue; // closed from inside a reconcile: this worker exits when it returns
            }
            join(worker, deadline);
            if (worker.isAlive()) {
                worker.interrupt();
                join(worker, System.nanoTime() + CLOSE_WAIT.toNanos());
                if (worker.isAlive()) {
                    LOG.warnf("%s: worker %s did not stop within %s of close", name, worker.getName(), CLOSE_WAIT.multipliedBy(2));
                }
            }
        }
    }

    private static void join(Thread thread, long deadlineNanos) {
        long left = deadlineNanos - System.nanoTime();
        if (left <= 0) {
            return;
        }
        try {
            thread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
