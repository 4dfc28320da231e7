package dev.edgeplane.controlplane.events;

import dev.edgeplane.api.v1.Event;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StoreException;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.PutOption;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Event records in etcd at /edgeplane/events/&lt;namespace&gt;/&lt;name&gt;, expiring {@code ttl} after their
 * last occurrence, read back through ONE watch of the prefix ({@link #cache()}).
 *
 * <p>Writes are bounded, whatever agents send: occurrences are folded in memory per record and a
 * single writer thread writes each dirty record at most once per {@code write-interval}, at most
 * {@code max-writes-per-interval} records per interval (the rest keep folding), in transactions of
 * up to {@link #BATCH} records, all of a round in flight together. Each record's put is guarded by its
 * mod_revision (or its absence), so two control planes folding into the same record never lose counts.
 *
 * <p>Leases are shared per time bucket, not one per event: every record written during one bucket
 * (a minute at the default TTL) is attached to that bucket's lease, granted with TTL + bucket
 * seconds. A record thus lives between TTL and TTL + bucket after its last write, etcd tracks about
 * TTL / bucket leases (61) instead of one per record, and a lease grant costs one round trip per
 * bucket instead of one per write. A repeat re-attaches the record to the current bucket's lease.
 */
@ApplicationScoped
public class EventStore implements EventRecorder {
    private static final Logger LOG = Logger.getLogger(EventStore.class);
    private static final Duration MAX_BUCKET = Duration.ofMinutes(1);
    private static final int ATTEMPTS = 5;
    /** Records per transaction: well under etcd's 128 operations (and compares) per transaction. */
    static final int BATCH = 100;

    private final EtcdStore store;
    private final Duration ttl;
    private final Duration bucket;
    private final Duration interval;
    private final int maxWrites;
    private final int maxPending;
    private final java.util.concurrent.atomic.AtomicLong dropped = new java.util.concurrent.atomic.AtomicLong();
    private final Clock clock = Clock.systemUTC();
    private final PrefixCache<Event> cache;
    private final ScheduledExecutorService writer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "edgeplane-event-writer");
        t.setDaemon(true);
        return t;
    });
    private final ScheduledExecutorService reader = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "edgeplane-event-reader"); // the first listing, and the watch's retries
        t.setDaemon(true);
        return t;
    });
    /** Records with occurrences not yet in etcd, oldest first (guarded by itself). */
    private final LinkedHashMap<String, Pending> pending = new LinkedHashMap<>();
    /** Lease per time bucket (writer thread only). */
    private final TreeMap<Long, Long> leases = new TreeMap<>();
    private ScheduledFuture<?> flushing; // guarded by this
    /** Completed once the records were read and the watch runs: reads wait for it, the write rounds start with it. */
    private final CompletableFuture<Void> loaded = new CompletableFuture<>();
    private boolean failing;
    /** etcd revision of this process's newest event write: reads wait for the watch to reach it. */
    private final java.util.concurrent.atomic.AtomicLong lastWrite = new java.util.concurrent.atomic.AtomicLong();

    /** Occurrences folded into one record, and who waits for them to be in etcd. */
    private static final class Pending {
        Occurrence occurrence;
        final CompletableFuture<Void> written = new CompletableFuture<>();

        Pending(Occurrence occurrence) {
            this.occurrence = occurrence;
        }
    }

    public EventStore(EtcdStore store, ControlPlaneConfig config) {
        this.store = store;
        this.ttl = config.event().ttl();
        if (ttl.compareTo(Duration.ofSeconds(1)) < 0) {
            throw new IllegalArgumentException("edgeplane.event.ttl must be at least 1s, not " + ttl);
        }
        // A tenth of the TTL, at most a minute, at least a second: expiry stays close to the TTL.
        Duration tenth = Duration.ofSeconds(Math.max(1, ttl.toSeconds() / 10));
        this.bucket = tenth.compareTo(MAX_BUCKET) > 0 ? MAX_BUCKET : tenth;
        this.interval = config.event().writeInterval();
        this.maxWrites = Math.max(1, config.event().maxWritesPerInterval());
        this.maxPending = Math.max(1, config.event().maxPending());
        this.cache = new PrefixCache<>(store, Keys.EVENTS, b -> EtcdStore.decode(Event.parser(), b), reader);
    }

    /**
     * Starts reading the records in the background and returns: a fleet's records take seconds to list
     * after a restart, and neither the agent endpoint nor recording waits for them (occurrences fold in
     * memory until the first write round, which starts once the records are read). Reads of the records
     * wait for them ({@link #loadedCache}). A listing that fails is tried again, 1 s to 30 s apart.
     */
    public void start() {
        reader.execute(() -> load(1));
    }

    private void load(int attempt) {
        try {
            cache.start();
        } catch (RuntimeException e) {
            long delay = Math.min(30, 1L << Math.min(attempt - 1, 5));
            LOG.warnf("events: cannot read the event records from etcd (%s); trying again in %d s", e.getMessage(), delay);
            if (!reader.isShutdown()) {
                reader.schedule(() -> load(attempt + 1), delay, TimeUnit.SECONDS);
            }
            return;
        }
        synchronized (this) {
            if (!writer.isShutdown()) {
                flushing = writer.scheduleWithFixedDelay(this::flush, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
            }
        }
        loaded.complete(null);
        LOG.infof("events: %d records read; kept %s after their last occurrence (leases per %ds bucket), written at most every %dms",
                cache.size(), ttl, bucket.toSeconds(), interval.toMillis());
    }

    /** Writes what is still pending (bounded wait), then stops. */
    public void stop() {
        synchronized (this) {
            if (flushing != null) {
                flushing.cancel(false);
            }
        }
        try {
            writer.submit(this::flush).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warnf("events: could not write the last pending events: %s", e.toString());
        }
        writer.shutdownNow();
        reader.shutdownNow();
        cache.close();
    }

    /**
     * Every event record, kept current by one etcd watch, once they have been read (at most {@code max}
     * after the call); a {@link StoreException} (UNAVAILABLE to API callers) when they are still being read.
     */
    public PrefixCache<Event> loadedCache(Duration max) {
        try {
            loaded.get(max.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new StoreException("the control plane is still reading the event records from etcd; try again shortly", null);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StoreException("interrupted while waiting for the event records", e);
        } catch (java.util.concurrent.ExecutionException e) { // not reached: loaded is only ever completed normally
            throw new IllegalStateException(e);
        }
        return cache;
    }

    /**
     * Waits (at most {@code max}) until the watch has delivered this process's own writes, so a list
     * right after an ack (which means "written") sees what was acked.
     */
    public void awaitOwnWrites(Duration max) {
        long deadline = System.nanoTime() + max.toNanos();
        while (cache.revision() < lastWrite.get() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    public Duration ttl() {
        return ttl;
    }

    @Override
    public void record(Occurrence occurrence) {
        try {
            recordAll(List.of(occurrence));
        } catch (Full e) {
            long n = dropped.incrementAndGet();
            if (Long.bitCount(n) == 1) { // 1, 2, 4, 8, ...: the log says it without flooding
                LOG.warnf("events: %s; %d events of the control plane dropped so far", e.getMessage(), n);
            }
        }
    }

    /** Refusal of occurrences that would start new records while {@code max-pending} records wait already. */
    public static final class Full extends RuntimeException {
        Full(int limit) {
            super(limit + " event records are waiting to be written (edgeplane.event.max-pending)", null, false, false);
        }
    }

    /**
     * Folds the occurrences into their records; the future completes once all of them are in etcd.
     * Throws {@link Full} (and records none of them) when they would start new records beyond
     * {@code max-pending}: folding into a waiting record costs nothing, a new one costs memory.
     */
    public CompletableFuture<Void> recordAll(List<Occurrence> occurrences) {
        List<CompletableFuture<Void>> waits = new ArrayList<>(occurrences.size());
        synchronized (pending) {
            if (pending.size() + occurrences.size() > maxPending) {
                long fresh = occurrences.stream().map(o -> Keys.event(o.namespace(), o.name())).distinct()
                        .filter(k -> !pending.containsKey(k)).count();
                if (pending.size() + fresh > maxPending) {
                    throw new Full(maxPending);
                }
            }
            for (Occurrence o : occurrences) {
                String key = Keys.event(o.namespace(), o.name());
                Pending p = pending.get(key);
                if (p == null) {
                    p = new Pending(o);
                    pending.put(key, p);
                } else {
                    p.occurrence = p.occurrence.plus(o);
                }
                waits.add(p.written);
            }
        }
        return CompletableFuture.allOf(waits.toArray(CompletableFuture[]::new));
    }

    /** Records waiting for their write (for tests and logs). */
    public int pendingCount() {
        synchronized (pending) {
            return pending.size();
        }
    }

    /**
     * One round: the oldest dirty records, {@link #BATCH} to a transaction, every transaction of the
     * round in flight at once (a fleet-wide change makes thousands of records; one round trip each
     * would take minutes to drain). A batch whose guard failed (another writer moved one of its records)
     * is written again record by record; on etcd trouble the rest wait.
     */
    private void flush() {
        List<Map.Entry<String, Pending>> round = new ArrayList<>();
        synchronized (pending) {
            Iterator<Map.Entry<String, Pending>> it = pending.entrySet().iterator();
            while (it.hasNext() && round.size() < maxWrites) {
                round.add(it.next());
                it.remove();
            }
        }
        if (round.isEmpty()) {
            return;
        }
        List<List<Map.Entry<String, Pending>>> batches = new ArrayList<>();
        List<CompletableFuture<TxnResponse>> commits = new ArrayList<>();
        List<Map.Entry<String, Pending>> unwritten = new ArrayList<>();
        RuntimeException trouble = null;
        for (int from = 0; from < round.size(); from += BATCH) {
            List<Map.Entry<String, Pending>> batch = round.subList(from, Math.min(round.size(), from + BATCH));
            if (trouble == null) {
                try {
                    commits.add(commitFromCache(batch));
                    batches.add(batch);
                    continue;
                } catch (RuntimeException e) {
                    trouble = e; // no lease: nothing more is sent this round
                }
            }
            unwritten.addAll(batch);
        }
        // Every transaction sent is awaited before anything is put back, so a record is never in two at once.
        for (int b = 0; b < batches.size(); b++) {
            List<Map.Entry<String, Pending>> batch = batches.get(b);
            try {
                TxnResponse response = store.await(commits.get(b), "write " + batch.size() + " event records");
                if (response.isSucceeded()) {
                    lastWrite.accumulateAndGet(response.getHeader().getRevision(), Math::max);
                    batch.forEach(e -> e.getValue().written.complete(null));
                    continue;
                }
            } catch (RuntimeException e) {
                trouble = trouble == null ? e : trouble;
                unwritten.addAll(batch);
                continue;
            }
            // Another writer moved one of the batch's records: each on its own, from etcd's copy.
            for (int i = 0; i < batch.size(); i++) {
                Map.Entry<String, Pending> e = batch.get(i);
                try {
                    write(e.getKey(), e.getValue().occurrence);
                    e.getValue().written.complete(null);
                } catch (RuntimeException ex) {
                    trouble = trouble == null ? ex : trouble;
                    unwritten.addAll(batch.subList(i, batch.size()));
                    break;
                }
            }
        }
        if (trouble == null) {
            if (failing) {
                failing = false;
                LOG.info("events: writing to etcd again");
            }
            return;
        }
        if (String.valueOf(trouble.getMessage()).contains("lease not found")) {
            leases.clear(); // expired or revoked (etcd restored?): the next round grants a fresh one
        }
        if (!failing) {
            LOG.warnf("events: cannot write to etcd (%s); %d records wait and keep folding", trouble.getMessage(),
                    unwritten.size() + pendingCount());
            failing = true;
        }
        requeue(unwritten);
    }

    /** One transaction for a batch of records, folded onto the watch's copies and guarded on their revisions. */
    private CompletableFuture<TxnResponse> commitFromCache(List<Map.Entry<String, Pending>> batch) {
        long lease = leaseFor(clock.instant());
        PutOption withLease = PutOption.builder().withLeaseId(lease).build();
        List<Cmp> guards = new ArrayList<>(batch.size());
        List<Op> puts = new ArrayList<>(batch.size());
        for (Map.Entry<String, Pending> e : batch) {
            ByteSequence k = EtcdStore.bytes(e.getKey());
            Entry<Event> current = cache.get(e.getKey());
            guards.add(current == null
                    ? new Cmp(k, Cmp.Op.EQUAL, CmpTarget.version(0))
                    : new Cmp(k, Cmp.Op.EQUAL, CmpTarget.modRevision(current.modRevision())));
            puts.add(Op.put(k, EtcdStore.bytes(fold(current == null ? null : current.value(), e.getValue().occurrence).toByteArray()),
                    withLease));
        }
        return store.client().getKVClient().txn().If(guards.toArray(Cmp[]::new)).Then(puts.toArray(Op[]::new)).commit();
    }

    /** Puts records back in front, folding what arrived for them meanwhile. */
    private void requeue(List<Map.Entry<String, Pending>> unwritten) {
        synchronized (pending) {
            LinkedHashMap<String, Pending> merged = new LinkedHashMap<>();
            for (Map.Entry<String, Pending> e : unwritten) {
                Pending old = e.getValue();
                Pending newer = pending.remove(e.getKey());
                if (newer != null) {
                    old.occurrence = old.occurrence.plus(newer.occurrence);
                    old.written.whenComplete((v, t) -> newer.written.complete(null));
                }
                merged.put(e.getKey(), old);
            }
            merged.putAll(pending);
            pending.clear();
            pending.putAll(merged);
        }
    }

    private void write(String key, Occurrence o) {
        ByteSequence k = EtcdStore.bytes(key);
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            // The watch's copy first (no read); etcd itself when the transaction says it was stale.
            Entry<Event> current = attempt == 0 ? cache.get(key) : store.get(key, Event.parser()).orElse(null);
            Event next = fold(current == null ? null : current.value(), o);
            Cmp cmp = current == null
                    ? new Cmp(k, Cmp.Op.EQUAL, CmpTarget.version(0))
                    : new Cmp(k, Cmp.Op.EQUAL, CmpTarget.modRevision(current.modRevision()));
            long lease = leaseFor(clock.instant());
            TxnResponse response;
            try {
                response = store.await(store.client().getKVClient().txn()
                        .If(cmp)
                        .Then(Op.put(k, EtcdStore.bytes(next.toByteArray()), PutOption.builder().withLeaseId(lease).build()))
                        .commit(), "write event " + key);
            } catch (StoreException e) {
                if (String.valueOf(e.getMessage()).contains("lease not found")) {
                    leases.clear(); // expired or revoked (etcd restored?): grant a fresh one
                    continue;
                }
                throw e;
            }
            if (response.isSucceeded()) {
                lastWrite.accumulateAndGet(response.getHeader().getRevision(), Math::max);
                return;
            }
        }
        throw new StoreException("event " + key + " kept changing under " + ATTEMPTS + " attempts", null);
    }

    private Event fold(Event current, Occurrence o) {
        Instant now = clock.instant();
        Event.Builder b;
        if (current == null) {
            b = Event.newBuilder()
                    .setMetadata(ObjectMeta.newBuilder().setName(o.name()).setNamespace(o.namespace())
                            .setUid(UUID.randomUUID().toString()).setCreateTime(Joiner.timestamp(now)))
                    .setInvolvedObject(o.object())
                    .setReason(o.reason())
                    .setSource(o.source())
                    .setNode(o.node())
                    .setFirstTime(Joiner.timestamp(o.first()))
                    .setLastTime(Joiner.timestamp(o.last()))
                    .setLevel(o.level())
                    .setMessage(o.message());
        } else {
            b = current.toBuilder();
            b.getMetadataBuilder().setResourceVersion(0);
            if (o.first().isBefore(Joiner.toInstant(current.getFirstTime()))) {
                b.setFirstTime(Joiner.timestamp(o.first()));
            }
            if (!o.last().isBefore(Joiner.toInstant(current.getLastTime()))) {
                b.setLastTime(Joiner.timestamp(o.last())).setLevel(o.level()).setMessage(o.message());
            }
        }
        return b.setCount(b.getCount() + o.count()).build();
    }

    /** The lease of the bucket {@code now} falls in, granted on first use (writer thread only). */
    private long leaseFor(Instant now) {
        long index = now.toEpochMilli() / bucket.toMillis();
        Long lease = leases.get(index);
        if (lease != null) {
            return lease;
        }
        long seconds = ttl.plus(bucket).toSeconds();
        long id = store.await(store.client().getLeaseClient().grant(seconds), "grant an event lease").getID();
        leases.put(index, id);
        // Buckets whose leases have expired by now are of no use any more.
        leases.headMap(index - seconds * 1000 / bucket.toMillis() - 1).clear();
        return id;
    }
}
