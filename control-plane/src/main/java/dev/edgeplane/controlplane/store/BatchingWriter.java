package dev.edgeplane.controlplane.store;

import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BinaryOperator;
import java.util.function.Function;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * Writes changes of etcd keys in batches, for changes that arrive faster than each deserves a
 * transaction of its own (node status, replica status). Changes wait in a bounded queue that keeps one
 * per key ({@code coalesce}: the later wins or merges); each {@link #flush} takes what the transactions
 * in flight leave room for, asks the {@link Planner} what each change means against what is stored,
 * and commits the writes through {@link TxnWriter} in transactions of up to {@code perTxn} keys.
 *
 * <p>Guards: a planned write may carry a comparison on its key (e.g. {@link #unchangedSince}) and may
 * be fenced (the writer's fence, e.g. the leader key, is added to its transaction). A transaction
 * whose guard failed puts its changes back ahead of newer ones, marked stale: their keys are re-read
 * from etcd before they are planned again, at most {@code maxAttempts} times. Any other failure puts
 * them back and backs the whole writer off (200 ms doubling to 10 s). A change is forgotten only once
 * its write landed, the planner found nothing to write, or it lost its guard {@code maxAttempts}
 * times: nothing accepted is silently lost.
 *
 * <p>{@link #flush} is meant for one flusher thread; {@link #offer} may be called from any thread.
 */
public final class BatchingWriter<C, V> {
    private static final Logger LOG = Logger.getLogger(BatchingWriter.class);
    /** Take-plan-send rounds per flush at most (each takes up to the room in flight). */
    private static final int MAX_ROUNDS = 64;
    private static final long REFUSAL_LOG_NANOS = 10_000_000_000L;

    /** What one change means against what is stored. */
    public sealed interface Plan<V> permits Skip, Send {}

    /** Nothing to write (already stored, or no longer wanted): the change is done. */
    public record Skip<V>() implements Plan<V> {}

    /**
     * Write {@code write}; {@code stored} is the value it puts (null for a delete), remembered until the
     * cache catches up. {@code guard}: a comparison on the key (null: none); {@code fenced}: the
     * writer's fence joins the transaction.
     */
    public record Send<V>(Write write, V stored, Cmp guard, boolean fenced) implements Plan<V> {}

    /** The feature-specific part: what a change means, and what follows once it landed. */
    public interface Planner<C, V> {
        /**
         * Plans {@code change} of {@code key} against {@code current} (what is stored, null: nothing);
         * {@code reread}: current was just read from etcd (not the cache), e.g. after a lost guard.
         */
        Plan<V> plan(String key, C change, Entry<V> current, boolean reread);

        /** {@code sent} landed; {@code before} is what it was planned against (null: nothing). */
        default void landed(String key, C change, Entry<V> before, Send<V> sent) {}
    }

    /**
     * Sizes. {@code capacity}: keys waiting at most ({@link Integer#MAX_VALUE} where the keys are
     * bounded by existing objects); {@code offerWait}: how long {@link #offer} may wait for room;
     * {@code readUncached}: a key the cache does not hold is read from etcd (it may be newer than the
     * cache, e.g. a node that just joined) rather than taken as absent.
     */
    public record Limits(int perTxn, int maxTxnsInFlight, int capacity, Duration offerWait, int maxAttempts,
                         boolean readUncached) {
        public Limits {
            if (perTxn < 1 || perTxn > TxnWriter.MAX_OPS || maxTxnsInFlight < 1 || capacity < 1 || maxAttempts < 1) {
                throw new IllegalArgumentException("batching writer limits out of range: " + this);
            }
        }
    }

    private record Planned<C, V>(String key, C change, Entry<V> before, Send<V> send) {}

    private final String name;
    private final EtcdStore store;
    private final Function<byte[], V> decoder;
    private final TxnWriter writer;
    private final Supplier<Cmp> fence;
    private final Limits limits;
    private final Planner<C, V> planner;
    private final RecentWrites<V> written;
    private final PendingWrites<C> pending;
    private final Backoff backoff = new Backoff();
    private final AtomicLong txns = new AtomicLong();
    private final AtomicLong writes = new AtomicLong();
    private final AtomicLong conflicts = new AtomicLong();
    private int txnsInFlight; // guarded by this
    private long lastRefusalLog; // guarded by this
    private long refusedSinceLog; // guarded by this

    /**
     * @param name    what is written, for logs ("node status")
     * @param cache   the informer of the keys written (what is stored, as far as its watch has seen)
     * @param fence   the comparison that fenced writes carry (null: this writer plans none)
     * @param coalesce merges a waiting change with a newer one of the same key
     */
    public BatchingWriter(String name, EtcdStore store, PrefixCache<V> cache, Function<byte[], V> decoder, TxnWriter writer,
                          Supplier<Cmp> fence, Limits limits, BinaryOperator<C> coalesce, Planner<C, V> planner) {
        this.name = name;
        this.store = store;
        this.decoder = decoder;
        this.writer = writer;
        this.fence = fence;
        this.limits = limits;
        this.planner = planner;
        this.written = new RecentWrites<>(cache);
        this.pending = new PendingWrites<>(limits.capacity(), limits.maxAttempts(), limits.offerWait(), coalesce);
    }

    /** A guard that holds while {@code key} is still at {@code modRevision} (the revision a write was planned on). */
    public static Cmp unchangedSince(String key, long modRevision) {
        return new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(modRevision));
    }

    /**
     * Queues {@code changes} (key -> change). A key already waiting always takes the change; new keys
     * wait up to the offer wait for room, then are refused (counted, logged at most every 10 s): the
     * keys refused. What is refused was never accepted: its sender must send it again.
     */
    public List<String> offer(Map<String, C> changes) {
        List<String> refused = pending.offer(changes);
        if (!refused.isEmpty()) {
            refusedLog(refused.size());
        }
        return refused;
    }

    /** Queues one change; false: refused (the queue is full). */
    public boolean offer(String key, C change) {
        return offer(Map.of(key, change)).isEmpty();
    }

    private void refusedLog(int count) {
        long now = System.nanoTime();
        synchronized (this) {
            refusedSinceLog += count;
            if (lastRefusalLog != 0 && now - lastRefusalLog < REFUSAL_LOG_NANOS) {
                return;
            }
            lastRefusalLog = now;
            LOG.warnf("%s queue full (%d keys): %d changes refused since the last warning", name, limits.capacity(),
                    refusedSinceLog);
            refusedSinceLog = 0;
        }
    }

    /** What this process knows is stored at {@code key}: its own write the cache has not seen yet, else the cache's. */
    public Entry<V> current(String key) {
        return written.current(key);
    }

    /** The change waiting for {@code key} (not one in flight), or null. */
    public C waiting(String key) {
        return pending.waiting(key);
    }

    /** Nothing waits and nothing is in flight. */
    public boolean idle() {
        return pending.idle();
    }

    public int waiting() {
        return pending.size();
    }

    public long refused() {
        return pending.refused();
    }

    public long txns() {
        return txns.get();
    }

    public long writes() {
        return writes.get();
    }

    /** Transactions that lost a guard. */
    public long conflicts() {
        return conflicts.get();
    }

    /** Plans and sends what waits, as far as the transactions in flight and the back-off allow. */
    public void flush() {
        if (!backoff.ready()) {
            return;
        }
        written.prune();
        // Changes that turn out to need no write (most of a reconnect storm) take no room: go on taking.
        for (int round = 0; round < MAX_ROUNDS; round++) {
            if (!flushSome()) {
                return;
            }
        }
    }

    /** Takes what the transactions in flight leave room for and sends it; false when nothing more can go now. */
    private boolean flushSome() {
        int room;
        synchronized (this) {
            room = (limits.maxTxnsInFlight() - txnsInFlight) * limits.perTxn();
        }
        if (room <= 0 || !backoff.ready()) {
            return false;
        }
        List<Map.Entry<String, C>> taken = pending.take(room);
        if (taken.isEmpty()) {
            return false;
        }
        Map<String, Entry<V>> current = new HashMap<>();
        Set<String> reread = new HashSet<>();
        for (Map.Entry<String, C> item : taken) {
            String key = item.getKey();
            Entry<V> known = pending.isStale(key) ? null : written.current(key);
            if (known != null) {
                current.put(key, known);
            } else if (pending.isStale(key) || limits.readUncached()) {
                reread.add(key);
            }
        }
        if (!reread.isEmpty()) {
            try {
                BatchGet.read(store, reread).forEach((key, raw) -> current.put(key,
                        new Entry<>(key, decoder.apply(raw.value()), raw.modRevision(), raw.createRevision())));
            } catch (RuntimeException e) {
                LOG.warnf("could not read %d keys to write %s (%s); retrying", reread.size(), name, e.getMessage());
                backoff.failed();
                taken.forEach(item -> pending.failed(item.getKey(), item.getValue()));
                return false;
            }
        }
        // Lanes: unguarded writes never share a transaction with guarded ones (a lost guard would take
        // them along), nor fenced with unfenced ones.
        List<List<Planned<C, V>>> lanes = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        for (Map.Entry<String, C> item : taken) {
            String key = item.getKey();
            Entry<V> before = current.get(key);
            Plan<V> plan;
            try {
                plan = planner.plan(key, item.getValue(), before, reread.contains(key));
            } catch (RuntimeException e) {
                LOG.warnf(e, "planning %s of %s failed; dropped", name, key);
                plan = new Skip<>();
            }
            if (plan instanceof Send<V> send) {
                if (send.fenced() && fence == null) {
                    throw new IllegalStateException(name + " writer has no fence for " + key);
                }
                lanes.get((send.guard() != null ? 1 : 0) + (send.fenced() ? 2 : 0))
                        .add(new Planned<>(key, item.getValue(), before, send));
            } else {
                pending.done(key);
            }
        }
        for (int lane = 0; lane < lanes.size(); lane++) {
            send(lanes.get(lane), lane >= 2);
        }
        return true;
    }

    private void send(List<Planned<C, V>> planned, boolean fenced) {
        for (int from = 0; from < planned.size(); from += limits.perTxn()) {
            List<Planned<C, V>> group = List.copyOf(planned.subList(from, Math.min(planned.size(), from + limits.perTxn())));
            List<Write> batch = new ArrayList<>(group.size());
            List<Cmp> guards = new ArrayList<>();
            for (Planned<C, V> p : group) {
                batch.add(p.send().write());
                if (p.send().guard() != null) {
                    guards.add(p.send().guard());
                }
            }
            if (fenced) {
                guards.add(fence.get());
            }
            synchronized (this) {
                txnsInFlight++;
            }
            writer.commit(batch, guards).whenComplete((revision, error) -> landed(group, fenced, revision, error));
        }
    }

    private void landed(List<Planned<C, V>> group, boolean fenced, Long revision, Throwable error) {
        synchronized (this) {
            txnsInFlight--;
        }
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (cause == null) {
            backoff.succeeded();
            txns.incrementAndGet();
            writes.addAndGet(group.size());
            for (Planned<C, V> p : group) {
                if (p.send().write().isDelete()) {
                    written.deleted(p.key(), revision);
                } else {
                    written.put(p.key(), p.send().stored(), revision, p.before() == null ? 0 : p.before().createRevision());
                }
                pending.done(p.key());
                try {
                    planner.landed(p.key(), p.change(), p.before(), p.send());
                } catch (RuntimeException e) {
                    LOG.warnf(e, "after writing %s of %s", name, p.key());
                }
            }
        } else if (cause instanceof TxnWriter.GuardFailed) {
            // A key changed under us (another writer), or the fence no longer holds: re-read, plan again.
            conflicts.incrementAndGet();
            for (Planned<C, V> p : group) {
                if (!pending.conflicted(p.key(), p.change())) {
                    LOG.warnf("gave up writing %s of %s: it kept changing", name, p.key());
                }
            }
            if (fenced) {
                LOG.debugf("%d fenced %s writes lost their guard (the fence, or a key, changed)", group.size(), name);
            }
        } else {
            LOG.warnf("writing %s of %d keys failed (%s); retrying", name, group.size(), cause.getMessage());
            backoff.failed();
            for (Planned<C, V> p : group) {
                pending.failed(p.key(), p.change());
            }
        }
    }
}
