package dev.edgeplane.controlplane.workqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.controlplane.workqueue.WorkQueue.Outcome;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class WorkQueueTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private final List<WorkQueue<?>> queues = new ArrayList<>();
    /** Reconciles per key. */
    private final Map<String, AtomicInteger> runs = new ConcurrentHashMap<>();

    @AfterEach
    void closeQueues() {
        queues.forEach(WorkQueue::close);
    }

    private WorkQueue<String> queue(String name, int workers, int capacity, WorkQueue.Reconciler<String> reconciler) {
        WorkQueue<String> queue = new WorkQueue<>(name, workers, capacity, key -> {
            runs.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
            return reconciler.reconcile(key);
        });
        queues.add(queue);
        return queue;
    }

    private int runs(String key) {
        AtomicInteger n = runs.get(key);
        return n == null ? 0 : n.get();
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(5);
        }
    }

    private static boolean idle(WorkQueue<?> queue) {
        return queue.depth() == 0 && queue.inProgress() == 0 && queue.delayed() == 0;
    }

    /** A reconciler that holds "blocker" until released, and finishes every other key at once. */
    private static final class Blocker implements WorkQueue.Reconciler<String> {
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);

        @Override
        public Outcome reconcile(String key) throws Exception {
            if (key.equals("blocker")) {
                entered.countDown();
                assertTrue(release.await(WAIT.toSeconds(), TimeUnit.SECONDS));
            }
            return WorkQueue.DONE;
        }
    }

    @Test
    void aKeyAddedManyTimesWhileQueuedIsReconciledOnce() throws Exception {
        Blocker blocker = new Blocker();
        WorkQueue<String> queue = queue("dedupe", 1, 100, blocker);
        queue.add("blocker");
        assertTrue(blocker.entered.await(WAIT.toSeconds(), TimeUnit.SECONDS));
        for (int i = 0; i < 100; i++) {
            assertTrue(queue.add("app-1"));
        }
        assertEquals(1, queue.depth(), "one queued item for one key");
        blocker.release.countDown();
        await("the queue drained", () -> runs("app-1") == 1 && idle(queue));
        assertEquals(1, runs("app-1"));
        assertEquals(2, queue.adds(), "blocker and app-1, each accepted once");
    }

    @Test
    void aKeyAddedWhileBeingReconciledRunsAgainAfterwardsNeverConcurrently() throws Exception {
        AtomicInteger concurrent = new AtomicInteger();
        AtomicInteger maxConcurrent = new AtomicInteger();
        CountDownLatch firstEntered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        WorkQueue<String> queue = queue("no-overlap", 4, 100, key -> {
            int now = concurrent.incrementAndGet();
            maxConcurrent.accumulateAndGet(now, Math::max);
            try {
                if (runs(key) == 1) {
                    firstEntered.countDown();
                    assertTrue(release.await(WAIT.toSeconds(), TimeUnit.SECONDS));
                }
                return WorkQueue.DONE;
            } finally {
                concurrent.decrementAndGet();
            }
        });
        queue.add("node-a");
        assertTrue(firstEntered.await(WAIT.toSeconds(), TimeUnit.SECONDS));
        for (int i = 0; i < 10; i++) {
            assertTrue(queue.add("node-a"));
        }
        // Three idle workers, and the key is dirty: none of them may take it while the first holds it.
        Thread.sleep(50);
        assertEquals(1, runs("node-a"), "not started again while the first reconcile runs");
        release.countDown();
        await("the second reconcile", () -> runs("node-a") == 2 && idle(queue));
        assertEquals(2, runs("node-a"), "the adds made while it ran collapse into one more reconcile");
        assertEquals(1, maxConcurrent.get(), "never two workers on one key");
    }

    @Test
    void manyWorkersAndManyAddersNeverOverlapOnOneKey() throws Exception {
        Map<String, AtomicInteger> perKey = new ConcurrentHashMap<>();
        List<String> overlaps = new CopyOnWriteArrayList<>();
        WorkQueue<String> queue = queue("stress", 4, 1000, key -> {
            AtomicInteger inKey = perKey.computeIfAbsent(key, k -> new AtomicInteger());
            if (inKey.incrementAndGet() > 1) {
                overlaps.add(key);
            }
            Thread.yield();
            inKey.decrementAndGet();
            return WorkQueue.DONE;
        });
        List<Thread> adders = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            Thread adder = new Thread(() -> {
                for (int i = 0; i < 5000; i++) {
                    queue.add("key-" + (i % 5));
                }
            });
            adders.add(adder);
            adder.start();
        }
        for (Thread adder : adders) {
            adder.join();
        }
        await("the queue drained", () -> idle(queue));
        assertEquals(List.of(), overlaps);
        for (int i = 0; i < 5; i++) {
            assertTrue(runs("key-" + i) >= 1, "key-" + i + " reconciled");
        }
    }

    @Test
    void failuresAreRetriedWithGrowingBackOffAndSuccessForgetsThem() throws Exception {
        List<Integer> failuresSeen = new CopyOnWriteArrayList<>();
        WorkQueue<String>[] self = new WorkQueue[1];
        WorkQueue<String> queue = queue("retry", 2, 100, key -> {
            failuresSeen.add(self[0].failuresOf(key));
            if (runs(key) <= 3) {
                throw new IllegalStateException("etcd unavailable (test)");
            }
            return WorkQueue.DONE;
        });
        self[0] = queue;
        queue.add("flaky");
        await("the fourth attempt succeeded", () -> runs("flaky") == 4 && idle(queue));
        assertEquals(List.of(0, 1, 2, 3), failuresSeen, "each retry follows one more failure in a row");
        assertEquals(3, queue.retries());
        assertEquals(0, queue.failuresOf("flaky"), "success forgets the failures");
        assertEquals(1, queue.adds(), "retries are not adds");
    }

    @Test
    void backOffDoublesFromTenMillisecondsUpToOneMinute() {
        assertEquals(Duration.ofMillis(10), WorkQueue.backoff(1));
        assertEquals(Duration.ofMillis(20), WorkQueue.backoff(2));
        assertEquals(Duration.ofMillis(40), WorkQueue.backoff(3));
        assertEquals(Duration.ofMillis(10_240), WorkQueue.backoff(11));
        assertEquals(Duration.ofSeconds(60), WorkQueue.backoff(14));
        assertEquals(Duration.ofSeconds(60), WorkQueue.backoff(1000));
    }

    @Test
    void aKeyThatAlwaysRequeuesDoesNotStarveAnother() throws Exception {
        CountDownLatch hogStarted = new CountDownLatch(1);
        WorkQueue<String> queue = queue("fair", 1, 100, key -> {
            if (key.equals("hog")) {
                hogStarted.countDown();
                return WorkQueue.REQUEUE;
            }
            return WorkQueue.DONE;
        });
        queue.add("hog");
        assertTrue(hogStarted.await(WAIT.toSeconds(), TimeUnit.SECONDS));
        assertTrue(queue.add("other"));
        await("the other key reconciled while the hog keeps requeueing", () -> runs("other") == 1);
        int hogRuns = runs("hog");
        await("the hog still runs after the other", () -> runs("hog") > hogRuns);
        assertEquals(0, queue.retries(), "a requeue is not a failure");
    }

    @Test
    void requeueAfterComesBackWithoutCountingAsAFailure() throws Exception {
        WorkQueue<String> queue = queue("later", 1, 100,
                key -> runs(key) == 1 ? new WorkQueue.RequeueAfter(Duration.ofMillis(30)) : WorkQueue.DONE);
        queue.add("rollout");
        await("the key came back after its delay", () -> runs("rollout") == 2 && idle(queue));
        assertEquals(0, queue.retries());
        assertEquals(0, queue.failuresOf("rollout"));
    }

    @Test
    void addAfterKeepsTheEarliestPendingDelay() throws Exception {
        WorkQueue<String> queue = queue("delayed", 1, 100, key -> WorkQueue.DONE);
        queue.addAfter("job", Duration.ofHours(1));
        queue.addAfter("job", Duration.ofMillis(10));
        queue.addAfter("job", Duration.ofHours(2));
        assertEquals(1, queue.delayed());
        await("the earliest delay fired", () -> runs("job") == 1 && idle(queue));
    }

    @Test
    void aFullQueueRefusesAndCountsIt() throws Exception {
        Blocker blocker = new Blocker();
        WorkQueue<String> queue = queue("bounded", 1, 2, blocker);
        queue.add("blocker");
        assertTrue(blocker.entered.await(WAIT.toSeconds(), TimeUnit.SECONDS));
        assertTrue(queue.add("a"));
        assertTrue(queue.add("b"));
        assertFalse(queue.add("c"), "capacity 2 is taken by a and b");
        assertTrue(queue.add("a"), "a key already queued is not refused");
        queue.addAfter("d", Duration.ofMillis(1));
        assertEquals(2, queue.refused());
        assertEquals(0, queue.delayed());
        blocker.release.countDown();
        await("a and b reconciled", () -> runs("a") == 1 && runs("b") == 1 && idle(queue));
        assertTrue(queue.add("c"), "room again once drained");
        await("c reconciled", () -> runs("c") == 1);
    }

    @Test
    void closeStopsEveryThreadOfTheQueue() throws Exception {
        Blocker blocker = new Blocker();
        WorkQueue<String> queue = queue("closing", 3, 100, blocker);
        queue.add("blocker");
        queue.addAfter("later", Duration.ofHours(1));
        assertTrue(blocker.entered.await(WAIT.toSeconds(), TimeUnit.SECONDS));
        assertTrue(threadsNamed("edgeplane-closing-") >= 4, "3 workers and the delay thread");
        blocker.release.countDown();
        queue.close();
        assertEquals(0, threadsNamed("edgeplane-closing-"), "no worker or delay thread left");
        assertFalse(queue.add("after-close"), "a closed queue refuses");
    }

    private static long threadsNamed(String prefix) {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith(prefix))
                .count();
    }
}
