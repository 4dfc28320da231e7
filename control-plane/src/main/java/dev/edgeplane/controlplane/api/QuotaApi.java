package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.v1.CreateQuotaRequest;
import dev.edgeplane.api.v1.DeleteQuotaRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.GetQuotaRequest;
import dev.edgeplane.api.v1.ListQuotasRequest;
import dev.edgeplane.api.v1.ListQuotasResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Quota;
import dev.edgeplane.api.v1.QuotaServiceGrpc;
import dev.edgeplane.api.v1.QuotaStatus;
import dev.edgeplane.api.v1.UpdateQuotaRequest;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.quotas.QuotaAdmission;
import dev.edgeplane.controlplane.quotas.StorageQuotas;
import dev.edgeplane.api.v1.QuotaAmounts;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalLong;
import java.util.UUID;
import org.jboss.logging.Logger;

/**
 * QuotaService: namespace quotas at /edgeplane/quotas/&lt;ns&gt;/&lt;name&gt;, enforced on App writes by
 * {@link QuotaAdmission}. The status (what is used) is computed from the namespace's Apps and storage objects when read;
 * storage writes are checked by {@link StorageQuotas}.
 */
@GrpcService
@Blocking
public class QuotaApi extends QuotaServiceGrpc.QuotaServiceImplBase {
    private static final Logger LOG = Logger.getLogger(QuotaApi.class);
    /** An unconditional update retries this often while App writes touch the quota key. */
    private static final int UPDATE_ATTEMPTS = 10;

    private final EtcdStore store;
    private final QuotaAdmission admission;
    private final ApiLimits limits;
    private final StorageQuotas storage;

    public QuotaApi(EtcdStore store, QuotaAdmission admission, ControlPlaneConfig config, StorageQuotas storage) {
        this.store = store;
        this.admission = admission;
        this.limits = ApiLimits.of(config.limits());
        this.storage = storage;
    }

    /** What the namespace's Apps and storage objects use now. */
    private QuotaAmounts used(String namespace) {
        return storage.usage(namespace).into(admission.usage(namespace).toAmounts().toBuilder()).build();
    }

    private static String describe(String namespace, String name) {
        return "quota \"" + namespace + "/" + name + "\"";
    }

    static Validation validate(Quota quota, ApiLimits limits) {
        Validation v = new Validation();
        v.dnsLabel("quota.metadata.name", quota.getMetadata().getName());
        v.dnsLabel("quota.metadata.namespace", quota.getMetadata().getNamespace());
        v.labels("quota.metadata.labels", quota.getMetadata().getLabelsMap(), limits.maxLabels());
        v.annotations("quota.metadata.annotations", quota.getMetadata().getAnnotationsMap(), limits.maxAnnotationsBytes());
        QuotaAmounts hard = quota.getSpec().getHard();
        if (hard.getApps() < 0) {
            v.add("quota.spec.hard.apps", "must not be negative");
        }
        if (hard.getReplicas() < 0) {
            v.add("quota.spec.hard.replicas", "must not be negative");
        }
        if (hard.getStorageBytes() < 0) {
            v.add("quota.spec.hard.storage_bytes", "must not be negative");
        }
        if (hard.getVolumes() < 0) {
            v.add("quota.spec.hard.volumes", "must not be negative");
        }
        if (hard.getVolumeSnapshots() < 0) {
            v.add("quota.spec.hard.volume_snapshots", "must not be negative");
        }
        if (hard.getCpuMillis() < 0) {
            v.add("quota.spec.hard.cpu_millis", "must not be negative");
        }
        if (hard.getMemoryBytes() < 0) {
            v.add("quota.spec.hard.memory_bytes", "must not be negative");
        }
        return v;
    }

    private static Quota normalise(Quota quota) {
        return quota.toBuilder().setMetadata(quota.getMetadata().toBuilder()
                .setNamespace(Calls.orDefault(quota.getMetadata().getNamespace()))).clearStatus().build();
    }

    /** The quota as stored, with its resource_version and what its namespace uses now. */
    private static Quota shown(Entry<Quota> entry, QuotaAmounts used) {
        return entry.value().toBuilder()
                .setMetadata(entry.value().getMetadata().toBuilder().setResourceVersion(entry.modRevision()))
                .setStatus(QuotaStatus.newBuilder().setUsed(used)).build();
    }

