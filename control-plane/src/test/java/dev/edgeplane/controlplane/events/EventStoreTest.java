package dev.edgeplane.controlplane.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Event;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.ObjectReference;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.EtcdStoreExtension;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StoreException;
import dev.edgeplane.controlplane.store.TestStores;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The event writer against a real etcd: batched transactions, folding, and the bound on waiting records. */
class EventStoreTest {
    @RegisterExtension
    static final EtcdStoreExtension etcd = new EtcdStoreExtension();
    private static EtcdStore store;

    @BeforeAll
    static void start() {
        store = etcd.store();
    }

    private static EventStore events(Duration writeInterval, int maxWrites, int maxPending) {
        ControlPlaneConfig.Event event = TestStores.config(ControlPlaneConfig.Event.class, Map.of("ttl", Duration.ofHours(1),
                "writeInterval", writeInterval, "maxWritesPerInterval", maxWrites, "maxPending", maxPending));
        return new EventStore(store, TestStores.config(ControlPlaneConfig.class, Map.of("event", event)));
    }

    private static Occurrence replicaEvent(String namespace, String replica, String reason) {
        return Occurrence.of(EventLevel.INFO, ObjectReference.newBuilder().setKind("Replica").setNamespace(namespace)
                .setName(replica).build(), reason, "scheduled", "edge-1", "control-plane", Instant.now());
    }

    private static List<Occurrence> replicas(String namespace, int count) {
        List<Occurrence> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            out.add(replicaEvent(namespace, "r-" + i, "Scheduled"));
        }
        return out;
    }

    @Test
    void aFleetWideBurstLandsInBatchedTransactionsNotOneWriteARecord() throws Exception {
        EventStore events = events(Duration.ofMillis(50), 2000, 100_000);
        events.start();
        try {
            long before = store.put("/test/marker", new byte[0]);
            events.recordAll(replicas("burst", 1000)).get(60, TimeUnit.SECONDS);
            long after = store.put("/test/marker", new byte[0]);

            assertEquals(1000, store.listAll(Keys.EVENTS + "burst/").entries().size(), "every record is in etcd");
            // 1,000 records in transactions of 100: 10 revisions, plus a lease grant (no revision) and the marker.
            long revisions = after - before - 1;
            assertTrue(revisions <= 1000 / EventStore.BATCH + 2, "1,000 records took " + revisions + " etcd revisions");
        } finally {
            events.stop();
        }
    }

    @Test
    void repeatsFoldIntoTheRecordTheyFind() throws Exception {
        EventStore events = events(Duration.ofMillis(50), 2000, 100_000);
        events.start();
        try {
            events.recordAll(List.of(replicaEvent("fold", "r-0", "BackOff"))).get(30, TimeUnit.SECONDS);
            events.awaitOwnWrites(Duration.ofSeconds(10));
            events.recordAll(List.of(replicaEvent("fold", "r-0", "BackOff"), replicaEvent("fold", "r-0", "BackOff")))
                    .get(30, TimeUnit.SECONDS);
            List<Event> stored = store.listAll(Keys.EVENTS + "fold/").entries().stream()
                    .map(e -> EtcdStore.decode(Event.parser(), e.value())).toList();
            assertEquals(1, stored.size());
            assertEquals(3, stored.get(0).getCount(), "one record counting three occurrences");
        } finally {
            events.stop();
        }
    }

    @Test
    void theRecordsAreReadInTheBackgroundWhileOccurrencesWaitAndReadsAreRefused() throws Exception {
        EventStore before = events(Duration.ofMillis(50), 2000, 100_000); // the process before a restart
        before.start();
        before.recordAll(List.of(replicaEvent("restart", "r-0", "BackOff"))).get(30, TimeUnit.SECONDS);
        before.stop();

        EventStore events = events(Duration.ofMillis(50), 2000, 100_000);
        long etcdPid = etcd.server().pid();
        CompletableFuture<Void> written;
        signal(etcdPid, "STOP"); // etcd answers nothing: the listing cannot finish
        try {
            events.start(); // returns all the same: nothing at start-up waits for the records
            StoreException reading = assertThrows(StoreException.class, () -> events.loadedCache(Duration.ofMillis(300)));
            assertTrue(reading.getMessage().contains("still reading the event records"), reading.getMessage());
            written = events.recordAll(List.of(replicaEvent("restart", "r-0", "BackOff")));
            assertEquals(1, events.pendingCount(), "an occurrence waits in memory while the records are read");
            assertFalse(written.isDone(), "nothing is written before the records are read");
        } finally {
            signal(etcdPid, "CONT");
        }
        try {
            PrefixCache<Event> records = events.loadedCache(Duration.ofSeconds(60));
            written.get(60, TimeUnit.SECONDS);
            events.awaitOwnWrites(Duration.ofSeconds(10));
            List<Entry<Event>> restart = records.list(Keys.EVENTS + "restart/");
            assertEquals(1, restart.size());
            assertEquals(2, restart.get(0).value().getCount(), "the new occurrence folded into the record read from etcd");
        } finally {
            events.stop();
        }
    }

    private static void signal(long pid, String signal) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).inheritIO().start();
        assertEquals(0, kill.waitFor(), "kill -" + signal + " " + pid);
    }

    @Test
    void newRecordsBeyondMaxPendingAreRefusedWhileRepeatsStillFold() throws Exception {
        // A long interval: nothing is written while the test fills the queue.
        EventStore events = events(Duration.ofHours(1), 2000, 10);
        List<Occurrence> ten = replicas("full", 10);
        events.recordAll(ten);
        assertEquals(10, events.pendingCount());

        EventStore.Full full = assertThrows(EventStore.Full.class, () -> events.recordAll(List.of(replicaEvent("full", "r-new", "Scheduled"))));
        assertTrue(full.getMessage().contains("edgeplane.event.max-pending"), full.getMessage());
        assertEquals(10, events.pendingCount(), "a refused report records nothing");

        events.recordAll(List.of(ten.get(3), ten.get(7)));
        assertEquals(10, events.pendingCount(), "repeats fold into waiting records");

        events.record(replicaEvent("full", "r-dropped", "Scheduled")); // the control plane's own: dropped, not thrown
        assertEquals(10, events.pendingCount());

        events.stop(); // writes what waits
        List<Event> stored = store.listAll(Keys.EVENTS + "full/").entries().stream()
                .map(e -> EtcdStore.decode(Event.parser(), e.value())).toList();
        assertEquals(10, stored.size());
        assertEquals(12, stored.stream().mapToLong(Event::getCount).sum(), "ten records, two of them repeated once");
    }
}
