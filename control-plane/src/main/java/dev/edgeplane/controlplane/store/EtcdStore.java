package dev.edgeplane.controlplane.store;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.OptionsUtil;
import io.etcd.jetcd.options.PutOption;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jboss.logging.Logger;

/**
 * Blocking access to etcd through jetcd. Writes that must not lose a race are transactions that
 * compare a key's mod_revision (or its absence), so stale updates fail instead of overwriting.
 */
@ApplicationScoped
public class EtcdStore {
    private static final Logger LOG = Logger.getLogger(EtcdStore.class);
    private static final long TIMEOUT_SECONDS = 10;

    private final Client client;
    private final List<String> endpoints;
    /** etcd request latency by operation, on /metrics. */
    private final io.micrometer.core.instrument.MeterRegistry registry;

    /** Outside CDI (tests): request latency goes to a registry of its own. */
    public EtcdStore(ControlPlaneConfig config) {
        this(config, new io.micrometer.core.instrument.simple.SimpleMeterRegistry());
    }

    @jakarta.inject.Inject
    public EtcdStore(ControlPlaneConfig config, io.micrometer.core.instrument.MeterRegistry registry) {
        this.endpoints = config.etcd().endpoints();
        io.etcd.jetcd.ClientBuilder builder = Client.builder().endpoints(endpoints.toArray(String[]::new));
        // https:// endpoints: TLS from edgeplane.etcd.ca-file/cert-file/key-file; a bad combination stops startup here.
        EtcdTls.clientContext(config.etcd()).ifPresent(builder::sslContext);
        this.client = builder.build();
        this.registry = registry;
    }

    public Client client() {
        return client;
    }

    public List<String> endpoints() {
        return endpoints;
    }

    public static ByteSequence bytes(String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }

    public static ByteSequence bytes(byte[] b) {
        return ByteSequence.from(b);
    }

    public static <T extends Message> T decode(Parser<T> parser, byte[] bytes) {
        try {
            return parser.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("corrupt value in etcd: " + e.getMessage(), e);
        }
    }

    public static <T> Entry<T> entry(KeyValue kv, T value) {
        return new Entry<>(kv.getKey().toString(StandardCharsets.UTF_8), value, kv.getModRevision(), kv.getCreateRevision());
    }