    @Override
    public void createQuota(CreateQuotaRequest request, StreamObserver<Quota> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Quota quota = normalise(request.getQuota());
            validate(quota, limits).throwIfInvalid();
            ObjectMeta meta = quota.getMetadata().toBuilder().setUid(UUID.randomUUID().toString())
                    .setCreateTime(Joiner.timestamp(Instant.now())).setGeneration(1).setResourceVersion(0).build();
            Quota stored = quota.toBuilder().setMetadata(meta).build();
            String key = Keys.quota(meta.getNamespace(), meta.getName());
            OptionalLong revision = store.create(key, stored.toByteArray());
            if (revision.isEmpty()) {
                throw Calls.exists(describe(meta.getNamespace(), meta.getName()));
            }
            LOG.infof("created %s (hard %s)", describe(meta.getNamespace(), meta.getName()),
                    stored.getSpec().getHard().toString().replace('\n', ' ').trim());
            return shown(new Entry<>(key, stored, revision.getAsLong(), revision.getAsLong()), used(meta.getNamespace()));
        });
    }

    @Override
    public void getQuota(GetQuotaRequest request, StreamObserver<Quota> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            Entry<Quota> entry = store.get(Keys.quota(ns, request.getName()), Quota.parser())
                    .orElseThrow(() -> Calls.notFound(describe(ns, request.getName())));
            return shown(entry, used(ns));
        });
    }

    @Override
    public void listQuotas(ListQuotasRequest request, StreamObserver<ListQuotasResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String prefix = Keys.QUOTAS;
            if (!request.getNamespace().isEmpty()) {
                new Validation().dnsLabel("namespace", request.getNamespace()).throwIfInvalid();
                prefix = Keys.QUOTAS + request.getNamespace() + "/";
            }
            Listing.Page<Quota> page = Listing.list(store, limits, prefix, request.getPageSize(), request.getPageToken(),
                    request.getLabelSelector(), Quota.parser(), q -> q.getMetadata().getLabelsMap());
            ListQuotasResponse.Builder response = ListQuotasResponse.newBuilder().setNextPageToken(page.nextPageToken());
            Map<String, QuotaAmounts> byNamespace = new HashMap<>();
            page.items().forEach(e -> response.addQuotas(shown(e,
                    byNamespace.computeIfAbsent(e.value().getMetadata().getNamespace(), this::used))));
            return response.build();
        });
    }

    @Override
    public void updateQuota(UpdateQuotaRequest request, StreamObserver<Quota> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Quota quota = normalise(request.getQuota());
            validate(quota, limits).throwIfInvalid();
            String ns = quota.getMetadata().getNamespace();
            String name = quota.getMetadata().getName();
            String key = Keys.quota(ns, name);
            long given = quota.getMetadata().getResourceVersion();
            // Unconditional updates retry: every App write of the namespace rewrites the quota key.
            for (int attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
                Entry<Quota> current = store.get(key, Quota.parser()).orElseThrow(() -> Calls.notFound(describe(ns, name)));
                if (given != 0 && given != current.modRevision()) {
                    throw Calls.stale(describe(ns, name), given, current.modRevision());
                }
                ObjectMeta old = current.value().getMetadata();
                boolean specChanged = !current.value().getSpec().equals(quota.getSpec());
                ObjectMeta meta = old.toBuilder()
                        .clearLabels().putAllLabels(quota.getMetadata().getLabelsMap())
                        .clearAnnotations().putAllAnnotations(quota.getMetadata().getAnnotationsMap())
                        .setGeneration(old.getGeneration() + (specChanged ? 1 : 0)).setResourceVersion(0).build();
                Quota stored = current.value().toBuilder().setMetadata(meta).setSpec(quota.getSpec()).build();
                OptionalLong revision = store.update(key, stored.toByteArray(), current.modRevision());
                if (revision.isPresent()) {
                    LOG.infof("updated %s", describe(ns, name));
                    return shown(new Entry<>(key, stored, revision.getAsLong(), current.createRevision()), used(ns));
                }
                if (given != 0) {
                    throw Calls.stale(describe(ns, name), given, -1);
                }
            }
            throw Calls.conflict(describe(ns, name));
        });
    }

    @Override
    public void deleteQuota(DeleteQuotaRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            Calls.delete(store, Keys.quota(ns, request.getName()), request.getResourceVersion(), describe(ns, request.getName()));
            LOG.infof("deleted %s", describe(ns, request.getName()));
            return DeleteResponse.getDefaultInstance();
        });
    }
}
