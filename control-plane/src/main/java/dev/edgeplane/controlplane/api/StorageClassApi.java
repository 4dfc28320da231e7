package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.v1.CreateStorageClassRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.DeleteStorageClassRequest;
import dev.edgeplane.api.v1.GetStorageClassRequest;
import dev.edgeplane.api.v1.ListStorageClassesRequest;
import dev.edgeplane.api.v1.ListStorageClassesResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.StorageClass;
import dev.edgeplane.api.v1.StorageClassServiceGrpc;
import dev.edgeplane.api.v1.StorageClassSpec;
import dev.edgeplane.api.v1.UpdateStorageClassRequest;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.UUID;
import org.jboss.logging.Logger;

/**
 * StorageClassService: storage classes at /edgeplane/storageclasses/&lt;name&gt; (cluster-scoped).
 * What a class makes (backend, fs type, parameters, reclaim policy, binding mode) is fixed once
 * created, as in Kubernetes; a class that Volumes use cannot be deleted (they read it on every placement).
 */
@GrpcService
@Blocking
public class StorageClassApi extends StorageClassServiceGrpc.StorageClassServiceImplBase {
    private static final Logger LOG = Logger.getLogger(StorageClassApi.class);
    static final int MAX_PARAMETERS = 16;
    static final int MAX_PARAMETER_VALUE_BYTES = 256;
    /** How many of the Volumes that block a delete are named. */
    static final int NAMED_USERS = 5;
    /** The backends of the edge storage driver, and the filesystems each can make. */
    static final Map<String, List<String>> BACKEND_FS_TYPES = Map.of("loopfs", List.of("ext4", "xfs"), "btrfs", List.of("btrfs"));
    /** Parameter keys the CSI sidecars reserve (Kubernetes' csi.storage.k8s.io/ prefix). */
    static final String RESERVED_PREFIX = "csi.storage.k8s.io/";

    private final EtcdStore store;
    private final StateCaches caches;
    private final ApiLimits limits;

    public StorageClassApi(EtcdStore store, StateCaches caches, ControlPlaneConfig config) {
        this.store = store;
        this.caches = caches;
        this.limits = ApiLimits.of(config.limits());
    }

    private static String describe(String name) {
        return "storage class \"" + name + "\"";
    }

    static Validation validate(StorageClass storageClass, ApiLimits limits) {
        Validation v = new Validation();
        ObjectMeta meta = storageClass.getMetadata();
        StorageClassSpec spec = storageClass.getSpec();
        v.dnsLabel("storage_class.metadata.name", meta.getName());
        if (!meta.getNamespace().isEmpty()) {
            v.add("storage_class.metadata.namespace", "must be empty: storage classes are cluster-scoped");
        }
        v.labels("storage_class.metadata.labels", meta.getLabelsMap(), limits.maxLabels());
        v.annotations("storage_class.metadata.annotations", meta.getAnnotationsMap(), limits.maxAnnotationsBytes());
        List<String> fsTypes = BACKEND_FS_TYPES.get(spec.getBackend());
        if (spec.getBackend().isEmpty()) {
            v.add("storage_class.spec.backend", "is required: \"loopfs\" or \"btrfs\"");
        } else if (fsTypes == null) {
            v.add("storage_class.spec.backend", "must be \"loopfs\" or \"btrfs\", got \"" + clip(spec.getBackend()) + "\"");
        } else if (!spec.getFsType().isEmpty() && !fsTypes.contains(spec.getFsType())) {
            v.add("storage_class.spec.fs_type", spec.getBackend() + " makes " + fsTypes + ", not \"" + clip(spec.getFsType()) + "\"");
        }
        if (spec.getParametersCount() > MAX_PARAMETERS) {
            v.add("storage_class.spec.parameters", "has " + spec.getParametersCount() + " entries, over the limit of " + MAX_PARAMETERS);
        } else {
            for (Map.Entry<String, String> p : new java.util.TreeMap<>(spec.getParametersMap()).entrySet()) {
                String field = "storage_class.spec.parameters[" + clip(p.getKey()) + "]";
                if (!p.getKey().contains("/")) {
                    v.add(field, "must be a prefixed key (example.com/name): backend and fsType are spec fields, "
                            + "and the driver knows no other unprefixed parameter");
                } else if (p.getKey().startsWith(RESERVED_PREFIX)) {
                    v.add(field, "the prefix " + RESERVED_PREFIX + " is reserved");
                } else {
                    v.labelKey(field, p.getKey());
                }
                int bytes = p.getValue().getBytes(StandardCharsets.UTF_8).length;
                if (bytes > MAX_PARAMETER_VALUE_BYTES) {
                    v.add(field, "value is " + bytes + " bytes, over the limit of " + MAX_PARAMETER_VALUE_BYTES);
                }
            }
        }
        if (spec.getReclaimPolicy() == VolumeSpec.ReclaimPolicy.UNRECOGNIZED) {
            v.add("storage_class.spec.reclaim_policy", "unknown reclaim policy");
        }
        if (spec.getVolumeBindingMode() == StorageClassSpec.VolumeBindingMode.UNRECOGNIZED) {
            v.add("storage_class.spec.volume_binding_mode", "must be IMMEDIATE or WAIT_FOR_FIRST_CONSUMER");
        }
        return v;
    }

