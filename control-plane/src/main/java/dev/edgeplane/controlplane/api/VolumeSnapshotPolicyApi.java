package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.schedule.CronSchedule;
import dev.edgeplane.api.v1.CreateVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.DeleteVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.GetVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.ListVolumeSnapshotPoliciesRequest;
import dev.edgeplane.api.v1.ListVolumeSnapshotPoliciesResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.UpdateVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotPolicy;
import dev.edgeplane.api.v1.VolumeSnapshotPolicyServiceGrpc;
import dev.edgeplane.api.v1.VolumeSnapshotPolicySpec;
import dev.edgeplane.api.v1.VolumeSnapshotPolicyStatus;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.quotas.NamespaceStorage;
import dev.edgeplane.controlplane.quotas.StorageQuotas;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.volumes.SnapshotPolicyTasks;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.PutOption;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import org.jboss.logging.Logger;

/**
 * VolumeSnapshotPolicyService: policies at /edgeplane/volumesnapshotpolicies/&lt;ns&gt;/&lt;name&gt;. The
 * spec is validated here (the schedule with {@link CronSchedule}, naming the cron field at fault) and
 * checked against the namespace's volume_snapshots quota ({@link StorageQuotas}: keep_count per
 * selected volume); the nodes get it from {@link dev.edgeplane.controlplane.volumes.SnapshotPolicyController}.
 * The status is computed when read.
 */
@GrpcService
@Blocking
public class VolumeSnapshotPolicyApi extends VolumeSnapshotPolicyServiceGrpc.VolumeSnapshotPolicyServiceImplBase {
    private static final Logger LOG = Logger.getLogger(VolumeSnapshotPolicyApi.class);
    public static final int MAX_KEEP_COUNT = 1000;
    public static final long MAX_KEEP_AGE_SECONDS = 10L * 366 * 24 * 3600;
    public static final int MAX_SELECTOR = 16;

    private final EtcdStore store;
    private final ApiLimits limits;
    private final StorageQuotas quotas;

    public VolumeSnapshotPolicyApi(EtcdStore store, ControlPlaneConfig config, StorageQuotas quotas) {
        this.store = store;
        this.limits = ApiLimits.of(config.limits());
        this.quotas = quotas;
    }

    private static String describe(String namespace, String name) {
        return "volume snapshot policy \"" + namespace + "/" + name + "\"";
    }

    static Validation validate(VolumeSnapshotPolicy policy, ApiLimits limits) {
        Validation v = new Validation();
        v.dnsLabel("policy.metadata.name", policy.getMetadata().getName());
        v.dnsLabel("policy.metadata.namespace", policy.getMetadata().getNamespace());
        v.labels("policy.metadata.labels", policy.getMetadata().getLabelsMap(), limits.maxLabels());
        v.annotations("policy.metadata.annotations", policy.getMetadata().getAnnotationsMap(), limits.maxAnnotationsBytes());
        VolumeSnapshotPolicySpec spec = policy.getSpec();
        try {
            CronSchedule.parse(spec.getSchedule(), spec.getTimeZone());
        } catch (CronSchedule.InvalidCronException e) {
            v.add(e.field().equals("time_zone") ? "policy.spec.time_zone" : "policy.spec.schedule", e.getMessage());
        }
        if (spec.getKeepCount() < 1 || spec.getKeepCount() > MAX_KEEP_COUNT) {
            v.add("policy.spec.keep_count", "must be 1 to " + MAX_KEEP_COUNT + ", got " + spec.getKeepCount());
        }
        if (spec.getKeepAgeSeconds() < 0 || spec.getKeepAgeSeconds() > MAX_KEEP_AGE_SECONDS) {
            v.add("policy.spec.keep_age_seconds", "must be 0 (no age limit) to " + MAX_KEEP_AGE_SECONDS + ", got "
                    + spec.getKeepAgeSeconds());
        }
        if (spec.getVolumeSelectorCount() > MAX_SELECTOR) {
            v.add("policy.spec.volume_selector", "at most " + MAX_SELECTOR + " labels, got " + spec.getVolumeSelectorCount());
        } else {
            v.labels("policy.spec.volume_selector", spec.getVolumeSelectorMap());
        }
        return v;
    }

