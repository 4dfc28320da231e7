package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.rpc.BadRequest;
import dev.edgeplane.api.v1.CreateStorageClassRequest;
import dev.edgeplane.api.v1.CreateVolumeRequest;
import dev.edgeplane.api.v1.DeleteStorageClassRequest;
import dev.edgeplane.api.v1.DeleteVolumeRequest;
import dev.edgeplane.api.v1.GetStorageClassRequest;
import dev.edgeplane.api.v1.ListStorageClassesRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.StorageClass;
import dev.edgeplane.api.v1.StorageClassServiceGrpc;
import dev.edgeplane.api.v1.StorageClassSpec;
import dev.edgeplane.api.v1.UpdateStorageClassRequest;
import dev.edgeplane.api.v1.UpdateVolumeRequest;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeServiceGrpc;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.volumes.StorageClasses;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** StorageClassService through the public API, and how Volumes use their class. */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class StorageClassApiTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private TestApi api;
    @Inject
    StateCaches caches;
    @Inject
    StorageClasses storageClasses;

    @BeforeEach
    void connect() {
        api = new TestApi();
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    private StorageClassServiceGrpc.StorageClassServiceBlockingStub classes() {
        return api.withToken(StorageClassServiceGrpc.newBlockingStub(api.channel), api.adminToken);
    }

    private VolumeServiceGrpc.VolumeServiceBlockingStub volumes() {
        return api.withToken(VolumeServiceGrpc.newBlockingStub(api.channel), api.adminToken);
    }

    private StorageClass create(String name, StorageClassSpec.Builder spec) {
        return classes().createStorageClass(CreateStorageClassRequest.newBuilder().setStorageClass(StorageClass.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name)).setSpec(spec)).build());
    }

    private Volume volume(String name, String storageClass) {
        return volumes().createVolume(CreateVolumeRequest.newBuilder().setVolume(Volume.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(64L << 20).setStorageClass(storageClass))).build());
    }

    private static StatusRuntimeException refused(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run);
    }

    private static List<String> fields(StatusRuntimeException e) {
        return AdmissionLimitsTest.detail(e, BadRequest.class).getFieldViolationsList().stream()
                .map(BadRequest.FieldViolation::getField).toList();
    }

    @Test
    void theBuiltInClassesExistAtStartAndLoopfsIsTheDefault() {
        List<String> names = classes().listStorageClasses(ListStorageClassesRequest.getDefaultInstance()).getStorageClassesList()
                .stream().map(c -> c.getMetadata().getName()).toList();
        assertTrue(names.containsAll(List.of("btrfs", "loopfs", "loopfs-xfs")), names.toString());
        StorageClass loopfs = classes().getStorageClass(GetStorageClassRequest.newBuilder().setName("loopfs").build());
        assertTrue(loopfs.getSpec().getDefaultClass());
        assertEquals("ext4", loopfs.getSpec().getFsType());
        assertEquals("loopfs", volume("unnamed-class", "").getSpec().getStorageClass(), "a Volume naming no class gets the default");
    }

    @Test
    void createGetUpdateAndDeleteAClass() {
        StorageClass created = create("fast", StorageClassSpec.newBuilder().setBackend("btrfs")
                .setReclaimPolicy(VolumeSpec.ReclaimPolicy.DELETE));
        assertEquals(StorageClassSpec.VolumeBindingMode.WAIT_FOR_FIRST_CONSUMER, created.getSpec().getVolumeBindingMode());
        assertEquals(Status.Code.ABORTED, refused(() -> create("fast", StorageClassSpec.newBuilder().setBackend("loopfs")))
                .getStatus().getCode());

        StorageClass grown = classes().updateStorageClass(UpdateStorageClassRequest.newBuilder().setStorageClass(created.toBuilder()
                .setSpec(created.getSpec().toBuilder().setAllowVolumeExpansion(true))).build());
        assertTrue(grown.getSpec().getAllowVolumeExpansion());
        StatusRuntimeException immutable = refused(() -> classes().updateStorageClass(UpdateStorageClassRequest.newBuilder()
                .setStorageClass(grown.toBuilder().setSpec(grown.getSpec().toBuilder().setBackend("loopfs"))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, immutable.getStatus().getCode());
        assertEquals(List.of("storage_class.spec.backend"), fields(immutable));
        assertEquals(Status.Code.ABORTED, refused(() -> classes().updateStorageClass(UpdateStorageClassRequest.newBuilder()
                .setStorageClass(created).build())).getStatus().getCode(), "a stale resource_version");

        classes().deleteStorageClass(DeleteStorageClassRequest.newBuilder().setName("fast").build());
        assertEquals(Status.Code.NOT_FOUND, refused(() -> classes().getStorageClass(GetStorageClassRequest.newBuilder().setName("fast").build()))
                .getStatus().getCode());
    }

    @Test
    void aVolumeTakesItsClassReclaimPolicyAndAnUnknownClassIsRefused() {
        create("scratch", StorageClassSpec.newBuilder().setBackend("loopfs").setReclaimPolicy(VolumeSpec.ReclaimPolicy.DELETE));
        Volume v = volume("scratch-1", "scratch");
        assertEquals(VolumeSpec.ReclaimPolicy.DELETE, v.getSpec().getReclaimPolicy());

        StatusRuntimeException unknown = refused(() -> volume("lost", "no-such-class"));
        assertEquals(Status.Code.INVALID_ARGUMENT, unknown.getStatus().getCode());
        assertEquals(List.of("volume.spec.storage_class"), fields(unknown));
        assertTrue(api.etcdGet(Keys.volume("default", "lost")) == null, "nothing stored");
    }

    @Test
    void aClassVolumesUseCannotBeDeleted() {
        create("kept", StorageClassSpec.newBuilder().setBackend("loopfs"));
        Volume v = volume("kept-1", "kept");
        TestApi.await("the volume seen by the watch", WAIT, () -> caches.volumes().get(Keys.volume("default", "kept-1")) != null);
        StatusRuntimeException inUse = refused(() -> classes().deleteStorageClass(DeleteStorageClassRequest.newBuilder().setName("kept").build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, inUse.getStatus().getCode());
        assertTrue(inUse.getStatus().getDescription().contains("default/kept-1"), inUse.getStatus().getDescription());

        volumes().deleteVolume(DeleteVolumeRequest.newBuilder().setName(v.getMetadata().getName()).build()); // on no node: gone at once
        TestApi.await("the volume gone from the watch", WAIT, () -> caches.volumes().get(Keys.volume("default", "kept-1")) == null);
        classes().deleteStorageClass(DeleteStorageClassRequest.newBuilder().setName("kept").build());
    }

    @Test
    void aVolumeGrowsOnlyWhenItsClassAllowsExpansion() {
        create("fixed", StorageClassSpec.newBuilder().setBackend("loopfs"));
        assertFalse(storageClasses.allowsExpansion("fixed"));
        assertTrue(storageClasses.allowsExpansion("loopfs"), "the built-in classes may grow");
        Volume v = volume("fixed-1", "fixed");
        StatusRuntimeException grow = refused(() -> volumes().updateVolume(UpdateVolumeRequest.newBuilder().setVolume(v.toBuilder()
                .setSpec(v.getSpec().toBuilder().setSizeBytes(128L << 20))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, grow.getStatus().getCode());
        assertEquals(List.of("volume.spec.size_bytes"), fields(grow));
    }

    @Test
    void anImmediateClassWithNoNodeToHoldItLeavesTheVolumeUnboundSayingWhy() {
        create("now", StorageClassSpec.newBuilder().setBackend("btrfs").setVolumeBindingMode(StorageClassSpec.VolumeBindingMode.IMMEDIATE));
        Volume v = volume("now-1", "now");
        assertTrue(v.getStatus().getNode().isEmpty());
        assertTrue(v.getStatus().getMessage().startsWith("binding mode Immediate: no node can hold it now"), v.getStatus().getMessage());
    }
}