    private static String clip(String s) {
        return s.length() <= 64 ? s : s.substring(0, 61) + "...";
    }

    /** Defaults filled in: what is stored. */
    static StorageClass normalise(StorageClass storageClass) {
        StorageClassSpec.Builder spec = storageClass.getSpec().toBuilder();
        if (spec.getVolumeBindingMode() == StorageClassSpec.VolumeBindingMode.VOLUME_BINDING_MODE_UNSPECIFIED) {
            spec.setVolumeBindingMode(StorageClassSpec.VolumeBindingMode.WAIT_FOR_FIRST_CONSUMER);
        }
        if (spec.getReclaimPolicy() == VolumeSpec.ReclaimPolicy.RECLAIM_POLICY_UNSPECIFIED) {
            spec.setReclaimPolicy(VolumeSpec.ReclaimPolicy.RETAIN);
        }
        return storageClass.toBuilder().setSpec(spec).build();
    }

    /** What an update may not change, as in Kubernetes (Volumes were made with it). */
    static void checkImmutable(Validation v, StorageClassSpec old, StorageClassSpec next) {
        if (!old.getBackend().equals(next.getBackend())) {
            v.add("storage_class.spec.backend", "cannot change (was \"" + old.getBackend() + "\")");
        }
        if (!old.getFsType().equals(next.getFsType())) {
            v.add("storage_class.spec.fs_type", "cannot change (was \"" + old.getFsType() + "\")");
        }
        if (!old.getParametersMap().equals(next.getParametersMap())) {
            v.add("storage_class.spec.parameters", "cannot change");
        }
        if (old.getReclaimPolicy() != next.getReclaimPolicy()) {
            v.add("storage_class.spec.reclaim_policy", "cannot change (was " + old.getReclaimPolicy() + ")");
        }
        if (old.getVolumeBindingMode() != next.getVolumeBindingMode()) {
            v.add("storage_class.spec.volume_binding_mode", "cannot change (was " + old.getVolumeBindingMode() + ")");
        }
    }

    static StorageClass shown(Entry<StorageClass> entry) {
        return entry.value().toBuilder()
                .setMetadata(entry.value().getMetadata().toBuilder().setResourceVersion(entry.modRevision())).build();
    }

    @Override
    public void createStorageClass(CreateStorageClassRequest request, StreamObserver<StorageClass> responseObserver) {
        Calls.unary(responseObserver, () -> {
            StorageClass storageClass = normalise(request.getStorageClass());
            validate(storageClass, limits).throwIfInvalid();
            ObjectMeta meta = storageClass.getMetadata().toBuilder().setUid(UUID.randomUUID().toString())
                    .setCreateTime(Joiner.timestamp(Instant.now())).setGeneration(1).setResourceVersion(0).build();
            StorageClass stored = storageClass.toBuilder().setMetadata(meta).build();
            String key = Keys.storageClass(meta.getName());
            OptionalLong revision = store.create(key, stored.toByteArray());
            if (revision.isEmpty()) {
                throw Calls.exists(describe(meta.getName()));
            }
            LOG.infof("created %s (%s)", describe(meta.getName()), stored.getSpec().getBackend());
            return shown(new Entry<>(key, stored, revision.getAsLong(), revision.getAsLong()));
        });
    }

