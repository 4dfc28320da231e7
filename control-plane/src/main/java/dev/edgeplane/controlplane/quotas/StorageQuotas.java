package dev.edgeplane.controlplane.quotas;

import dev.edgeplane.api.v1.Quota;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotPolicy;
import dev.edgeplane.controlplane.api.Validation;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.PutOption;
import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;

/**
 * Writes storage objects (Volumes, VolumeSnapshots, VolumeSnapshotPolicies) within their namespace's
 * quotas, serialised the way {@link QuotaAdmission} serialises App writes: the quotas are read first,
 * then the namespace's storage objects; the write's transaction compares every limiting quota key's
 * mod_revision and rewrites it, so a concurrent write that took the last unit makes this one fail and
 * look again. Usage is always recomputed from the objects, never kept as a counter.
 *
 * <p>Callers describe their write by its effect on the namespace ({@code change}) and the etcd guards
 * and operations that make it; e.g. a Volume growth (UpdateVolume) is
 * {@code commit(ns, s -> s.withVolume(grown), List.of(ownGuard), List.of(put))}.
 */
@ApplicationScoped
public class StorageQuotas {
    private static final int ATTEMPTS = 10;

    private final EtcdStore store;
    private final QuotaAdmission quotas;

    public StorageQuotas(EtcdStore store, QuotaAdmission quotas) {
        this.store = store;
        this.quotas = quotas;
    }

    /**
     * Commits {@code ops} under {@code guards} if the namespace stays within its quotas after
     * {@code change}; the response tells whether the caller's own guards held (not succeeded: they did
     * not, and nothing was written).
     *
     * @throws io.grpc.StatusRuntimeException RESOURCE_EXHAUSTED naming the quota, the amount and the limit
     */
    public TxnResponse commit(String namespace, UnaryOperator<NamespaceStorage> change, List<Cmp> guards, List<Op> ops) {
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            List<Entry<Quota>> limiting = quotas.quotas(namespace).stream().filter(q -> StorageUsage.limits(q.value())).toList();
            List<Cmp> allGuards = new ArrayList<>(guards);
            List<Op> allOps = new ArrayList<>(ops);
            if (!limiting.isEmpty()) {
                NamespaceStorage now = read(namespace);
                StorageUsage before = now.usage();
                StorageUsage after = change.apply(now).usage();
                for (Entry<Quota> quota : limiting) {
                    StorageUsage.exceeded(quota.value(), before, after).ifPresent(over -> {
                        throw Validation.exhausted(QuotaAdmission.describe(quota.value()), over);
                    });
                    allGuards.add(new Cmp(EtcdStore.bytes(quota.key()), Cmp.Op.EQUAL, CmpTarget.modRevision(quota.modRevision())));
                    allOps.add(Op.put(EtcdStore.bytes(quota.key()), EtcdStore.bytes(quota.value().toByteArray()), PutOption.DEFAULT));
                }
            }
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(allGuards.toArray(Cmp[]::new)).Then(allOps.toArray(Op[]::new)).commit(), "txn in namespace " + namespace);
            if (response.isSucceeded() || limiting.isEmpty() || !quotaMoved(namespace, limiting)) {
                return response;
            }
            // A quota key moved: another write of the namespace (or a quota change) won; look again.
        }
        throw Status.ABORTED.withDescription("the quotas of namespace " + namespace + " kept changing during this write; retry")
                .asRuntimeException();
    }

    /** Refuses (RESOURCE_EXHAUSTED) a change over a quota, without writing: a check ahead of a multi-step write. */
    public void check(String namespace, UnaryOperator<NamespaceStorage> change) {
        List<Entry<Quota>> limiting = quotas.quotas(namespace).stream().filter(q -> StorageUsage.limits(q.value())).toList();
        if (limiting.isEmpty()) {
            return;
        }
        NamespaceStorage now = read(namespace);
        StorageUsage before = now.usage();
        StorageUsage after = change.apply(now).usage();
        for (Entry<Quota> quota : limiting) {
            StorageUsage.exceeded(quota.value(), before, after).ifPresent(over -> {
                throw Validation.exhausted(QuotaAdmission.describe(quota.value()), over);
            });
        }
    }

    /** What the namespace's storage uses now. */
    public StorageUsage usage(String namespace) {
        return read(namespace).usage();
    }

    private boolean quotaMoved(String namespace, List<Entry<Quota>> seen) {
        Map<String, Long> now = quotas.quotas(namespace).stream().collect(Collectors.toMap(Entry::key, Entry::modRevision));
        return seen.stream().anyMatch(q -> !Long.valueOf(q.modRevision()).equals(now.get(q.key())));
    }

    /** The namespace's volumes, snapshots and policies, from etcd (current, not a cache). */
    public NamespaceStorage read(String namespace) {
        Map<String, Volume> volumes = new HashMap<>();
        for (Entry<byte[]> e : store.listAll(Keys.VOLUMES + namespace + "/").entries()) {
            Volume v = EtcdStore.decode(Volume.parser(), e.value());
            volumes.put(v.getMetadata().getName(), v);
        }
        Map<String, VolumeSnapshot> snapshots = new HashMap<>();
        for (Entry<byte[]> e : store.listAll(Keys.VOLUME_SNAPSHOTS + namespace + "/").entries()) {
            VolumeSnapshot s = EtcdStore.decode(VolumeSnapshot.parser(), e.value());
            snapshots.put(s.getMetadata().getName(), s);
        }
        Map<String, VolumeSnapshotPolicy> policies = new HashMap<>();
        for (Entry<byte[]> e : store.listAll(Keys.VOLUME_SNAPSHOT_POLICIES + namespace + "/").entries()) {
            VolumeSnapshotPolicy p = EtcdStore.decode(VolumeSnapshotPolicy.parser(), e.value());
            policies.put(p.getMetadata().getName(), p);
        }
        return new NamespaceStorage(volumes, snapshots, policies);
    }
}
