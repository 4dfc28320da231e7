package dev.edgeplane.controlplane.quotas;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.Quota;
import dev.edgeplane.api.v1.QuotaStatus;
import dev.edgeplane.controlplane.api.Validation;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Writes Apps and Jobs within their namespace's quotas.
 *
 * <p>Why two concurrent creates cannot both take the last slot: every App write in a namespace that
 * has quotas also rewrites each of its quota keys (with the usage it leads to), in one transaction that
 * compares those keys' mod_revisions as this attempt read them. An attempt reads the quotas FIRST, then
 * the namespace's Apps: any App write committed before the quota read is in the Apps it sees, and any
 * committed after it changed the quota keys, so this attempt's transaction fails and it starts over,
 * now seeing that App. Deleting an App only frees, so it writes no quota. The truth is always the Apps
 * themselves (usage is recomputed from them on every write and every read, never kept as a counter
 * that could drift); the quota keys are the serialisation point. A quota created or lowered while an
 * App write is in flight applies from the next write on, as in Kubernetes.
 */
@ApplicationScoped
public class QuotaAdmission {
    /** Attempts while other writes of the namespace keep winning; then ABORTED, retry later. */
    private static final int ATTEMPTS = 10;

    private final EtcdStore store;
    private final StateCaches caches;

    public QuotaAdmission(EtcdStore store, StateCaches caches) {
        this.store = store;
        this.caches = caches;
    }

    /** Creates the App at {@code key} if absent and within quota: its revision, or empty if it exists. */
    public OptionalLong create(String key, App app) {
        return write(key, app, null);
    }

    /** Replaces {@code current} if unchanged since read and within quota: the new revision, or empty if it changed. */
    public OptionalLong update(String key, App app, Entry<App> current) {
        return write(key, app, current);
    }

    /**
     * As {@link #update(String, App, Entry)}, in a transaction also guarded by {@code guards} (a
     * controller's leader fence, the revision of the object it acts for) that also writes {@code puts}
     * (that object's status): empty when the App or one of those guards changed.
     */
    public OptionalLong update(String key, App app, Entry<App> current, List<Cmp> guards, List<Op> puts) {
        return write(key, app, current, guards, puts);
    }

    private OptionalLong write(String key, App app, Entry<App> current) {
        return write(key, app, current, List.of(), List.of());
    }

    private OptionalLong write(String key, App app, Entry<App> current, List<Cmp> extraGuards, List<Op> extraPuts) {
        boolean adds = current == null || !current.value().getSpec().getTemplate().equals(app.getSpec().getTemplate());
        return admit(app.getMetadata().getNamespace(), key, app.toByteArray(), current == null ? -1 : current.modRevision(),
                current == null ? Usage.NONE : Usage.of(current.value()), Usage.of(app), adds, quota -> QuotaCheck.missingLimits(quota, app),
                extraGuards, extraPuts);
    }

    /** A Job, as {@link #create(String, App)}: its pods' reservation ({@link Usage#of(Job)}) counts against the quotas. */
    public OptionalLong createJob(String key, Job job) {
        return admit(job.getMetadata().getNamespace(), key, job.toByteArray(), -1, Usage.NONE, Usage.of(job), true,
                quota -> QuotaCheck.missingLimits(quota, job), List.of(), List.of());
    }

    /** A Job, as {@link #update(String, App, Entry)}. */
    public OptionalLong updateJob(String key, Job job, Entry<Job> current) {
        return admit(job.getMetadata().getNamespace(), key, job.toByteArray(), current.modRevision(), Usage.of(current.value()),
                Usage.of(job), false, quota -> QuotaCheck.missingLimits(quota, job), List.of(), List.of());
    }

