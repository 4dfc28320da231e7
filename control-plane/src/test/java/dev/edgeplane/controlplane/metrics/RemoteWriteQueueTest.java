package dev.edgeplane.controlplane.metrics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class RemoteWriteQueueTest {
    private static final SeriesKey CPU = SeriesKey.of("node_cpu_usage_cores", Map.of("node", "a"));
    private static final long NEVER = TimeUnit.HOURS.toNanos(1);

    @Test
    void aFullBatchIsReadAtOnceAndStaysUntilRemoved() throws Exception {
        RemoteWriteQueue queue = new RemoteWriteQueue(10);
        for (int i = 0; i < 4; i++) {
            queue.offer(CPU, 1000 + i, i);
        }
        RemoteWriteQueue.Batch batch = queue.awaitBatch(3, NEVER, 0);
        assertArrayEquals(new long[] {1000, 1001, 1002}, batch.times());
        assertEquals(4, queue.size(), "read, not taken: a failed request is retried with the same samples");
        assertArrayEquals(new long[] {1000, 1001, 1002}, queue.awaitBatch(3, NEVER, 0).times());
        queue.remove(batch);
        assertEquals(1, queue.size());
        assertArrayEquals(new long[] {1003}, queue.awaitBatch(3, 0, 0).times(), "past its deadline a partial batch goes");
    }

    @Test
    void aPartialBatchWaitsForItsDeadline() throws Exception {
        RemoteWriteQueue queue = new RemoteWriteQueue(10);
        queue.offer(CPU, 1, 1);
        assertEquals(1, queue.awaitBatch(5, NEVER, TimeUnit.MILLISECONDS.toNanos(20)).size(), "given back when the wait ends");
        assertNull(new RemoteWriteQueue(10).awaitBatch(5, NEVER, TimeUnit.MILLISECONDS.toNanos(20)), "nothing waiting: nothing");
    }

    @Test
    void fullItDropsTheOldestAndCountsThem() throws Exception {
        RemoteWriteQueue queue = new RemoteWriteQueue(3);
        for (int i = 0; i < 5; i++) {
            queue.offer(CPU, i, i);
        }
        assertEquals(2, queue.dropped());
        assertArrayEquals(new long[] {2, 3, 4}, queue.awaitBatch(3, NEVER, 0).times());
    }

    @Test
    void samplesDroppedWhileABatchWasInFlightAreNotRemovedTwice() throws Exception {
        RemoteWriteQueue queue = new RemoteWriteQueue(3);
        for (int i = 0; i < 3; i++) {
            queue.offer(CPU, i, i);
        }
        RemoteWriteQueue.Batch inFlight = queue.awaitBatch(2, NEVER, 0); // samples 0 and 1
        queue.offer(CPU, 3, 3); // drops 0
        queue.offer(CPU, 4, 4); // drops 1
        queue.remove(inFlight);
        assertArrayEquals(new long[] {2, 3, 4}, queue.awaitBatch(3, NEVER, 0).times(), "the newer samples stay");
    }
}
