package dev.edgeplane.controlplane.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Listing a prefix bigger than one etcd response may carry (jetcd accepts 4 MiB): pages, all read at
 * the first page's revision, so a concurrent writer's later changes are not mixed in.
 */
class PagedListingTest {
    @RegisterExtension
    static final EtcdStoreExtension etcd = new EtcdStoreExtension();
    private static EtcdStore store;

    @BeforeAll
    static void start() {
        store = etcd.store();
    }

    private static void fill(String prefix, int count, int valueBytes) throws Exception {
        List<Write> writes = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            writes.add(Write.put(String.format("%s%05d", prefix, i), new byte[valueBytes]));
        }
        new TxnWriter(store, 4).commit(writes, List.of()).get(60, TimeUnit.SECONDS);
    }

    @Test
    void aPrefixOverSixMebibytesIsListedWholeAtOneRevisionWhileAWriterChangesIt() throws Exception {
        String prefix = "/test/paged/";
        fill(prefix, 3000, 2048); // ~6 MiB: more than one response may carry
        long filled = store.put("/test/marker", new byte[0]);

        // Meanwhile: new keys between the existing ones, and overwrites near the end of the range.
        Map<String, Long> written = new ConcurrentHashMap<>();
        AtomicBoolean listing = new AtomicBoolean(true);
        Thread writer = new Thread(() -> {
            for (int i = 0; listing.get() || i < 5; i++) {
                String key = String.format("%s%05d-new-%d", prefix, (i * 37) % 3000, i);
                written.put(key, store.put(key, new byte[16]));
                store.put(String.format("%s%05d", prefix, 2999 - (i % 100)), new byte[16]);
                try {
                    Thread.sleep(2); // a steady trickle, not a flood that slows the listing down
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        writer.start();
        EtcdStore.Page page;
        try {
            page = store.listAll(prefix);
        } finally {
            listing.set(false);
            writer.join();
        }

        assertTrue(page.revision() >= filled);
        Set<String> expected = new TreeSet<>();
        for (int i = 0; i < 3000; i++) {
            expected.add(String.format("%s%05d", prefix, i));
        }
        written.forEach((key, revision) -> {
            if (revision <= page.revision()) {
                expected.add(key);
            }
        });
        Map<String, Entry<byte[]>> listed = new TreeMap<>();
        for (Entry<byte[]> e : page.entries()) {
            listed.put(e.key(), e);
            assertTrue(e.modRevision() <= page.revision(), e.key() + " changed after the listing's revision");
        }
        assertEquals(page.entries().size(), listed.size(), "no key twice");
        assertEquals(expected, listed.keySet());
        assertTrue(written.values().stream().anyMatch(r -> r > page.revision()), "the writer wrote after the listing's revision");
        assertEquals(new ArrayList<>(listed.keySet()), page.entries().stream().map(Entry::key).toList(), "in key order");
    }

    @Test
    void pagesTooLargeForOneResponseAreReadInSmallerOnes() throws Exception {
        // 600 keys of 10 KiB in one default page (2,000 keys) would be a 6 MiB response: over jetcd's 4 MiB.
        String prefix = "/test/wide/";
        fill(prefix, 600, 10 * 1024);
        EtcdStore.Page page = store.listAll(prefix);
        assertEquals(600, page.entries().size());
        assertTrue(page.entries().stream().allMatch(e -> e.value().length == 10 * 1024));
    }

    @Test
    void anInformerStartsOnAPrefixBiggerThanOneResponse() throws Exception {
        String prefix = "/test/informer/";
        fill(prefix, 2500, 2048); // ~5 MiB
        ScheduledExecutorService retries = Executors.newSingleThreadScheduledExecutor();
        try (PrefixCache<byte[]> cache = new PrefixCache<>(store, prefix, value -> value, retries)) {
            cache.start();
            assertEquals(2500, cache.all().size());
            store.put(prefix + "after", new byte[1]);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (cache.get(prefix + "after") == null) {
                assertTrue(System.nanoTime() < deadline, "the watch after the paged list delivers new keys");
                Thread.sleep(10);
            }
        } finally {
            retries.shutdownNow();
        }
    }

    @Test
    void keysAtAnOldRevisionArePagedToo() throws Exception {
        String prefix = "/test/keys/";
        fill(prefix, 12_000, 1);
        long then = store.put("/test/marker", new byte[0]);
        store.delete(prefix + "00000");
        store.put(prefix + "zzz", new byte[1]);
        List<String> keys = store.keysAt(prefix, then).orElseThrow();
        assertEquals(12_000, keys.size());
        assertEquals(prefix + "00000", keys.get(0));
        assertEquals(prefix + "11999", keys.get(keys.size() - 1));
        assertEquals(12_000, store.keysAt(prefix, store.put("/test/marker", new byte[0])).orElseThrow().size());
    }

    /**
     * etcd reads the WHOLE rest of a range for a request with any sort order and truncates to the limit
     * only afterwards, so a sorted page costs what a full listing costs (a start over 100,000 keys took
     * minutes). Its ranges come in key order without one.
     */
    @Test
    void pagesAskForNoSortOrderSoEtcdStopsReadingAtTheLimit() {
        for (boolean keysOnly : new boolean[] {false, true}) {
            io.etcd.jetcd.options.GetOption option = EtcdStore.pageOption("/test/any/", 500, 7, keysOnly);
            assertEquals(io.etcd.jetcd.options.GetOption.SortOrder.NONE, option.getSortOrder());
            assertEquals(500, option.getLimit());
        }
    }

    @Test
    void anEmptyPrefixListsNothingAtTheCurrentRevision() {
        long now = store.put("/test/marker", new byte[0]);
        EtcdStore.Page page = store.listAll("/test/nothing-here/");
        assertEquals(0, page.entries().size());
        assertTrue(page.revision() >= now);
    }
}