    private static VolumeSnapshotPolicy normalise(VolumeSnapshotPolicy policy) {
        return policy.toBuilder().setMetadata(policy.getMetadata().toBuilder()
                .setNamespace(Calls.orDefault(policy.getMetadata().getNamespace()))).clearStatus().build();
    }

    /** As stored, with its resource_version and a status computed from the namespace's volumes and snapshots now. */
    private VolumeSnapshotPolicy shown(Entry<VolumeSnapshotPolicy> entry, NamespaceStorage storage) {
        VolumeSnapshotPolicy policy = entry.value();
        VolumeSnapshotPolicyStatus.Builder status = VolumeSnapshotPolicyStatus.newBuilder();
        storage.volumes().values().stream().filter(v -> SnapshotPolicyTasks.target(policy, v))
                .map(v -> v.getMetadata().getName() + "@" + v.getStatus().getNode()).sorted().forEach(status::addVolumes);
        Instant last = null;
        for (VolumeSnapshot s : storage.snapshots().values()) {
            if (s.getSpec().getPolicy().equals(policy.getMetadata().getName())) {
                status.setSnapshots(status.getSnapshots() + 1);
                Instant slot = Joiner.toInstant(s.getStatus().getScheduledTime());
                if (last == null || slot.isAfter(last)) {
                    last = slot;
                }
            }
        }
        if (last != null) {
            status.setLastScheduledTime(last.toString());
        }
        return policy.toBuilder().setMetadata(policy.getMetadata().toBuilder().setResourceVersion(entry.modRevision()))
                .setStatus(status).build();
    }