    public <T> T await(CompletableFuture<T> future, String what) {
        long started = System.nanoTime();
        String outcome = "error";
        try {
            T result = future.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            outcome = "ok";
            return result;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StoreException("interrupted during etcd " + what, e);
        } catch (ExecutionException e) {
            throw new StoreException("etcd " + what + " failed: " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new StoreException("etcd " + what + " timed out after " + TIMEOUT_SECONDS + "s (endpoints " + endpoints + ")", e);
        } finally {
            // The operation is the first word of "what" (e.g. "get /edgeplane/..."): a bounded label.
            int space = what.indexOf(' ');
            recordRequest(space < 0 ? what : what.substring(0, space), outcome, System.nanoTime() - started);
        }
    }

    /** Records one etcd request's latency under {@code op} (a bounded label) and outcome ("ok"/"error"). */
    public void recordRequest(String op, String outcome, long nanos) {
        io.micrometer.core.instrument.Timer.builder("edgeplane.etcd.requests")
                .description("etcd requests by operation and outcome")
                .tag("op", op).tag("outcome", outcome)
                .register(registry).record(nanos, TimeUnit.NANOSECONDS);
    }

    public Optional<Entry<byte[]>> get(String key) {
        GetResponse response = await(client.getKVClient().get(bytes(key)), "get " + key);
        if (response.getKvs().isEmpty()) {
            return Optional.empty();
        }
        KeyValue kv = response.getKvs().get(0);
        return Optional.of(entry(kv, kv.getValue().getBytes()));
    }

    public <T extends Message> Optional<Entry<T>> get(String key, Parser<T> parser) {
        return get(key).map(e -> new Entry<>(e.key(), decode(parser, e.value()), e.modRevision(), e.createRevision()));
    }

    /** Creates {@code key} only if it does not exist; the new mod_revision, or empty if it existed. */
    public OptionalLong create(String key, byte[] value) {
        TxnResponse response = await(client.getKVClient().txn()
                .If(new Cmp(bytes(key), Cmp.Op.EQUAL, CmpTarget.version(0)))
                .Then(Op.put(bytes(key), bytes(value), PutOption.DEFAULT))
                .commit(), "create " + key);
        return response.isSucceeded() ? OptionalLong.of(response.getHeader().getRevision()) : OptionalLong.empty();
    }

    /** Replaces {@code key} only if its mod_revision is still {@code expected}; the new one, or empty. */
    public OptionalLong update(String key, byte[] value, long expected) {
        TxnResponse response = await(client.getKVClient().txn()
                .If(new Cmp(bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(expected)))
                .Then(Op.put(bytes(key), bytes(value), PutOption.DEFAULT))
                .commit(), "update " + key);
        return response.isSucceeded() ? OptionalLong.of(response.getHeader().getRevision()) : OptionalLong.empty();
    }

    /** Deletes {@code key} only if its mod_revision is still {@code expected}; false otherwise. */
    public boolean delete(String key, long expected) {
        TxnResponse response = await(client.getKVClient().txn()
                .If(new Cmp(bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(expected)))
                .Then(Op.delete(bytes(key), DeleteOption.DEFAULT))
                .commit(), "delete " + key);
        return response.isSucceeded();
    }

    public long put(String key, byte[] value) {
        return await(client.getKVClient().put(bytes(key), bytes(value)), "put " + key).getHeader().getRevision();
    }

    /** Deletes {@code key} whatever its revision; true if it existed. */
    public boolean delete(String key) {
        return await(client.getKVClient().delete(bytes(key)), "delete " + key).getDeleted() > 0;
    }

    /** One page of keys under a prefix. */
    public record Page(List<Entry<byte[]>> entries, boolean more, long revision) {}

    /**
     * Up to {@code limit} keys under {@code prefix}, in key order, strictly after {@code afterKey}
     * (empty: from the start).
     */
    public Page list(String prefix, String afterKey, int limit) {
        return list(prefix, afterKey, limit, 0);
    }

    /**
     * {@link #list(String, String, int)} as the prefix was at {@code revision} (0: now; the page's
     * revision says which). A revision etcd has compacted away fails with a StoreException for which
     * {@link #isCompacted} is true.
     */
    public Page list(String prefix, String afterKey, int limit, long revision) {
        ByteSequence start = afterKey.isEmpty() ? bytes(prefix) : bytes(afterKey + "\0");
        GetResponse response = await(client.getKVClient().get(start, pageOption(prefix, limit, revision, false)), "list " + prefix);
        if (revision > 0) {
            return page(response, revision);
        }
        return page(response, response.getHeader().getRevision());
    }

    private Page page(GetResponse response, long revision) {
        List<Entry<byte[]>> entries = new ArrayList<>(response.getKvs().size());
        for (KeyValue kv : response.getKvs()) {
            entries.add(entry(kv, kv.getValue().getBytes()));
        }
        return new Page(entries, response.isMore(), revision);
    }

    /**
     * Every key under {@code prefix} at one revision, read in pages of {@link #LIST_PAGE_KEYS} keys (the
     * first page's revision, pinned for the rest), so no single response nears jetcd's 4 MiB limit
     * whatever the prefix holds. A page refused as too large is retried with half as many keys; a
     * listing overtaken by a compaction between its pages starts over.
     */
    public Page listAll(String prefix) {
        for (int attempt = 1; ; attempt++) {
            try {
                return listPaged(prefix);
            } catch (StoreException e) {
                if (attempt == 3 || !isCompacted(e)) {
                    throw e;
                }
                LOG.debugf("listing %s was overtaken by a compaction; starting over", prefix);
            }
        }
    }

    /**
     * Keys per page of a full listing: fewer round trips for a restart over a fleet (119,000
     * assignments and as many statuses were ~480 pages of 500). An assignment or a status is well under
     * 1 KB, so 2,000 stay far from the 4 MiB limit; larger values halve the page.
     */
    static final int LIST_PAGE_KEYS = 2000;
    /** Keys per page of a keys-only listing (no values: small). */
    static final int KEYS_PAGE_KEYS = 5000;

    private Page listPaged(String prefix) {
        List<Entry<byte[]>> entries = new ArrayList<>();
        long revision = 0;
        ByteSequence start = bytes(prefix);
        int limit = LIST_PAGE_KEYS;
        while (true) {
            GetResponse response;
            try {
                response = await(client.getKVClient().get(start, pageOption(prefix, limit, revision, false)), "list " + prefix);
            } catch (StoreException e) {
                if (limit > 1 && isTooLarge(e)) {
                    limit /= 2;
                    continue;
                }
                throw e;
            }
            if (revision == 0) {
                revision = response.getHeader().getRevision();
            }
            for (KeyValue kv : response.getKvs()) {
                entries.add(entry(kv, kv.getValue().getBytes()));
            }
            if (!response.isMore() || response.getKvs().isEmpty()) {
                return new Page(entries, false, revision);
            }
            start = nextKey(response.getKvs().get(response.getKvs().size() - 1));
        }
    }

    /** One page of a listing: keys from the start key up to the prefix's end, in key order, at {@code revision} (0: now). */
    static GetOption pageOption(String prefix, int limit, long revision, boolean keysOnly) {
        // Key order is etcd's own for a range. No sort option: with one (even KEY/ASCEND) etcd ignores the
        // limit while reading, loads the whole rest of the range for every page and truncates afterwards,
        // which made a listing O(keys^2): ~160 s to start over 100,000 assignments.
        GetOption.Builder option = GetOption.builder()
                .withRange(OptionsUtil.prefixEndOf(bytes(prefix)))
                .withLimit(limit)
                .withKeysOnly(keysOnly);
        if (revision > 0) {
            option.withRevision(revision);
        }
        return option.build();
    }

    /** The smallest key after {@code kv}'s. */
    private static ByteSequence nextKey(KeyValue kv) {
        return kv.getKey().concat(ByteSequence.from(new byte[] {0}));
    }

    /** True when {@code e} says the revision asked for is older than etcd's compaction. */
    public static boolean isCompacted(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof io.etcd.jetcd.common.exception.CompactedException
                    || (t.getMessage() != null && t.getMessage().contains("required revision has been compacted"))) {
                return true;
            }
        }
        return false;
    }

    /** True when the response was over the client's inbound message limit. */
    private static boolean isTooLarge(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (io.grpc.Status.fromThrowable(t).getCode() == io.grpc.Status.Code.RESOURCE_EXHAUSTED
                    || (t.getMessage() != null && t.getMessage().contains("RESOURCE_EXHAUSTED"))) {
                return true;
            }
        }
        return false;
    }

    /**
     * The keys under {@code prefix} as they were at {@code revision} (keys only, cheap, paged), or empty
     * when etcd cannot answer any more (compacted) or fails: callers fall back to a full listing.
     */
    public Optional<List<String>> keysAt(String prefix, long revision) {
        try {
            List<String> keys = new ArrayList<>();
            ByteSequence start = bytes(prefix);
            while (true) {
                GetResponse response = await(client.getKVClient().get(start, pageOption(prefix, KEYS_PAGE_KEYS, revision, true)),
                        "list " + prefix + " at " + revision);
                for (KeyValue kv : response.getKvs()) {
                    keys.add(kv.getKey().toString(StandardCharsets.UTF_8));
                }
                if (!response.isMore() || response.getKvs().isEmpty()) {
                    return Optional.of(keys);
                }
                start = nextKey(response.getKvs().get(response.getKvs().size() - 1));
            }
        } catch (RuntimeException e) {
            LOG.debugf("no history of %s at revision %d: %s", prefix, revision, e.getMessage());
            return Optional.empty();
        }
    }

    /** True when etcd answers a read within {@code seconds}. */
    public boolean ping(long seconds) {
        try {
            client.getKVClient().get(bytes(Keys.CA), GetOption.builder().withCountOnly(true).build())
                    .get(seconds, TimeUnit.SECONDS);
            return true;
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            return false;
        }
    }

    @PreDestroy
    void close() {
        LOG.debug("closing etcd client");
        client.close();
    }
}
