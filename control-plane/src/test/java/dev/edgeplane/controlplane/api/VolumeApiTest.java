package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.rpc.BadRequest;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateVolumeRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.DeleteVolumeRequest;
import dev.edgeplane.api.v1.EmptyDirSource;
import dev.edgeplane.api.v1.GetVolumeRequest;
import dev.edgeplane.api.v1.HostPathSource;
import dev.edgeplane.api.v1.ListVolumesRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.UpdateVolumeRequest;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeMount;
import dev.edgeplane.api.v1.VolumeServiceGrpc;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.api.v1.DeleteVolumeSnapshotRequest;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotSpec;
import dev.edgeplane.api.v1.VolumeSnapshotStatus;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import jakarta.inject.Inject;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class VolumeApiTest {
    @Inject
    EtcdStore store;
    @Inject
    StateCaches caches;
    @Inject
    dev.edgeplane.controlplane.volumes.StorageClasses storageClasses;
    @Inject
    dev.edgeplane.controlplane.ControlPlaneConfig config;
    @Inject
    dev.edgeplane.controlplane.quotas.StorageQuotas storageQuotas;
    private TestApi api;
    private VolumeServiceGrpc.VolumeServiceBlockingStub volumes;

    @BeforeEach
    void connect() {
        api = new TestApi();
        volumes = api.withToken(VolumeServiceGrpc.newBlockingStub(api.channel), api.adminToken);
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    static Volume volume(String name, long size) {
        return Volume.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(size)).build();
    }

    @Test
    void createGetUpdateDeleteWithDefaultsAndConflicts() {
        Volume created = volumes.createVolume(CreateVolumeRequest.newBuilder().setVolume(volume("rec", 64L << 20)).build());
        assertEquals("default", created.getMetadata().getNamespace());
        assertEquals("loopfs", created.getSpec().getStorageClass());
        assertEquals(VolumeSpec.ReclaimPolicy.RETAIN, created.getSpec().getReclaimPolicy());
        assertEquals(VolumeSpec.AccessMode.READ_WRITE_ONCE, created.getSpec().getAccessMode());
        assertEquals(VolumeStatus.Phase.PENDING, created.getStatus().getPhase(), "wait-for-first-consumer");
        assertEquals(Status.Code.ABORTED, code(() -> volumes.createVolume(
                CreateVolumeRequest.newBuilder().setVolume(volume("rec", 64L << 20)).build())));

        Volume got = volumes.getVolume(GetVolumeRequest.newBuilder().setName("rec").build());
        assertEquals(created.getMetadata().getResourceVersion(), got.getMetadata().getResourceVersion());
        assertTrue(volumes.listVolumes(ListVolumesRequest.newBuilder().setNamespace("default").build()).getVolumesList().stream()
                .anyMatch(v -> v.getMetadata().getName().equals("rec")));

        Volume grown = volumes.updateVolume(UpdateVolumeRequest.newBuilder().setVolume(got.toBuilder()
                .setSpec(got.getSpec().toBuilder().setSizeBytes(128L << 20).setReclaimPolicy(VolumeSpec.ReclaimPolicy.DELETE))
                // status is the platform's: a caller's is ignored
                .setStatus(VolumeStatus.newBuilder().setPhase(VolumeStatus.Phase.BOUND).setNode("evil"))).build());
        assertEquals(128L << 20, grown.getSpec().getSizeBytes());
        assertEquals("", grown.getStatus().getNode());
        assertEquals(2, grown.getMetadata().getGeneration());
        // Stale resource_version: ABORTED.
        assertEquals(Status.Code.ABORTED, code(() -> volumes.updateVolume(UpdateVolumeRequest.newBuilder().setVolume(got).build())));
        assertInvalid(() -> volumes.updateVolume(UpdateVolumeRequest.newBuilder().setVolume(grown.toBuilder()
                .setSpec(grown.getSpec().toBuilder().setSizeBytes(64L << 20))).build()), "volume.spec.size_bytes");
        assertInvalid(() -> volumes.updateVolume(UpdateVolumeRequest.newBuilder().setVolume(grown.toBuilder()
                .setSpec(grown.getSpec().toBuilder().setStorageClass("btrfs"))).build()), "volume.spec.storage_class");

        // An App that names it blocks its deletion.
        Container main = Container.newBuilder().setName("main").setImage("busybox:1")
                .addVolumeMounts(VolumeMount.newBuilder().setName("data").setMountPath("/data")).build();
        App app = AppApiTest.app("default", "recorder", 1).toBuilder().setSpec(AppApiTest.app("default", "recorder", 1).getSpec()
                .toBuilder().setTemplate(dev.edgeplane.api.v1.PodTemplate.newBuilder().addContainers(main)
                        .addVolumes(PodVolume.newBuilder().setName("data").setVolume("rec")))).build();
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app).build());
        TestApi.await("the app reaches the cache", Duration.ofSeconds(10), () -> code(() -> volumes.deleteVolume(
                DeleteVolumeRequest.newBuilder().setName("rec").setResourceVersion(1).build())) == Status.Code.FAILED_PRECONDITION);
        api.apps().deleteApp(DeleteAppRequest.newBuilder().setName("recorder").build());
        assertEquals(Status.Code.ABORTED, code(() -> volumes.deleteVolume(
                DeleteVolumeRequest.newBuilder().setName("rec").setResourceVersion(1).build())), "stale resource_version");
        TestApi.await("deleted once the app is gone", Duration.ofSeconds(10), () -> code(() -> volumes.deleteVolume(
                DeleteVolumeRequest.newBuilder().setName("rec").build())) == Status.Code.OK);
        assertEquals(Status.Code.NOT_FOUND, code(() -> volumes.getVolume(GetVolumeRequest.newBuilder().setName("rec").build())));
        assertEquals(Status.Code.NOT_FOUND, code(() -> volumes.deleteVolume(DeleteVolumeRequest.newBuilder().setName("rec").build())));
    }

    @Test
    void snapshotDeletionAndARestoreFromItNeverBothSucceed() {
        VolumeSnapshot ready = VolumeSnapshot.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("race-s").setNamespace("default").setUid("u-race"))
                .setSpec(VolumeSnapshotSpec.newBuilder().setVolume("gone"))
                .setStatus(VolumeSnapshotStatus.newBuilder().setReadyToUse(true).setNode("race-node").setSnapshotId("snap-race")
                        .setSizeBytes(64L << 20).setStorageClass("loopfs"))
                .build();
        store.put(Keys.volumeSnapshot("default", "race-s"), ready.toByteArray());
        Volume restore = Volume.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("race-r"))
                .setSpec(VolumeSpec.newBuilder().setSourceSnapshot("race-s")).build();

        // A restore lands between the delete's dependency check and its delete: the delete's compare fails.
        VolumeApi api = new VolumeApi(store, caches, config, storageQuotas, storageClasses);
        assertFalse(api.deleteSnapshotOnce("default", "race-s",
                () -> volumes.createVolume(CreateVolumeRequest.newBuilder().setVolume(restore).build())));
        assertTrue(store.get(Keys.volumeSnapshot("default", "race-s")).isPresent(), "the snapshot stays");
        assertEquals("race-node", volumes.getVolume(GetVolumeRequest.newBuilder().setName("race-r").build()).getStatus().getNode());
        // Checked again, the restore waiting for it is found.
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> volumes.deleteVolumeSnapshot(
                DeleteVolumeSnapshotRequest.newBuilder().setName("race-s").build())));

        // The other order: once the delete has won, a restore from it is refused.
        volumes.deleteVolume(DeleteVolumeRequest.newBuilder().setName("race-r").build()); // its node is unknown: gone at once
        volumes.deleteVolumeSnapshot(DeleteVolumeSnapshotRequest.newBuilder().setName("race-s").build());
        assertEquals(Status.Code.NOT_FOUND, code(() -> volumes.createVolume(CreateVolumeRequest.newBuilder().setVolume(restore).build())));
        assertTrue(store.get(Keys.volume("default", "race-r")).isEmpty());
    }

    @Test
    void aDeletingVolumeWhoseNodeIsGoneCanStillBeDeleted() {
        Volume stuck = volume("stuck", 64L << 20).toBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("stuck").setNamespace("default").setUid("u-stuck"))
                .setStatus(VolumeStatus.newBuilder().setPhase(VolumeStatus.Phase.DELETING).setNode("removed-node")).build();
        store.put(Keys.volume("default", "stuck"), stuck.toByteArray());
        store.put(dev.edgeplane.controlplane.volumes.VolumeTasks.key(stuck),
                dev.edgeplane.controlplane.volumes.VolumeTasks.delete(stuck).toByteArray());
        volumes.deleteVolume(DeleteVolumeRequest.newBuilder().setName("stuck").build());
        assertTrue(store.get(Keys.volume("default", "stuck")).isEmpty(), "no node left to confirm: removed at once");
        assertTrue(store.get(dev.edgeplane.controlplane.volumes.VolumeTasks.key(stuck)).isEmpty(), "with its order");
    }

    @Inject
    dev.edgeplane.controlplane.volumes.VolumeReports reports;

    private static dev.edgeplane.api.v1.StatusReport nodeReport(Volume v, long capacity, boolean fsPending) {
        return dev.edgeplane.api.v1.StatusReport.newBuilder().addVolumes(dev.edgeplane.api.v1.VolumeReport.newBuilder()
                .setNamespace("default").setName(v.getMetadata().getName()).setUid(v.getMetadata().getUid())
                .setStatus(dev.edgeplane.api.v1.VolumeNodeStatus.newBuilder().setState(dev.edgeplane.api.v1.VolumeNodeStatus.State.CREATED)
                        .setVolumeId("vol-grow").setCapacityBytes(capacity).setFilesystemResizePending(fsPending))).build();
    }

    @Test
    void growingAVolumeOnItsNodeOrdersTheNodeAndFollowsItsReports() {
        Volume released = volume("grow", 64L << 20).toBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("grow").setNamespace("default").setUid("u-grow"))
                .setStatus(VolumeStatus.newBuilder().setPhase(VolumeStatus.Phase.RELEASED).setNode("grow-node")
                        .setNodeStatus(dev.edgeplane.api.v1.VolumeNodeStatus.newBuilder()
                                .setState(dev.edgeplane.api.v1.VolumeNodeStatus.State.CREATED).setVolumeId("vol-grow")
                                .setCapacityBytes(64L << 20))).build();
        released = released.toBuilder().setSpec(released.getSpec().toBuilder().setStorageClass("loopfs")
                .setReclaimPolicy(VolumeSpec.ReclaimPolicy.RETAIN).setAccessMode(VolumeSpec.AccessMode.READ_WRITE_ONCE)).build();
        store.put(Keys.volume("default", "grow"), released.toByteArray());
        String orderKey = dev.edgeplane.controlplane.volumes.VolumeTasks.key(released);
        Volume current = volumes.getVolume(GetVolumeRequest.newBuilder().setName("grow").build());

        // Shrinking, or beyond 16 TiB: INVALID_ARGUMENT naming the field, and nothing changes.
        Volume before = current;
        assertInvalid(() -> volumes.updateVolume(UpdateVolumeRequest.newBuilder().setVolume(before.toBuilder()
                .setSpec(before.getSpec().toBuilder().setSizeBytes(32L << 20))).build()), "volume.spec.size_bytes");
        assertInvalid(() -> volumes.updateVolume(UpdateVolumeRequest.newBuilder().setVolume(before.toBuilder()
                .setSpec(before.getSpec().toBuilder().setSizeBytes(1L << 50))).build()), "volume.spec.size_bytes");
        assertEquals(before, volumes.getVolume(GetVolumeRequest.newBuilder().setName("grow").build()));
        assertTrue(store.get(orderKey).isEmpty());

        Volume grown = volumes.updateVolume(UpdateVolumeRequest.newBuilder().setVolume(current.toBuilder()
                .setSpec(current.getSpec().toBuilder().setSizeBytes(128L << 20))).build());
        assertEquals(VolumeStatus.ResizeState.CONTROLLER_RESIZE_IN_PROGRESS, grown.getStatus().getResizeState());
        assertEquals(64L << 20, grown.getStatus().getCapacityBytes(), "what pods see, until the node grows it");
        assertEquals(64L << 20, grown.getStatus().getAllocatedBytes());
        dev.edgeplane.api.v1.Assignment order = store.get(orderKey, dev.edgeplane.api.v1.Assignment.parser()).orElseThrow().value();
        assertEquals(dev.edgeplane.api.v1.VolumeTask.Action.EXPAND, order.getVolumeTask().getAction());
        assertEquals(128L << 20, order.getVolumeTask().getSizeBytes());
        assertEquals("vol-grow", order.getVolumeTask().getVolumeId());

        // The node grew the backing; not mounted, so its filesystem waits for the next stage. The order is done.
        reports.report("grow-node", nodeReport(released, 128L << 20, true));
        TestApi.await("the order is removed", Duration.ofSeconds(10), () -> store.get(orderKey).isEmpty());
        Volume pending = volumes.getVolume(GetVolumeRequest.newBuilder().setName("grow").build());
        assertEquals(VolumeStatus.ResizeState.FILESYSTEM_RESIZE_PENDING, pending.getStatus().getResizeState());
        assertTrue(pending.getStatus().getResizeMessage().contains("next staged"), pending.getStatus().getResizeMessage());
        assertEquals(128L << 20, pending.getStatus().getAllocatedBytes());
        assertEquals(64L << 20, pending.getStatus().getCapacityBytes());

        reports.report("grow-node", nodeReport(released, 128L << 20, false));
        TestApi.await("resized", Duration.ofSeconds(10), () -> volumes.getVolume(GetVolumeRequest.newBuilder().setName("grow").build())
                .getStatus().getResizeState() == VolumeStatus.ResizeState.NONE);
        assertEquals(128L << 20, volumes.getVolume(GetVolumeRequest.newBuilder().setName("grow").build()).getStatus().getCapacityBytes());

        // Being deleted: it cannot grow (FAILED_PRECONDITION), and nothing changes.
        Volume deleting = volumes.getVolume(GetVolumeRequest.newBuilder().setName("grow").build());
        store.put(Keys.volume("default", "grow"), deleting.toBuilder().setMetadata(deleting.getMetadata().toBuilder().setResourceVersion(0))
                .setStatus(deleting.getStatus().toBuilder().setPhase(VolumeStatus.Phase.DELETING)).build().toByteArray());
        Volume marked = volumes.getVolume(GetVolumeRequest.newBuilder().setName("grow").build());
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> volumes.updateVolume(UpdateVolumeRequest.newBuilder()
                .setVolume(marked.toBuilder().setSpec(marked.getSpec().toBuilder().setSizeBytes(256L << 20))).build())));
        assertEquals(marked, volumes.getVolume(GetVolumeRequest.newBuilder().setName("grow").build()));
        assertTrue(store.get(orderKey).isEmpty());
        store.delete(Keys.volume("default", "grow"));
    }

    @Test
    void badVolumesAreRefusedWithFieldPaths() {
        assertInvalid(() -> volumes.createVolume(CreateVolumeRequest.newBuilder().setVolume(volume("tiny", 1024)).build()),
                "volume.spec.size_bytes");
        assertInvalid(() -> volumes.createVolume(CreateVolumeRequest.newBuilder().setVolume(volume("Bad_Name", 64L << 20)).build()),
                "volume.metadata.name");
        assertInvalid(() -> volumes.createVolume(CreateVolumeRequest.newBuilder().setVolume(volume("nfs", 64L << 20).toBuilder()
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(64L << 20).setStorageClass("nfs"))).build()), "volume.spec.storage_class");
    }

    @Test
    void badPodVolumesAreRefusedWithFieldPaths() {
        App base = AppApiTest.app("default", "vols", 1);
        Container.Builder main = base.getSpec().getTemplate().getContainers(0).toBuilder();
        App mountsNothing = withTemplate(base, main.clone().addVolumeMounts(VolumeMount.newBuilder().setName("nope").setMountPath("/x")).build());
        assertInvalidApp(mountsNothing, "app.spec.template.containers[0].volume_mounts[0].name");
        App relative = withTemplate(base, main.clone().addVolumeMounts(VolumeMount.newBuilder().setName("s").setMountPath("x/../y")).build(),
                PodVolume.newBuilder().setName("s").setEmptyDir(EmptyDirSource.getDefaultInstance()).build());
        assertInvalidApp(relative, "app.spec.template.containers[0].volume_mounts[0].mount_path");
        App hostEscape = withTemplate(base, main.clone().build(),
                PodVolume.newBuilder().setName("h").setHostPath(HostPathSource.newBuilder().setPath("/var/../etc")).build());
        assertInvalidApp(hostEscape, "app.spec.template.volumes[0].host_path.path");
        App noSource = withTemplate(base, main.clone().build(), PodVolume.newBuilder().setName("n").build());
        assertInvalidApp(noSource, "app.spec.template.volumes[0]");
        App twoReplicas = withTemplate(base, main.clone().build(), PodVolume.newBuilder().setName("d").setVolume("rec").build());
        twoReplicas = twoReplicas.toBuilder().setSpec(twoReplicas.getSpec().toBuilder().setReplicas(2)).build();
        assertInvalidApp(twoReplicas, "app.spec.replicas");
    }

    @Test
    void reflectionListsVolumeService() throws Exception {
        CompletableFuture<ServerReflectionResponse> answer = new CompletableFuture<>();
        var observer = ServerReflectionGrpc.newStub(api.channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .serverReflectionInfo(new StreamObserver<>() {
                    public void onNext(ServerReflectionResponse value) {
                        answer.complete(value);
                    }

                    public void onError(Throwable t) {
                        answer.completeExceptionally(t);
                    }

                    public void onCompleted() {}
                });
        observer.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
        ServerReflectionResponse response = answer.get(10, TimeUnit.SECONDS);
        observer.onCompleted();
        Set<String> services = new HashSet<>();
        response.getListServicesResponse().getServiceList().forEach(s -> services.add(s.getName()));
        assertTrue(services.contains("edgeplane.v1.VolumeService"), "reflection lists " + services);
    }

    private static App withTemplate(App app, Container container, PodVolume... podVolumes) {
        return app.toBuilder().setSpec(app.getSpec().toBuilder().setTemplate(app.getSpec().getTemplate().toBuilder()
                .setContainers(0, container).addAllVolumes(java.util.List.of(podVolumes)))).build();
    }

    private static Status.Code code(Runnable call) {
        try {
            call.run();
            return Status.Code.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        }
    }

    private void assertInvalidApp(App app, String field) {
        assertInvalid(() -> api.apps().createApp(CreateAppRequest.newBuilder().setApp(app).build()), field);
    }

    private static void assertInvalid(Runnable call, String field) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
        BadRequest bad;
        try {
            bad = StatusProto.fromThrowable(e).getDetails(0).unpack(BadRequest.class);
        } catch (Exception ex) {
            throw new AssertionError("no BadRequest detail in " + e.getStatus(), ex);
        }
        assertTrue(bad.getFieldViolationsList().stream().anyMatch(v -> v.getField().equals(field)),
                "expected a violation of " + field + " in " + bad);
    }
}
