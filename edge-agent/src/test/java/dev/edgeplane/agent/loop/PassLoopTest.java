package dev.edgeplane.agent.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class PassLoopTest {
    private static final Duration LONG = Duration.ofHours(1);

    @Test
    void runsOncePerTriggerAndKeepsGoingAfterAFailedPass() throws Exception {
        AtomicInteger passes = new AtomicInteger();
        CountDownLatch third = new CountDownLatch(3);
        PassLoop loop = new PassLoop("test-loop", LONG, () -> {
            third.countDown();
            if (passes.incrementAndGet() == 2) {
                throw new IllegalStateException("a failing pass");
            }
        });
        loop.start();
        awaitCount(passes, 1);
        loop.trigger();
        awaitCount(passes, 2);
        loop.trigger();
        assertTrue(third.await(10, TimeUnit.SECONDS), "a pass after the failed one");
        loop.close();
        assertFalse(loop.isRunning());
    }

    @Test
    void aPassAskingForARetryRunsAgainAfterTheRetryDelayNotThePeriod() throws Exception {
        AtomicInteger passes = new AtomicInteger();
        PassLoop loop = new PassLoop("retry-loop", LONG, Duration.ofMillis(20), () -> passes.incrementAndGet() < 3);
        loop.start();
        // Only the retries can bring it to 3 passes: nothing triggers it and the period is an hour.
        awaitCount(passes, 3);
        loop.close();
        assertEquals(3, passes.get());
    }

    @Test
    void closeStopsTheThread() {
        PassLoop loop = new PassLoop("closing-loop", LONG, () -> { });
        loop.start();
        loop.close(Duration.ofSeconds(5));
        assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().equals("closing-loop")));
    }

    private static void awaitCount(AtomicInteger count, int expected) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (count.get() < expected && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertTrue(count.get() >= expected, "passes " + count.get() + " < " + expected);
    }
}