    @Override
    public void createVolumeSnapshotPolicy(CreateVolumeSnapshotPolicyRequest request,
                                           StreamObserver<VolumeSnapshotPolicy> responseObserver) {
        Calls.unary(responseObserver, () -> {
            VolumeSnapshotPolicy policy = normalise(request.getPolicy());
            validate(policy, limits).throwIfInvalid();
            ObjectMeta meta = policy.getMetadata().toBuilder().setUid(UUID.randomUUID().toString())
                    .setCreateTime(Joiner.timestamp(Instant.now())).setGeneration(1).setResourceVersion(0).build();
            VolumeSnapshotPolicy stored = policy.toBuilder().setMetadata(meta).build();
            String key = Keys.volumeSnapshotPolicy(meta.getNamespace(), meta.getName());
            TxnResponse response = quotas.commit(meta.getNamespace(), s -> s.withPolicy(stored),
                    List.of(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.version(0))),
                    List.of(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(stored.toByteArray()), PutOption.DEFAULT)));
            if (!response.isSucceeded()) {
                throw Calls.exists(describe(meta.getNamespace(), meta.getName()));
            }
            long revision = response.getHeader().getRevision();
            LOG.infof("created %s (\"%s\" in %s, keep %d)", describe(meta.getNamespace(), meta.getName()),
                    stored.getSpec().getSchedule(), CronSchedule.zone(stored.getSpec().getTimeZone()), stored.getSpec().getKeepCount());
            return shown(new Entry<>(key, stored, revision, revision), quotas.read(meta.getNamespace()));
        });
    }

    @Override
    public void getVolumeSnapshotPolicy(GetVolumeSnapshotPolicyRequest request, StreamObserver<VolumeSnapshotPolicy> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            Entry<VolumeSnapshotPolicy> entry = store.get(Keys.volumeSnapshotPolicy(ns, request.getName()), VolumeSnapshotPolicy.parser())
                    .orElseThrow(() -> Calls.notFound(describe(ns, request.getName())));
            return shown(entry, quotas.read(ns));
        });
    }

    @Override
    public void listVolumeSnapshotPolicies(ListVolumeSnapshotPoliciesRequest request,
                                           StreamObserver<ListVolumeSnapshotPoliciesResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String prefix = Keys.VOLUME_SNAPSHOT_POLICIES;
            if (!request.getNamespace().isEmpty()) {
                new Validation().dnsLabel("namespace", request.getNamespace()).throwIfInvalid();
                prefix = Keys.VOLUME_SNAPSHOT_POLICIES + request.getNamespace() + "/";
            }
            Listing.Page<VolumeSnapshotPolicy> page = Listing.list(store, limits, prefix, request.getPageSize(), request.getPageToken(),
                    request.getLabelSelector(), VolumeSnapshotPolicy.parser(), p -> p.getMetadata().getLabelsMap());
            ListVolumeSnapshotPoliciesResponse.Builder response = ListVolumeSnapshotPoliciesResponse.newBuilder()
                    .setNextPageToken(page.nextPageToken());
            java.util.Map<String, NamespaceStorage> byNamespace = new java.util.HashMap<>();
            page.items().forEach(e -> response.addPolicies(shown(e,
                    byNamespace.computeIfAbsent(e.value().getMetadata().getNamespace(), quotas::read))));
            return response.build();
        });
    }

    @Override
    public void updateVolumeSnapshotPolicy(UpdateVolumeSnapshotPolicyRequest request,
                                           StreamObserver<VolumeSnapshotPolicy> responseObserver) {
        Calls.unary(responseObserver, () -> {
            VolumeSnapshotPolicy policy = normalise(request.getPolicy());
            validate(policy, limits).throwIfInvalid();
            String ns = policy.getMetadata().getNamespace();
            String name = policy.getMetadata().getName();
            String key = Keys.volumeSnapshotPolicy(ns, name);
            Entry<VolumeSnapshotPolicy> current = store.get(key, VolumeSnapshotPolicy.parser())
                    .orElseThrow(() -> Calls.notFound(describe(ns, name)));
            long given = policy.getMetadata().getResourceVersion();
            if (given != 0 && given != current.modRevision()) {
                throw Calls.stale(describe(ns, name), given, current.modRevision());
            }
            boolean specChanged = !current.value().getSpec().equals(policy.getSpec());
            ObjectMeta meta = current.value().getMetadata().toBuilder()
                    .clearLabels().putAllLabels(policy.getMetadata().getLabelsMap())
                    .clearAnnotations().putAllAnnotations(policy.getMetadata().getAnnotationsMap())
                    .setGeneration(current.value().getMetadata().getGeneration() + (specChanged ? 1 : 0))
                    .setResourceVersion(0).build();
            VolumeSnapshotPolicy stored = current.value().toBuilder().setMetadata(meta).setSpec(policy.getSpec()).build();
            TxnResponse response = quotas.commit(ns, s -> s.withPolicy(stored),
                    List.of(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(current.modRevision()))),
                    List.of(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(stored.toByteArray()), PutOption.DEFAULT)));
            if (!response.isSucceeded()) {
                throw given != 0 ? Calls.stale(describe(ns, name), given, -1) : Calls.conflict(describe(ns, name));
            }
            long revision = response.getHeader().getRevision();
            return shown(new Entry<>(key, stored, revision, current.createRevision()), quotas.read(ns));
        });
    }

    @Override
    public void deleteVolumeSnapshotPolicy(DeleteVolumeSnapshotPolicyRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            String name = request.getName();
            new Validation().dnsLabel("name", name).dnsLabel("namespace", ns).throwIfInvalid();
            String key = Keys.volumeSnapshotPolicy(ns, name);
            Entry<byte[]> current = store.get(key).orElseThrow(() -> Calls.notFound(describe(ns, name)));
            if (request.getResourceVersion() != 0 && request.getResourceVersion() != current.modRevision()) {
                throw Calls.stale(describe(ns, name), request.getResourceVersion(), current.modRevision());
            }
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(current.modRevision())))
                    .Then(Op.delete(EtcdStore.bytes(key), io.etcd.jetcd.options.DeleteOption.DEFAULT)).commit(), "delete " + key);
            if (!response.isSucceeded()) {
                throw Calls.conflict(describe(ns, name));
            }
            LOG.infof("deleted %s (its nodes stop firing it and delete its snapshots)", describe(ns, name));
            return DeleteResponse.getDefaultInstance();
        });
    }
}
