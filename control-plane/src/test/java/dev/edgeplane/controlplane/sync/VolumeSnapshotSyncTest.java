package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import com.google.rpc.BadRequest;
import dev.edgeplane.api.v1.Ack;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.CreateVolumeRequest;
import dev.edgeplane.api.v1.CreateVolumeSnapshotRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.DeleteNodeRequest;
import dev.edgeplane.api.v1.DeleteVolumeRequest;
import dev.edgeplane.api.v1.DeleteVolumeSnapshotRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.GetVolumeRequest;
import dev.edgeplane.api.v1.GetVolumeSnapshotRequest;
import dev.edgeplane.api.v1.Hello;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.api.v1.SyncRequest;
import dev.edgeplane.api.v1.SyncResponse;
import dev.edgeplane.api.v1.UpdateAppRequest;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeMount;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeReport;
import dev.edgeplane.api.v1.VolumeServiceGrpc;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeSnapshotReport;
import dev.edgeplane.api.v1.VolumeSnapshotSpec;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.api.v1.VolumeStatus;
import dev.edgeplane.api.v1.VolumeTask;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Volume snapshots and restore through the control plane against real etcd, with a test agent on a
 * real Sync stream playing the node: the snapshot reaches the node as a task of its desired state,
 * the node's reports land in Volume/VolumeSnapshot status, restore pins to the snapshot's node, and
 * the order rules (unbound / not created / restore waiting) answer FAILED_PRECONDITION.
 */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class VolumeSnapshotSyncTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final String NODE = "vol-snap";
    private TestApi api;
    private VolumeServiceGrpc.VolumeServiceBlockingStub volumes;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @BeforeEach
    void connect() {
        api = new TestApi();
        volumes = api.withToken(VolumeServiceGrpc.newBlockingStub(api.channel), api.adminToken);
    }

    @AfterEach
    void disconnect() throws Exception {
        for (AutoCloseable c : closeables) {
            c.close();
        }
        api.close();
    }

    private static Volume volume(String name, long size) {
        return Volume.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(VolumeSpec.newBuilder().setSizeBytes(size)).build();
    }

    private static VolumeSnapshot snapshot(String name, String volume) {
        return VolumeSnapshot.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(VolumeSnapshotSpec.newBuilder().setVolume(volume)).build();
    }

    private Volume getVolume(String name) {
        return volumes.getVolume(GetVolumeRequest.newBuilder().setName(name).build());
    }

    private VolumeSnapshot getSnapshot(String name) {
        return volumes.getVolumeSnapshot(GetVolumeSnapshotRequest.newBuilder().setName(name).build());
    }

    /** Reads (and acks) the stream until a Change matching {@code wanted} arrives. */
    private static Change awaitChange(TestAgent.Stream stream, Predicate<Change> wanted) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            SyncResponse r = stream.next(WAIT);
            long revision = r.hasChanges() ? r.getChanges().getRevision() : r.getSnapshot().getRevision();
            stream.send(SyncRequest.newBuilder().setAck(Ack.newBuilder().setRevision(revision)).build());
            if (r.hasChanges()) {
                for (Change c : r.getChanges().getChangesList()) {
                    if (wanted.test(c)) {
                        return c;
                    }
                }
            }
        }
        throw new AssertionError("no such change within " + WAIT);
    }

    private static void report(TestAgent.Stream stream, StatusReport.Builder report) {
        stream.send(SyncRequest.newBuilder().setStatus(report).build());
    }

    @Test
    void snapshotGoesToTheNodeReportsComeBackAndRestorePinsThere() throws Exception {
        JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder()
                .setToken(JoinToken.newBuilder().setSpec(JoinTokenSpec.newBuilder().setMaxUses(1)
                        .putNodeLabels("volsnap", "yes"))).build());
        TestAgent agent = new TestAgent(NODE);
        closeables.add(agent);
        agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
        TestAgent.Stream stream = new TestAgent.Stream(agent.syncChannel(TestApi.agentPort()));
        closeables.add(0, stream);
        stream.send(SyncRequest.newBuilder().setHello(Hello.newBuilder().setLastAppliedRevision(0)).build());
        SyncResponse first = stream.next(WAIT);
        stream.send(SyncRequest.newBuilder().setAck(Ack.newBuilder().setRevision(first.getSnapshot().getRevision())).build());

        // Nothing to snapshot yet: unknown, badly named, or not bound to any node.
        volumes.createVolume(CreateVolumeRequest.newBuilder().setVolume(volume("cam", 64L << 20)).build());
        assertEquals(Status.Code.NOT_FOUND, code(() -> volumes.createVolumeSnapshot(CreateVolumeSnapshotRequest.newBuilder()
                .setSnapshot(snapshot("s0", "nope")).build())));
        assertInvalid(() -> volumes.createVolumeSnapshot(CreateVolumeSnapshotRequest.newBuilder()
                .setSnapshot(snapshot("Bad_Name", "cam")).build()), "snapshot.metadata.name");
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> volumes.createVolumeSnapshot(CreateVolumeSnapshotRequest.newBuilder()
                .setSnapshot(snapshot("s0", "cam")).build())), "unbound volume");

        // Its first consumer binds it to our node.
        App app = App.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("cam-app").setNamespace("default"))
                .setSpec(AppSpec.newBuilder().setReplicas(1).putNodeSelector("volsnap", "yes")
                        .setTemplate(PodTemplate.newBuilder()
                                .addVolumes(PodVolume.newBuilder().setName("data").setVolume("cam"))
                                .addContainers(Container.newBuilder().setName("main").setImage("busybox:1")
                                        .addVolumeMounts(VolumeMount.newBuilder().setName("data").setMountPath("/data")))))
                .build();
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app).build());
        Change placed = awaitChange(stream, c -> c.getType() == Change.Type.PUT && c.getAssignment().getReplica().equals("cam-app-0"));
        assertTrue(placed.getAssignment().containsVolumes("cam"));
        TestApi.await("cam BOUND to " + NODE, WAIT, () -> getVolume("cam").getStatus().getPhase() == VolumeStatus.Phase.BOUND);
        Volume cam = getVolume("cam");
        assertEquals(NODE, cam.getStatus().getNode());
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> volumes.createVolumeSnapshot(CreateVolumeSnapshotRequest.newBuilder()
                .setSnapshot(snapshot("s0", "cam")).build())), "bound, but the node has not created it yet");

        // The node reports it published; a report about another uid is ignored.
        report(stream, StatusReport.newBuilder().addVolumes(VolumeReport.newBuilder().setName("cam").setUid("someone-else")
                .setStatus(VolumeNodeStatus.newBuilder().setState(VolumeNodeStatus.State.PUBLISHED).setVolumeId("vol-wrong"))));
        report(stream, StatusReport.newBuilder().addVolumes(VolumeReport.newBuilder().setNamespace("default").setName("cam")
                .setUid(cam.getMetadata().getUid()).setStatus(VolumeNodeStatus.newBuilder()
                        .setState(VolumeNodeStatus.State.PUBLISHED).setVolumeId("vol-1").setCapacityBytes(64L << 20))));
        TestApi.await("the node's report in the volume's status", WAIT,
                () -> getVolume("cam").getStatus().getNodeStatus().getVolumeId().equals("vol-1"));
        assertEquals(VolumeNodeStatus.State.PUBLISHED, getVolume("cam").getStatus().getNodeStatus().getState());
        assertTrue(getVolume("cam").getStatus().getNodeStatus().hasUpdateTime());

        // A snapshot: stored, and handed to the node as a task of its desired state.
        VolumeSnapshot created = volumes.createVolumeSnapshot(CreateVolumeSnapshotRequest.newBuilder()
                .setSnapshot(snapshot("cam-s1", "cam")).build());
        assertEquals(NODE, created.getStatus().getNode());
        assertFalse(created.getStatus().getReadyToUse());
        assertEquals("loopfs", created.getStatus().getStorageClass());
        assertEquals(Status.Code.ABORTED, code(() -> volumes.createVolumeSnapshot(CreateVolumeSnapshotRequest.newBuilder()
                .setSnapshot(snapshot("cam-s1", "cam")).build())), "exists");
        Change task = awaitChange(stream, c -> c.getKey().equals("default/snapshot.cam-s1"));
        assertEquals(Change.Type.PUT, task.getType());
        assertEquals("vol-1", task.getAssignment().getVolumeSnapshot().getSourceVolumeId());
        assertEquals(created.getMetadata().getUid(), task.getAssignment().getVolumeSnapshot().getUid());
        assertEquals("", task.getAssignment().getApp(), "not a replica");

        // Not ready: no restore from it yet. Then the node fails once, and succeeds.
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> volumes.createVolume(CreateVolumeRequest.newBuilder()
                .setVolume(restore("early")).build())));
        report(stream, StatusReport.newBuilder().addSnapshots(VolumeSnapshotReport.newBuilder().setNamespace("default")
                .setName("cam-s1").setUid(created.getMetadata().getUid()).setError("storage driver: ABORTED busy")));
        TestApi.await("the node's error in the snapshot's status", WAIT,
                () -> getSnapshot("cam-s1").getStatus().getMessage().contains("ABORTED busy"));
        report(stream, StatusReport.newBuilder().addSnapshots(VolumeSnapshotReport.newBuilder().setNamespace("default")
                .setName("cam-s1").setUid(created.getMetadata().getUid()).setReadyToUse(true).setSnapshotId("snap-1")
                .setSizeBytes(64L << 20).setCreationTime(Timestamp.newBuilder().setSeconds(1_700_000_000))));
        TestApi.await("ready_to_use", WAIT, () -> getSnapshot("cam-s1").getStatus().getReadyToUse());
        VolumeSnapshot ready = getSnapshot("cam-s1");
        assertEquals("snap-1", ready.getStatus().getSnapshotId());
        assertEquals(64L << 20, ready.getStatus().getSizeBytes());
        assertEquals(1_700_000_000, ready.getStatus().getCreationTime().getSeconds());
        assertEquals("", ready.getStatus().getMessage());

        // Restore: defaults from the snapshot, pinned to its node; bad sizes and classes refused.
        assertInvalid(() -> volumes.createVolume(CreateVolumeRequest.newBuilder().setVolume(restore("small").toBuilder()
                .setSpec(restore("small").getSpec().toBuilder().setSizeBytes(32L << 20))).build()), "volume.spec.size_bytes");
        assertInvalid(() -> volumes.createVolume(CreateVolumeRequest.newBuilder().setVolume(restore("other").toBuilder()
                .setSpec(restore("other").getSpec().toBuilder().setStorageClass("btrfs"))).build()), "volume.spec.storage_class");
        assertEquals(Status.Code.NOT_FOUND, code(() -> volumes.createVolume(CreateVolumeRequest.newBuilder().setVolume(restore("x")
                .toBuilder().setSpec(VolumeSpec.newBuilder().setSourceSnapshot("no-such"))).build())));
        Volume restored = volumes.createVolume(CreateVolumeRequest.newBuilder().setVolume(restore("cam-restored")).build());
        assertEquals(64L << 20, restored.getSpec().getSizeBytes());
        assertEquals("loopfs", restored.getSpec().getStorageClass());
        assertEquals(NODE, restored.getStatus().getNode(), "pinned to the snapshot's node");
        assertEquals("snap-1", restored.getStatus().getSourceSnapshotId());
        assertEquals(VolumeStatus.Phase.PENDING, restored.getStatus().getPhase());
        assertInvalid(() -> volumes.updateVolume(dev.edgeplane.api.v1.UpdateVolumeRequest.newBuilder().setVolume(restored.toBuilder()
                .setSpec(restored.getSpec().toBuilder().setSourceSnapshot(""))).build()), "volume.spec.source_snapshot");

        // The restored volume still needs the snapshot until its node has created it.
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> volumes.deleteVolumeSnapshot(DeleteVolumeSnapshotRequest.newBuilder()
                .setName("cam-s1").build())));
        report(stream, StatusReport.newBuilder().addVolumes(VolumeReport.newBuilder().setName("cam-restored")
                .setUid(restored.getMetadata().getUid()).setStatus(VolumeNodeStatus.newBuilder()
                        .setState(VolumeNodeStatus.State.CREATED).setVolumeId("vol-2"))));
        TestApi.await("the restored volume created", WAIT,
                () -> getVolume("cam-restored").getStatus().getNodeStatus().getState() == VolumeNodeStatus.State.CREATED);
        volumes.deleteVolumeSnapshot(DeleteVolumeSnapshotRequest.newBuilder().setName("cam-s1").build());
        Change removed = awaitChange(stream, c -> c.getKey().equals("default/snapshot.cam-s1"));
        assertEquals(Change.Type.DELETE, removed.getType(), "the node is told to delete its copy");
        assertEquals(Status.Code.NOT_FOUND, code(() -> getSnapshot("cam-s1")));

        // Scaled to 0: created on its node, no replica uses it -> AVAILABLE; the App deleted -> RELEASED (Retain).
        App current = api.apps().getApp(GetAppRequest.newBuilder().setName("cam-app").build());
        api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(current.toBuilder()
                .setSpec(current.getSpec().toBuilder().setReplicas(0))).build());
        TestApi.await("cam AVAILABLE", WAIT, () -> getVolume("cam").getStatus().getPhase() == VolumeStatus.Phase.AVAILABLE);
        assertEquals("", getVolume("cam").getStatus().getReplica());
        api.apps().deleteApp(DeleteAppRequest.newBuilder().setName("cam-app").build());
        TestApi.await("cam RELEASED", WAIT, () -> getVolume("cam").getStatus().getPhase() == VolumeStatus.Phase.RELEASED);
        assertEquals(NODE, getVolume("cam").getStatus().getNode(), "the data stays on its node");
        assertEquals(VolumeStatus.Phase.PENDING, getVolume("cam-restored").getStatus().getPhase(), "never used: not released");

        // Deleting the released volume: DELETING, and its node is ordered to delete the data; the resource
        // stays until the node confirms, then goes with the order.
        volumes.deleteVolume(DeleteVolumeRequest.newBuilder().setName("cam").build());
        assertEquals(VolumeStatus.Phase.DELETING, getVolume("cam").getStatus().getPhase());
        Change order = awaitChange(stream, c -> c.getKey().equals("default/volume.cam"));
        assertEquals(Change.Type.PUT, order.getType());
        assertEquals(VolumeTask.Action.DELETE, order.getAssignment().getVolumeTask().getAction());
        assertEquals("vol-1", order.getAssignment().getVolumeTask().getVolumeId());
        assertEquals(cam.getMetadata().getUid(), order.getAssignment().getVolumeTask().getUid());
        assertEquals("", order.getAssignment().getApp(), "not a replica");
        volumes.deleteVolume(DeleteVolumeRequest.newBuilder().setName("cam").build()); // asked again: fine
        assertEquals(VolumeStatus.Phase.DELETING, getVolume("cam").getStatus().getPhase(), "waits for the node");
        report(stream, StatusReport.newBuilder().addVolumes(VolumeReport.newBuilder().setName("cam").setUid("someone-else")
                .setStatus(VolumeNodeStatus.newBuilder().setState(VolumeNodeStatus.State.DELETED).setVolumeId("vol-1"))));
        report(stream, StatusReport.newBuilder().addVolumes(VolumeReport.newBuilder().setName("cam")
                .setUid(cam.getMetadata().getUid()).setStatus(VolumeNodeStatus.newBuilder()
                        .setState(VolumeNodeStatus.State.DELETED).setVolumeId("vol-1"))));
        Change done = awaitChange(stream, c -> c.getKey().equals("default/volume.cam"));
        assertEquals(Change.Type.DELETE, done.getType(), "the order goes once the node confirmed");
        TestApi.await("cam removed", WAIT, () -> code(() -> getVolume("cam")) == Status.Code.NOT_FOUND);

        // A restored volume pinned to the node but never used: its node is asked too (it may have started creating it).
        volumes.deleteVolume(DeleteVolumeRequest.newBuilder().setName("cam-restored").build());
        Change restoredOrder = awaitChange(stream, c -> c.getKey().equals("default/volume.cam-restored"));
        assertEquals("vol-2", restoredOrder.getAssignment().getVolumeTask().getVolumeId());
        report(stream, StatusReport.newBuilder().addVolumes(VolumeReport.newBuilder().setName("cam-restored")
                .setUid(restored.getMetadata().getUid()).setStatus(VolumeNodeStatus.newBuilder()
                        .setState(VolumeNodeStatus.State.DELETED).setVolumeId("vol-2"))));
        TestApi.await("cam-restored removed", WAIT, () -> code(() -> getVolume("cam-restored")) == Status.Code.NOT_FOUND);
        api.nodes().deleteNode(DeleteNodeRequest.newBuilder().setName(NODE).build());
    }

    private static Volume restore(String name) {
        return Volume.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(VolumeSpec.newBuilder().setSourceSnapshot("cam-s1")).build();
    }

    private static Status.Code code(Runnable call) {
        try {
            call.run();
            return Status.Code.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        }
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
