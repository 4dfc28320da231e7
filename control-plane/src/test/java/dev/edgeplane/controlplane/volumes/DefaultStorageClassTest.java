package dev.edgeplane.controlplane.volumes;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.StorageClass;
import dev.edgeplane.api.v1.StorageClassSpec;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Pure: which class a Volume naming none gets, and what a class asks of the driver. */
class DefaultStorageClassTest {
    static StorageClass storageClass(String name, boolean isDefault, long created) {
        return StorageClass.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).setCreateTime(Timestamp.newBuilder().setSeconds(created)))
                .setSpec(StorageClassSpec.newBuilder().setBackend("loopfs").setDefaultClass(isDefault)).build();
    }

    @Test
    void theNewestClassMarkedDefaultWinsAsInKubernetes() {
        assertEquals("gold", StorageClasses.defaultOf(List.of(storageClass("loopfs", true, 100), storageClass("gold", true, 200),
                storageClass("silver", false, 300))));
    }

    @Test
    void withNoneMarkedTheDefaultIsLoopfs() {
        assertEquals("loopfs", StorageClasses.defaultOf(List.of(storageClass("gold", false, 200))));
    }

    @Test
    void aClassAsksTheDriverForItsBackendFsTypeAndParameters() {
        StorageClass xfs = StorageClasses.builtIn("loopfs-xfs").orElseThrow();
        assertEquals(Map.of("backend", "loopfs", "fsType", "xfs"), StorageClasses.parameters(xfs));
        StorageClass btrfs = StorageClasses.builtIn("btrfs").orElseThrow().toBuilder()
                .setSpec(StorageClasses.builtIn("btrfs").orElseThrow().getSpec().toBuilder().putParameters("example.com/tier", "gold")).build();
        assertEquals(Map.of("backend", "btrfs", "example.com/tier", "gold"), StorageClasses.parameters(btrfs), "no fsType: the backend's own");
        assertEquals("loopfs", StorageClasses.builtIn("").orElseThrow().getMetadata().getName());
    }
}
