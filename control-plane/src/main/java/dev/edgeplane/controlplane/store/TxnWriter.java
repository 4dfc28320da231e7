package dev.edgeplane.controlplane.store;

import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.PutOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Commits plans of writes in guarded (e.g. leader-fenced) transactions, each within etcd's limits
 * (at most {@link #MAX_OPS} operations: etcd's default --max-txn-ops; at most {@link #MAX_BYTES} of
 * keys and values: well under etcd's default --max-request-bytes of 1.5 MiB), with up to
 * {@code maxInFlight} transactions in flight at once across all commits of this writer.
 *
 * <p>Ordering: the transactions of one commit touch distinct keys (a plan's writes to one key are
 * collapsed to the last), so they may land in any order. A transaction that touches a key still in
 * flight for an earlier commit waits for it, and transactions start in the order they were planned,
 * so two commits that write one key land in commit order.
 *
 * <p>The returned futures complete on the etcd client's threads: continue with the *Async variants
 * when the continuation is more than trivial.
 */
public final class TxnWriter {
    /** etcd's default --max-txn-ops. */
    public static final int MAX_OPS = 128;
    /** Keys + values per transaction: with etcd's framing, well under --max-request-bytes (1.5 MiB). */
    public static final int MAX_BYTES = 1 << 20;
    /** What one operation costs in the request besides its key and value (protobuf framing, roughly). */
    private static final int OP_OVERHEAD = 16;
    private static final long TIMEOUT_SECONDS = 10;

    /** A guard of the transaction failed (e.g. this replica is no longer the leader): nothing after it was written. */
    public static final class GuardFailed extends RuntimeException {
        public GuardFailed(String message) {
            super(message);
        }
    }

    private final EtcdStore store;
    private final int maxInFlight;
    /** Transactions planned but not yet sent, in plan order. Guarded by this. */
    private final ArrayDeque<Chunk> waiting = new ArrayDeque<>();
    /** Keys of the transactions in flight. Guarded by this. */
    private final Set<String> keysInFlight = new HashSet<>();
    private int inFlight;

    public TxnWriter(EtcdStore store, int maxInFlight) {
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("maxInFlight must be at least 1, got " + maxInFlight);
        }
        this.store = store;
        this.maxInFlight = maxInFlight;
    }

    /**
     * Splits into transactions, each guarded by all of {@code guards} (an If of Cmps; e.g.
     * LeaderLock.fence()). Completes with the newest revision written, or exceptionally with
     * {@link GuardFailed} when a guard failed (no transaction of this commit is sent after that), or
     * with a {@link StoreException} when etcd failed or refused a transaction (e.g. a single write over
     * its --max-request-bytes). An empty list completes at once with 0. Two writes to one key: the
     * last one wins.
     */
    public CompletableFuture<Long> commit(List<Write> writes, List<Cmp> guards) {
        if (writes.isEmpty()) {
            return CompletableFuture.completedFuture(0L);
        }
        Commit commit = new Commit(List.copyOf(guards));
        List<Chunk> chunks = split(commit, lastPerKey(writes));
        commit.remaining = chunks.size();
        synchronized (this) {
            waiting.addAll(chunks);
        }
        dispatch();
        return commit.result;
    }

    /** The plan with one write per key, the last one given, in the order of first appearance. */
    private static Collection<Write> lastPerKey(List<Write> writes) {
        Map<String, Write> byKey = new LinkedHashMap<>(writes.size() * 2);
        for (Write write : writes) {
            byKey.put(write.key(), write);
        }
        return byKey.values();
    }

    private static List<Chunk> split(Commit commit, Collection<Write> writes) {
        List<Chunk> chunks = new ArrayList<>(writes.size() / MAX_OPS + 1);
        List<Write> current = new ArrayList<>();
        long bytes = 0;
        for (Write write : writes) {
            int size = write.size() + OP_OVERHEAD;
            // A write bigger than the whole budget goes alone: etcd decides whether it fits.
            if (!current.isEmpty() && (current.size() == MAX_OPS || bytes + size > MAX_BYTES)) {
                chunks.add(new Chunk(commit, current, bytes));
                current = new ArrayList<>();
                bytes = 0;
            }
            current.add(write);
            bytes += size;
        }
        chunks.add(new Chunk(commit, current, bytes));
        return chunks;
    }

    /** Sends waiting transactions, in order, while there is room and the head's keys are not in flight. */
    private void dispatch() {
        List<Chunk> toSend = new ArrayList<>();
        synchronized (this) {
            while (inFlight < maxInFlight && !waiting.isEmpty()) {
                Chunk head = waiting.peek();
                if (head.commit.failed) {
                    waiting.poll(); // its commit already failed: later transactions are not sent
                    continue;
                }
                if (head.touchesAny(keysInFlight)) {
                    break; // an earlier commit's write to one of these keys has not landed yet
                }
                waiting.poll();
                inFlight++;
                for (Write write : head.writes) {
                    keysInFlight.add(write.key());
                }
                toSend.add(head);
            }
        }
        for (Chunk chunk : toSend) {
            send(chunk);
        }
    }

    private void send(Chunk chunk) {
        long started = System.nanoTime();
        CompletableFuture<TxnResponse> response;
        try {
            response = store.client().getKVClient().txn()
                    .If(chunk.commit.guards.toArray(Cmp[]::new))
                    .Then(chunk.ops())
                    .commit()
                    .orTimeout(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (RuntimeException e) {
            response = CompletableFuture.failedFuture(e);
        }
        response.whenComplete((r, error) -> {
            store.recordRequest("txn", error == null ? "ok" : "error", System.nanoTime() - started);
            synchronized (this) {
                inFlight--;
                for (Write write : chunk.writes) {
                    keysInFlight.remove(write.key());
                }
            }
            Runnable completion = chunk.commit.landed(chunk, r, error);
            dispatch(); // before completing: the caller's continuation must not hold up the pipeline
            completion.run();
        });
    }

    /** One commit's progress; completes its future once every transaction landed or one failed. */
    private static final class Commit {
        final List<Cmp> guards;
        final CompletableFuture<Long> result = new CompletableFuture<>();
        volatile boolean failed;
        int remaining;
        long newest;

        Commit(List<Cmp> guards) {
            this.guards = guards;
        }

        /** Records one transaction's outcome; returns what completes the commit's future (or nothing yet). */
        synchronized Runnable landed(Chunk chunk, TxnResponse response, Throwable error) {
            if (failed) {
                return () -> {};
            }
            if (error != null) {
                failed = true;
                Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
                String why = cause instanceof TimeoutException ? "timed out after " + TIMEOUT_SECONDS + "s" : String.valueOf(cause.getMessage());
                if (chunk.bytes > MAX_BYTES && isTooLarge(why)) {
                    why += " (one write over etcd's --max-request-bytes, 1.5 MiB by default)";
                }
                StoreException failure = new StoreException("etcd txn of " + chunk.writes.size() + " writes, "
                        + chunk.bytes + " bytes (first key " + chunk.writes.get(0).key() + ") failed: " + why, cause);
                return () -> result.completeExceptionally(failure);
            }
            if (!response.isSucceeded()) {
                failed = true;
                GuardFailed failure = new GuardFailed("a guard of the transaction failed (first key "
                        + chunk.writes.get(0).key() + "); the rest of the plan was not written");
                return () -> result.completeExceptionally(failure);
            }
            newest = Math.max(newest, response.getHeader().getRevision());
            if (--remaining == 0) {
                long revision = newest;
                return () -> result.complete(revision);
            }
            return () -> {};
        }
    }

    private static boolean isTooLarge(String message) {
        return message.contains("request is too large") || message.contains("larger than max") || message.contains("RESOURCE_EXHAUSTED");
    }

    /** The writes of one transaction. */
    private record Chunk(Commit commit, List<Write> writes, long bytes) {
        boolean touchesAny(Set<String> keys) {
            if (keys.isEmpty()) {
                return false;
            }
            for (Write write : writes) {
                if (keys.contains(write.key())) {
                    return true;
                }
            }
            return false;
        }

        Op[] ops() {
            Op[] ops = new Op[writes.size()];
            for (int i = 0; i < ops.length; i++) {
                Write write = writes.get(i);
                ops[i] = write.isDelete()
                        ? Op.delete(EtcdStore.bytes(write.key()), DeleteOption.DEFAULT)
                        : Op.put(EtcdStore.bytes(write.key()), EtcdStore.bytes(write.value()), PutOption.DEFAULT);
            }
            return ops;
        }
    }
}