    /**
     * Writes {@code value} at {@code key} (absent when {@code currentRevision} is -1, else unchanged
     * since that revision) with every quota of the namespace rewritten in the same transaction, also
     * guarded by {@code extraGuards} and also writing {@code extraPuts}.
     *
     * @param adds the write brings something new to count (a create, a new template): the limits the
     *             quotas count must be set, even when the amounts do not grow
     */
    private OptionalLong admit(String ns, String key, byte[] value, long currentRevision, Usage oldUse, Usage newUse, boolean adds,
                               java.util.function.Function<Quota, List<String>> missingLimits, List<Cmp> extraGuards,
                               List<Op> extraPuts) {
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            List<Entry<Quota>> quotas = quotas(ns);
            Cmp own = currentRevision < 0
                    ? new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.version(0))
                    : new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(currentRevision));
            List<Cmp> guards = new ArrayList<>(List.of(own));
            List<Op> puts = new ArrayList<>(List.of(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(value), PutOption.DEFAULT)));
            guards.addAll(extraGuards);
            puts.addAll(extraPuts);
            if (!quotas.isEmpty()) {
                Usage before = usage(ns, key).plus(oldUse);
                Usage after = before.minus(oldUse).plus(newUse);
                boolean grows = adds || after.replicas() > before.replicas();
                for (Entry<Quota> quota : quotas) {
                    String name = describe(quota.value());
                    if (grows) {
                        Validation missing = new Validation();
                        missingLimits.apply(quota.value()).forEach(field ->
                                missing.add(field, "must be set: " + name + " limits " + field.substring(field.lastIndexOf('.') + 1)));
                        missing.throwIfInvalid();
                    }
                    Optional<String> over = QuotaCheck.exceeded(quota.value(), before, after);
                    if (over.isPresent()) {
                        throw Validation.exhausted(name, over.get());
                    }
                    guards.add(new Cmp(EtcdStore.bytes(quota.key()), Cmp.Op.EQUAL, CmpTarget.modRevision(quota.modRevision())));
                    Quota touched = quota.value().toBuilder()
                            .setStatus(QuotaStatus.newBuilder().setUsed(after.toAmounts())).build();
                    puts.add(Op.put(EtcdStore.bytes(quota.key()), EtcdStore.bytes(touched.toByteArray()), PutOption.DEFAULT));
                }
            }
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(guards.toArray(Cmp[]::new)).Then(puts.toArray(Op[]::new)).commit(), "txn " + key);
            if (response.isSucceeded()) {
                return OptionalLong.of(response.getHeader().getRevision());
            }
            if (!ownGuardHolds(key, currentRevision) || (!extraGuards.isEmpty() && sameRevisions(quotas, quotas(ns)))) {
                return OptionalLong.empty(); // the object, or (quotas unmoved) one of the caller's guards, changed
            }
            // A quota key moved: another write of this namespace (or a quota change) won; look again.
        }
        throw Status.ABORTED.withDescription("the quotas of namespace " + ns + " kept changing during this write; retry")
                .asRuntimeException();
    }

    private static boolean sameRevisions(List<Entry<Quota>> before, List<Entry<Quota>> now) {
        return before.stream().map(e -> e.key() + "@" + e.modRevision()).toList()
                .equals(now.stream().map(e -> e.key() + "@" + e.modRevision()).toList());
    }

    private boolean ownGuardHolds(String key, long currentRevision) {
        Optional<Entry<byte[]>> now = store.get(key);
        return currentRevision < 0 ? now.isEmpty() : now.isPresent() && now.get().modRevision() == currentRevision;
    }

    public static String describe(Quota quota) {
        return "quota " + quota.getMetadata().getNamespace() + "/" + quota.getMetadata().getName();
    }

    /** The namespace's quotas, read from etcd (few per namespace; read in pages at one revision all the same). */
    public List<Entry<Quota>> quotas(String namespace) {
        List<Entry<Quota>> quotas = new ArrayList<>();
        for (Entry<byte[]> e : store.listAll(Keys.QUOTAS + namespace + "/").entries()) {
            quotas.add(new Entry<>(e.key(), EtcdStore.decode(Quota.parser(), e.value()), e.modRevision(), e.createRevision()));
        }
        return quotas;
    }

    /** What the namespace's Apps use now. */
    public Usage usage(String namespace) {
        return usage(namespace, null);
    }

    /**
     * What the namespace's Apps and Jobs use, leaving out {@code except}. The keys and their revisions
     * come from etcd (keys only: cheap, and current); each value from the watch's cache when it holds
     * that revision, else from etcd (one written a moment ago that the watch has not delivered yet).
     */
    private Usage usage(String namespace, String except) {
        Usage total = Usage.NONE;
        for (App app : current(Keys.APPS + namespace + "/", except, caches.apps(), App.parser())) {
            total = total.plus(Usage.of(app));
        }
        for (Job job : current(Keys.JOBS + namespace + "/", except, caches.jobs(), Job.parser())) {
            total = total.plus(Usage.of(job));
        }
        return total;
    }

    private <T extends com.google.protobuf.Message> List<T> current(String prefix, String except,
                                                                   dev.edgeplane.controlplane.store.PrefixCache<T> cache,
                                                                   com.google.protobuf.Parser<T> parser) {
        var response = store.await(store.client().getKVClient().get(EtcdStore.bytes(prefix),
                GetOption.builder().isPrefix(true).withKeysOnly(true).build()), "list " + prefix);
        List<T> out = new ArrayList<>();
        for (KeyValue kv : response.getKvs()) {
            String key = kv.getKey().toString(StandardCharsets.UTF_8);
            if (key.equals(except)) {
                continue;
            }
            Entry<T> cached = cache.get(key);
            if (cached != null && cached.modRevision() == kv.getModRevision()) {
                out.add(cached.value());
            } else {
                store.get(key, parser).ifPresent(e -> out.add(e.value())); // deleted meanwhile: frees, never harms
            }
        }
        return out;
    }
}
