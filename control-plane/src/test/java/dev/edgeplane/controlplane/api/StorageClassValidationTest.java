package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.rpc.BadRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.StorageClass;
import dev.edgeplane.api.v1.StorageClassSpec;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.controlplane.volumes.StorageClasses;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Pure: what a StorageClass may say, and what an update may not change. */
class StorageClassValidationTest {
    private static final ApiLimits LIMITS = ApiLimits.DEFAULTS;

    static StorageClass storageClass(String name, StorageClassSpec.Builder spec) {
        return StorageClass.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name)).setSpec(spec).build();
    }

    static List<String> fields(Validation v) {
        return v.violations().stream().map(BadRequest.FieldViolation::getField).toList();
    }

    @Test
    void theBuiltInClassesAreValid() {
        for (StorageClass c : StorageClasses.BUILT_IN) {
            assertTrue(StorageClassApi.validate(c, LIMITS).ok(), c.getMetadata().getName() + ": " + StorageClassApi.validate(c, LIMITS).violations());
        }
    }

    @Test
    void theBackendIsRequiredAndMustBeOneTheDriverHas() {
        assertEquals(List.of("storage_class.spec.backend"), fields(StorageClassApi.validate(storageClass("x", StorageClassSpec.newBuilder()), LIMITS)));
        assertEquals(List.of("storage_class.spec.backend"),
                fields(StorageClassApi.validate(storageClass("x", StorageClassSpec.newBuilder().setBackend("lvm")), LIMITS)));
    }

    @Test
    void theFsTypeMustBeOneTheBackendMakes() {
        assertEquals(List.of("storage_class.spec.fs_type"),
                fields(StorageClassApi.validate(storageClass("x", StorageClassSpec.newBuilder().setBackend("btrfs").setFsType("xfs")), LIMITS)));
        assertTrue(StorageClassApi.validate(storageClass("x", StorageClassSpec.newBuilder().setBackend("loopfs").setFsType("xfs")), LIMITS).ok());
    }

    @Test
    void parametersAreBoundedPrefixedAndNotReserved() {
        StorageClassSpec.Builder many = StorageClassSpec.newBuilder().setBackend("loopfs");
        IntStream.range(0, 17).forEach(i -> many.putParameters("example.com/p" + i, "v"));
        assertEquals(List.of("storage_class.spec.parameters"), fields(StorageClassApi.validate(storageClass("x", many), LIMITS)));

        StorageClassSpec.Builder bad = StorageClassSpec.newBuilder().setBackend("loopfs")
                .putParameters("fsType", "xfs")
                .putParameters("csi.storage.k8s.io/fstype", "xfs")
                .putParameters("example.com/tier", "x".repeat(257))
                .putParameters("example.com/ok", "gold");
        assertEquals(List.of("storage_class.spec.parameters[csi.storage.k8s.io/fstype]", "storage_class.spec.parameters[example.com/tier]",
                "storage_class.spec.parameters[fsType]"), fields(StorageClassApi.validate(storageClass("x", bad), LIMITS)));
    }

    @Test
    void aClassIsClusterScopedAndNamedByADnsLabel() {
        StorageClass namespaced = storageClass("Bad_Name", StorageClassSpec.newBuilder().setBackend("loopfs")).toBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("Bad_Name").setNamespace("default")).build();
        assertEquals(List.of("storage_class.metadata.name", "storage_class.metadata.namespace"),
                fields(StorageClassApi.validate(namespaced, LIMITS)));
    }

    @Test
    void unspecifiedModesBecomeWaitForFirstConsumerAndRetain() {
        StorageClass c = StorageClassApi.normalise(storageClass("x", StorageClassSpec.newBuilder().setBackend("loopfs")));
        assertEquals(StorageClassSpec.VolumeBindingMode.WAIT_FOR_FIRST_CONSUMER, c.getSpec().getVolumeBindingMode());
        assertEquals(VolumeSpec.ReclaimPolicy.RETAIN, c.getSpec().getReclaimPolicy());
    }

    @Test
    void anUpdateMayChangeOnlyExpansionAndDefault() {
        StorageClassSpec old = StorageClassApi.normalise(storageClass("x", StorageClassSpec.newBuilder().setBackend("loopfs"))).getSpec();
        Validation ok = new Validation();
        StorageClassApi.checkImmutable(ok, old, old.toBuilder().setAllowVolumeExpansion(true).setDefaultClass(true).build());
        assertTrue(ok.ok());
        Validation v = new Validation();
        StorageClassApi.checkImmutable(v, old, old.toBuilder().setBackend("btrfs").setFsType("btrfs").putParameters("example.com/a", "b")
                .setReclaimPolicy(VolumeSpec.ReclaimPolicy.DELETE).setVolumeBindingMode(StorageClassSpec.VolumeBindingMode.IMMEDIATE).build());
        assertEquals(List.of("storage_class.spec.backend", "storage_class.spec.fs_type", "storage_class.spec.parameters",
                "storage_class.spec.reclaim_policy", "storage_class.spec.volume_binding_mode"), fields(v));
    }
}
