package dev.edgeplane.controlplane.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The shared batching writer behind the status writers, against a real etcd. */
class BatchingWriterTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    @RegisterExtension
    static final EtcdStoreExtension etcd = new EtcdStoreExtension();
    private static EtcdStore store;
    private static ScheduledExecutorService retries;

    @BeforeAll
    static void start() {
        store = etcd.store();
        retries = Executors.newSingleThreadScheduledExecutor();
    }

    @AfterAll
    static void stop() {
        if (retries != null) {
            retries.shutdownNow();
        }
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String stored(String key) {
        byte[] raw = store.get(key).map(Entry::value).orElse(null);
        return raw == null ? null : new String(raw, StandardCharsets.UTF_8);
    }

    private static PrefixCache<String> cache(String prefix) {
        PrefixCache<String> cache = new PrefixCache<>(store, prefix, b -> new String(b, StandardCharsets.UTF_8), retries);
        cache.start();
        return cache;
    }

    /** Puts the change as the value, unguarded; counts the writes it planned. */
    private static final class PutsTheChange implements BatchingWriter.Planner<String, String> {
        final AtomicInteger planned = new AtomicInteger();

        @Override
        public BatchingWriter.Plan<String> plan(String key, String change, Entry<String> current, boolean reread) {
            planned.incrementAndGet();
            return new BatchingWriter.Send<>(Write.put(key, utf8(change)), change, null, false);
        }
    }

    private static BatchingWriter<String, String> writer(PrefixCache<String> cache, int capacity, Duration offerWait,
                                                         BatchingWriter.Planner<String, String> planner) {
        return new BatchingWriter<>("test", store, cache, b -> new String(b, StandardCharsets.UTF_8), new TxnWriter(store, 2),
                null, new BatchingWriter.Limits(16, 2, capacity, offerWait, 3, false), (older, newer) -> newer, planner);
    }

    private static void flushUntilIdle(BatchingWriter<?, ?> writer) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!writer.idle()) {
            assertTrue(System.nanoTime() < deadline, "the writer drains within " + WAIT);
            writer.flush();
            Thread.sleep(10);
        }
    }

    @Test
    void changesToOneKeyWaitingTogetherCoalesceIntoOneWriteOfTheLatest() throws Exception {
        try (PrefixCache<String> cache = cache("/test/coalesce/")) {
            PutsTheChange planner = new PutsTheChange();
            BatchingWriter<String, String> writer = writer(cache, 100, Duration.ZERO, planner);
            for (int i = 1; i <= 50; i++) {
                assertTrue(writer.offer("/test/coalesce/a", "a" + i));
            }
            assertTrue(writer.offer("/test/coalesce/b", "b1"));
            assertEquals(2, writer.waiting(), "one entry per key");
            flushUntilIdle(writer);
            assertEquals("a50", stored("/test/coalesce/a"));
            assertEquals("b1", stored("/test/coalesce/b"));
            assertEquals(2, writer.writes());
            assertEquals(1, writer.txns(), "both keys in one transaction");
            assertEquals(2, planner.planned.get());
        }
    }

    @Test
    void aFullQueueRefusesNewKeysCountsThemAndWritesWhatItAccepted() throws Exception {
        try (PrefixCache<String> cache = cache("/test/bound/")) {
            BatchingWriter<String, String> writer = writer(cache, 2, Duration.ZERO, new PutsTheChange());
            List<String> refused = writer.offer(Map.of("/test/bound/a", "1", "/test/bound/b", "1"));
            assertEquals(List.of(), refused);
            assertFalse(writer.offer("/test/bound/c", "1"), "a third key does not fit");
            assertTrue(writer.offer("/test/bound/a", "2"), "a key already waiting always takes the newer change");
            assertEquals(1, writer.refused());
            flushUntilIdle(writer);
            assertEquals("2", stored("/test/bound/a"));
            assertEquals("1", stored("/test/bound/b"));
            assertNull(stored("/test/bound/c"), "what was refused was never accepted");
            assertTrue(writer.offer("/test/bound/c", "1"), "room again once written");
            flushUntilIdle(writer);
            assertEquals("1", stored("/test/bound/c"));
        }
    }

    /** Appends the change to what is stored, guarded on the revision it read: a read-modify-write. */
    private static final class Appends implements BatchingWriter.Planner<String, String> {
        final List<Boolean> rereads = new ArrayList<>();
        final List<String> landed = new ArrayList<>();

        @Override
        public BatchingWriter.Plan<String> plan(String key, String change, Entry<String> current, boolean reread) {
            rereads.add(reread);
            String next = (current == null ? "" : current.value()) + change;
            return new BatchingWriter.Send<>(Write.put(key, utf8(next)), next,
                    current == null ? null : BatchingWriter.unchangedSince(key, current.modRevision()), false);
        }

        @Override
        public void landed(String key, String change, Entry<String> before, BatchingWriter.Send<String> sent) {
            landed.add(sent.stored());
        }
    }

    @Test
    void aLostGuardRereadsTheKeyAndPlansAgainKeepingTheOtherWrite() throws Exception {
        store.put("/test/guard/k", utf8("base"));
        PrefixCache<String> frozen = cache("/test/guard/");
        frozen.close(); // a cache that saw "base" and then stopped watching: behind etcd from now on
        store.put("/test/guard/k", utf8("edited"));

        Appends planner = new Appends();
        BatchingWriter<String, String> writer = writer(frozen, 10, Duration.ZERO, planner);
        assertTrue(writer.offer("/test/guard/k", "+mine"));
        flushUntilIdle(writer);

        assertEquals("edited+mine", stored("/test/guard/k"), "the other write is kept, and ours landed on top");
        assertEquals(1, writer.conflicts(), "through one lost guard");
        assertEquals(List.of(false, true), planner.rereads, "planned on the cache, then on a re-read");
        assertEquals(List.of("edited+mine"), planner.landed);
        assertEquals("edited+mine", writer.current("/test/guard/k").value(), "its own write is what it knows is stored");
    }

    @Test
    void aKeyThatKeepsLosingItsGuardIsDroppedAfterTheAttemptsNotRetriedForever() throws Exception {
        store.put("/test/hopeless/k", utf8("v"));
        try (PrefixCache<String> cache = cache("/test/hopeless/")) {
            AtomicInteger planned = new AtomicInteger();
            BatchingWriter<String, String> writer = writer(cache, 10, Duration.ZERO, (key, change, current, reread) -> {
                planned.incrementAndGet();
                return new BatchingWriter.Send<>(Write.put(key, utf8(change)), change, BatchingWriter.unchangedSince(key, 1), false);
            });
            assertTrue(writer.offer("/test/hopeless/k", "never"));
            flushUntilIdle(writer);
            assertEquals(3, planned.get(), "maxAttempts plans");
            assertEquals(3, writer.conflicts());
            assertEquals(0, writer.writes());
            assertEquals("v", stored("/test/hopeless/k"));
        }
    }

    @Test
    void aFencedWriteIsWrittenOnlyWhileTheFenceHolds() throws Exception {
        store.put("/test/fence/leader", utf8("me"));
        try (PrefixCache<String> cache = cache("/test/fence/data/")) {
            AtomicBoolean leader = new AtomicBoolean(true);
            BatchingWriter.Planner<String, String> planner = (key, change, current, reread) ->
                    new BatchingWriter.Send<>(Write.put(key, utf8(change)), change, null, true);
            BatchingWriter<String, String> writer = new BatchingWriter<>("test", store, cache,
                    b -> new String(b, StandardCharsets.UTF_8), new TxnWriter(store, 2),
                    () -> new io.etcd.jetcd.op.Cmp(EtcdStore.bytes("/test/fence/leader"), io.etcd.jetcd.op.Cmp.Op.EQUAL,
                            io.etcd.jetcd.op.CmpTarget.value(EtcdStore.bytes(leader.get() ? "me" : "other"))),
                    new BatchingWriter.Limits(16, 2, 10, Duration.ZERO, 3, false), (older, newer) -> newer, planner);
            assertTrue(writer.offer("/test/fence/data/a", "1"));
            flushUntilIdle(writer);
            assertEquals("1", stored("/test/fence/data/a"));

            leader.set(false);
            assertTrue(writer.offer("/test/fence/data/a", "2"));
            flushUntilIdle(writer);
            assertEquals("1", stored("/test/fence/data/a"), "not written past a fence that does not hold");
            assertEquals(3, writer.conflicts());
        }
    }

    @Test
    void aWriteEtcdRefusesIsPutBackAndLandsOnALaterTryNotLost() throws Exception {
        try (PrefixCache<String> cache = cache("/test/refused/")) {
            AtomicInteger attempts = new AtomicInteger();
            BatchingWriter<String, String> writer = writer(cache, 10, Duration.ZERO, (key, change, current, reread) -> {
                // The first try is over etcd's --max-request-bytes (1.5 MiB): etcd refuses the transaction.
                String value = attempts.getAndIncrement() == 0 ? "x".repeat(2 << 20) : change;
                return new BatchingWriter.Send<>(Write.put(key, utf8(value)), value, null, false);
            });
            assertTrue(writer.offer("/test/refused/k", "small"));
            flushUntilIdle(writer);
            assertEquals("small", stored("/test/refused/k"));
            assertEquals(2, attempts.get(), "tried again after the failure");
            assertEquals(0, writer.conflicts(), "a failure is not a lost guard: no attempt used up");
        }
    }

    @Test
    void underConcurrentOffersEveryAcceptedChangeLandsAsTheLatestAcceptedValue() throws Exception {
        try (PrefixCache<String> cache = cache("/test/storm/")) {
            BatchingWriter<String, String> writer = writer(cache, 64, Duration.ofMillis(1), new PutsTheChange());
            Map<String, String> lastAccepted = new ConcurrentHashMap<>();
            AtomicInteger refusals = new AtomicInteger();
            AtomicBoolean offering = new AtomicBoolean(true);
            List<Thread> senders = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int thread = t;
                Thread sender = new Thread(() -> {
                    for (int round = 1; round <= 5; round++) {
                        for (int i = 0; i < 100; i++) {
                            String key = "/test/storm/t" + thread + "-" + i;
                            String value = "r" + round;
                            if (writer.offer(key, value)) {
                                lastAccepted.put(key, value);
                            } else {
                                refusals.incrementAndGet();
                            }
                        }
                    }
                });
                senders.add(sender);
                sender.start();
            }
            Thread flusher = new Thread(() -> {
                while (offering.get()) {
                    writer.flush();
                    try {
                        Thread.sleep(1);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            flusher.start();
            for (Thread sender : senders) {
                sender.join(WAIT.toMillis());
            }
            offering.set(false);
            flusher.join(WAIT.toMillis());
            flushUntilIdle(writer);

            assertFalse(lastAccepted.isEmpty());
            Map<String, String> inEtcd = new java.util.HashMap<>();
            for (Entry<byte[]> entry : store.listAll("/test/storm/").entries()) {
                inEtcd.put(entry.key(), new String(entry.value(), StandardCharsets.UTF_8));
            }
            assertEquals(lastAccepted, inEtcd, "every key accepted holds the last value accepted for it; nothing else");
            assertEquals(refusals.get(), writer.refused(), "every refusal counted");
            assertTrue(writer.writes() <= 2000 - refusals.get(), "no more writes than changes accepted");
        }
    }
}
