package dev.edgeplane.controlplane.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.testkit.EtcdServer;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The writer against a real etcd with its default limits (--max-txn-ops 128, --max-request-bytes 1.5 MiB). */
class TxnWriterTest {
    @RegisterExtension
    static final EtcdStoreExtension etcd = new EtcdStoreExtension();
    private static EtcdStore store;

    @BeforeAll
    static void start() {
        store = etcd.store();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static List<Write> puts(String prefix, int count, int valueBytes) {
        List<Write> writes = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            writes.add(Write.put(String.format("%s%05d", prefix, i), new byte[valueBytes]));
        }
        return writes;
    }

    /** etcd's current revision (a write to a marker key). Each transaction raises the revision by exactly one. */
    private static long revisionNow() {
        return store.put("/test/marker", new byte[0]);
    }

    private static long commit(TxnWriter writer, List<Write> writes, List<Cmp> guards) throws Exception {
        return writer.commit(writes, guards).get(60, TimeUnit.SECONDS);
    }

    @Test
    void aThousandPutsLandInTransactionsOfAtMost128AllVisible() throws Exception {
        long before = revisionNow();
        long newest = commit(new TxnWriter(store, 1), puts("/test/thousand/", 1000, 10), List.of());
        assertEquals(8, newest - before, "ceil(1000 / 128) transactions");
        assertEquals(1000, store.listAll("/test/thousand/").entries().size());
    }

    @Test
    void pipelinedTransactionsStillLandEverything() throws Exception {
        long before = revisionNow();
        long newest = commit(new TxnWriter(store, 4), puts("/test/pipelined/", 3000, 100), List.of());
        assertEquals(24, newest - before, "ceil(3000 / 128) transactions, newest revision reported");
        List<Entry<byte[]>> listed = store.listAll("/test/pipelined/").entries();
        assertEquals(3000, listed.size());
        assertTrue(listed.stream().allMatch(e -> e.modRevision() > before && e.modRevision() <= newest));
    }

    @Test
    void aPlanOverOneMebibyteIsSplitByBytes() throws Exception {
        long before = revisionNow();
        // 10 x 300 KiB: three fit under the 1 MiB budget, so 4 transactions, far below 128 ops each.
        long newest = commit(new TxnWriter(store, 2), puts("/test/big/", 10, 300 * 1024), List.of());
        assertEquals(4, newest - before);
        List<Entry<byte[]>> listed = store.listAll("/test/big/").entries();
        assertEquals(10, listed.size());
        assertTrue(listed.stream().allMatch(e -> e.value().length == 300 * 1024));
    }

    @Test
    void aSingleWriteOverEtcdsRequestLimitFailsNamingIt() {
        // Over --max-request-bytes (1.5 MiB) etcd refuses the request; over 2 MiB its gRPC server does.
        for (int size : new int[] {1600 * 1024, 2 * 1024 * 1024}) {
            var failure = assertThrows(ExecutionException.class, () -> commit(new TxnWriter(store, 1),
                    List.of(Write.put("/test/huge/a", new byte[size])), List.of()));
            assertInstanceOf(StoreException.class, failure.getCause());
            String message = failure.getCause().getMessage();
            assertTrue(message.contains("--max-request-bytes") && message.contains("/test/huge/a"), message);
            assertTrue(store.get("/test/huge/a").isEmpty());
        }
    }

    @Test
    void aFailedGuardStopsThePlanAndLaterTransactionsAreNotWritten() throws Exception {
        store.put("/test/guard/leader", utf8("me"));
        Cmp stillLeader = new Cmp(EtcdStore.bytes("/test/guard/leader"), Cmp.Op.EQUAL, CmpTarget.value(EtcdStore.bytes("me")));
        // The first transaction itself deposes us (its first write), so the second one's guard fails.
        List<Write> plan = new ArrayList<>();
        plan.add(Write.put("/test/guard/leader", utf8("someone-else")));
        plan.addAll(puts("/test/guard/k/", 400, 10));
        var failure = assertThrows(ExecutionException.class, () -> commit(new TxnWriter(store, 1), plan, List.of(stillLeader)));
        assertInstanceOf(TxnWriter.GuardFailed.class, failure.getCause());
        List<Entry<byte[]>> landed = store.listAll("/test/guard/k/").entries();
        assertEquals(127, landed.size(), "only the first transaction (the leader key and 127 more) landed");
        assertEquals("/test/guard/k/00126", landed.get(landed.size() - 1).key());
    }

    @Test
    void aGuardThatFailsFromTheStartWritesNothing() throws Exception {
        store.put("/test/fenced/leader", utf8("other"));
        Cmp stillLeader = new Cmp(EtcdStore.bytes("/test/fenced/leader"), Cmp.Op.EQUAL, CmpTarget.value(EtcdStore.bytes("me")));
        var failure = assertThrows(ExecutionException.class,
                () -> commit(new TxnWriter(store, 4), puts("/test/fenced/k/", 1000, 10), List.of(stillLeader)));
        assertInstanceOf(TxnWriter.GuardFailed.class, failure.getCause());
        assertEquals(0, store.listAll("/test/fenced/k/").entries().size());
    }

    @Test
    void anUnreachableEtcdFailsTheCommitWithAStoreException() throws Exception {
        EtcdServer doomed = EtcdServer.start();
        EtcdStore doomedStore = TestStores.store(doomed.endpoint());
        try {
            doomedStore.put("/test/doomed/before", utf8("x")); // connected once
            doomed.kill();
            var failure = assertThrows(ExecutionException.class,
                    () -> commit(new TxnWriter(doomedStore, 2), puts("/test/doomed/k/", 300, 10), List.of()));
            assertInstanceOf(StoreException.class, failure.getCause());
        } finally {
            doomedStore.close();
            doomed.close();
        }
    }

    @Test
    void anEmptyPlanCompletesAtOnceWithZero() throws Exception {
        CompletableFuture<Long> done = new TxnWriter(store, 1).commit(List.of(), List.of());
        assertTrue(done.isDone());
        assertEquals(0L, done.get());
    }

    @Test
    void deletesAndTheLastWriteToAKeyWin() throws Exception {
        store.put("/test/mixed/gone", utf8("x"));
        commit(new TxnWriter(store, 2), List.of(
                Write.put("/test/mixed/a", utf8("1")),
                Write.delete("/test/mixed/gone"),
                Write.put("/test/mixed/a", utf8("2"))), List.of());
        assertTrue(store.get("/test/mixed/gone").isEmpty());
        assertArrayEquals(utf8("2"), store.get("/test/mixed/a").orElseThrow().value());
    }

    @Test
    void commitsThatWriteTheSameKeysLandInCommitOrder() throws Exception {
        TxnWriter writer = new TxnWriter(store, 8);
        List<CompletableFuture<Long>> commits = new ArrayList<>();
        for (int round = 0; round < 20; round++) {
            List<Write> plan = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                plan.add(Write.put("/test/order/" + i, utf8("round-" + round)));
            }
            commits.add(writer.commit(plan, List.of()));
        }
        CompletableFuture.allOf(commits.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
        List<Entry<byte[]>> listed = store.listAll("/test/order/").entries();
        assertEquals(300, listed.size());
        for (Entry<byte[]> e : listed) {
            assertEquals("round-19", new String(e.value(), StandardCharsets.UTF_8), e.key());
        }
    }
}