    @Override
    public void getStorageClass(GetStorageClassRequest request, StreamObserver<StorageClass> responseObserver) {
        Calls.unary(responseObserver, () -> {
            new Validation().dnsLabel("name", request.getName()).throwIfInvalid();
            return shown(store.get(Keys.storageClass(request.getName()), StorageClass.parser())
                    .orElseThrow(() -> Calls.notFound(describe(request.getName()))));
        });
    }

    @Override
    public void listStorageClasses(ListStorageClassesRequest request, StreamObserver<ListStorageClassesResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Listing.Page<StorageClass> page = Listing.list(store, limits, Keys.STORAGE_CLASSES, request.getPageSize(),
                    request.getPageToken(), request.getLabelSelector(), StorageClass.parser(), c -> c.getMetadata().getLabelsMap());
            ListStorageClassesResponse.Builder response = ListStorageClassesResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addStorageClasses(shown(e)));
            return response.build();
        });
    }

    @Override
    public void updateStorageClass(UpdateStorageClassRequest request, StreamObserver<StorageClass> responseObserver) {
        Calls.unary(responseObserver, () -> {
            StorageClass storageClass = normalise(request.getStorageClass());
            Validation v = validate(storageClass, limits);
            v.throwIfInvalid();
            String name = storageClass.getMetadata().getName();
            String key = Keys.storageClass(name);
            long given = storageClass.getMetadata().getResourceVersion();
            Entry<StorageClass> current = store.get(key, StorageClass.parser()).orElseThrow(() -> Calls.notFound(describe(name)));
            if (given != 0 && given != current.modRevision()) {
                throw Calls.stale(describe(name), given, current.modRevision());
            }
            checkImmutable(v, current.value().getSpec(), storageClass.getSpec());
            v.throwIfInvalid();
            boolean specChanged = !current.value().getSpec().equals(storageClass.getSpec());
            ObjectMeta old = current.value().getMetadata();
            ObjectMeta meta = old.toBuilder()
                    .clearLabels().putAllLabels(storageClass.getMetadata().getLabelsMap())
                    .clearAnnotations().putAllAnnotations(storageClass.getMetadata().getAnnotationsMap())
                    .setGeneration(old.getGeneration() + (specChanged ? 1 : 0)).setResourceVersion(0).build();
            StorageClass stored = current.value().toBuilder().setMetadata(meta).setSpec(storageClass.getSpec()).build();
            OptionalLong revision = store.update(key, stored.toByteArray(), current.modRevision());
            if (revision.isEmpty()) {
                throw given != 0 ? Calls.stale(describe(name), given, -1) : Calls.conflict(describe(name));
            }
            LOG.infof("updated %s", describe(name));
            return shown(new Entry<>(key, stored, revision.getAsLong(), current.createRevision()));
        });
    }

    @Override
    public void deleteStorageClass(DeleteStorageClassRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String name = request.getName();
            new Validation().dnsLabel("name", name).throwIfInvalid();
            String key = Keys.storageClass(name);
            Entry<byte[]> current = store.get(key).orElseThrow(() -> Calls.notFound(describe(name)));
            List<String> users = usersOf(name);
            if (!users.isEmpty()) {
                throw Status.FAILED_PRECONDITION.withDescription(describe(name) + " is used by " + users.size()
                        + (users.size() > NAMED_USERS ? "+" : "") + " volume(s): "
                        + String.join(", ", users.subList(0, Math.min(NAMED_USERS, users.size())))
                        + ": delete them first").asRuntimeException();
            }
            long given = request.getResourceVersion();
            if (given != 0 && given != current.modRevision()) {
                throw Calls.stale(describe(name), given, current.modRevision());
            }
            if (!store.delete(key, current.modRevision())) {
                throw given != 0 ? Calls.stale(describe(name), given, -1) : Calls.conflict(describe(name));
            }
            LOG.infof("deleted %s", describe(name));
            return DeleteResponse.getDefaultInstance();
        });
    }

    /** "ns/name" of the Volumes of the class (from the watched volumes), at most one past those named. */
    private List<String> usersOf(String className) {
        List<String> users = new ArrayList<>();
        for (Entry<Volume> e : caches.volumes().all()) {
            Volume volume = e.value();
            if (volume.getSpec().getStorageClass().equals(className)) {
                users.add(volume.getMetadata().getNamespace() + "/" + volume.getMetadata().getName());
                if (users.size() > NAMED_USERS) {
                    break;
                }
            }
        }
        return users;
    }
}
