package dev.edgeplane.controlplane.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeSpec;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.NodeStorage;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.StorageBackend;
import dev.edgeplane.api.v1.StorageClass;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeSpec;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.volumes.StorageClasses;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Pure: which nodes can take an App's unbound volumes, and where an IMMEDIATE volume binds. */
class StoragePlacementTest {
    private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");
    private static final long GIB = 1L << 30;

    static StorageBackend backend(String name, long free, String... fsTypes) {
        return StorageBackend.newBuilder().setName(name).addAllFsTypes(List.of(fsTypes)).setTotalBytes(10 * GIB).setFreeBytes(free).build();
    }

    static Node node(String name, StorageBackend... backends) {
        return PlacementTest.ready(name).toBuilder()
                .setStatus(PlacementTest.ready(name).getStatus().toBuilder().setStorage(NodeStorage.newBuilder().addAllBackends(List.of(backends))))
                .build();
    }

    static Entry<Volume> volume(String name, String storageClass, long size) {
        Volume v = Volume.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).setNamespace("default"))
                .setSpec(VolumeSpec.newBuilder().setStorageClass(storageClass).setSizeBytes(size)).build();
        return new Entry<>("/edgeplane/volumes/default/" + name, v, 1, 1);
    }

    static StorageFit fit(Entry<Volume>... unbound) {
        return StorageFit.of(List.of(unbound), StorageClasses::builtIn);
    }

    static Placement.Result place(App app, List<Node> nodes, StorageFit storage) {
        return Placement.place(app, NodeIndex.of(nodes), Map.of(), Map.of(), NOW, Optional.empty(), Integer.MAX_VALUE,
                Placement.ordinals(app), storage);
    }

    @Test
    void aBtrfsVolumesConsumerGoesOnlyToTheNodeWithABtrfsPool() {
        List<Node> nodes = List.of(node("plain", backend("loopfs", 9 * GIB, "ext4", "xfs")),
                node("withbtrfs", backend("loopfs", 1 * GIB, "ext4"), backend("btrfs", 5 * GIB, "btrfs")));
        Placement.Result r = place(PlacementTest.app("db", 1), nodes, fit(volume("data", "btrfs", GIB)));
        assertEquals(Map.of("db-0", "withbtrfs"), r.desired());
    }

    @Test
    void noNodeWithTheBackendLeavesTheReplicaPendingSayingWhy() {
        List<Node> nodes = List.of(node("a", backend("loopfs", 9 * GIB, "ext4")), node("b", backend("loopfs", 9 * GIB, "ext4")));
        Placement.Result r = place(PlacementTest.app("db", 1), nodes, fit(volume("data", "btrfs", GIB)));
        assertEquals(Map.of(), r.desired());
        assertEquals("0/2 nodes: 2 no btrfs storage", r.unschedulable().orElseThrow());
    }

    @Test
    void aNodeWithoutRoomForTheVolumesIsNotPicked() {
        List<Node> nodes = List.of(node("small", backend("loopfs", 100L << 20, "ext4", "xfs")),
                node("big", backend("loopfs", 4 * GIB, "ext4", "xfs")));
        // Two volumes of one App: their sizes add up on one node.
        Placement.Result r = place(PlacementTest.app("db", 1), nodes, fit(volume("a", "loopfs", 64L << 20), volume("b", "loopfs", 64L << 20)));
        assertEquals(Map.of("db-0", "big"), r.desired());
        assertEquals("insufficient loopfs storage", new StorageFit(List.of(new StorageFit.Need("a", "loopfs", "", 128L << 20)))
                .misfit(nodes.get(0)));
    }

    @Test
    void aClassFsTypeTheNodeCannotMakeIsRefused() {
        Node ext4Only = node("a", backend("loopfs", 9 * GIB, "ext4"));
        assertEquals("no xfs on loopfs storage", fit(volume("x", "loopfs-xfs", 512L << 20)).misfit(ext4Only));
        assertNull(fit(volume("e", "loopfs", 512L << 20)).misfit(ext4Only));
    }

    @Test
    void aNodeThatReportedNoStorageIsNotChecked() {
        Node old = PlacementTest.ready("old-agent");
        assertNull(fit(volume("data", "btrfs", GIB)).misfit(old));
        assertEquals(Map.of("db-0", "old-agent"),
                place(PlacementTest.app("db", 1), List.of(old), fit(volume("data", "btrfs", GIB))).desired());
    }

    @Test
    void boundVolumesOrNoVolumesNeedNothing() {
        Node plain = node("plain", backend("loopfs", 0, "ext4"));
        assertNull(StorageFit.NONE.misfit(plain));
        assertEquals(Map.of("web-0", "plain"), place(PlacementTest.app("web", 1), List.of(plain), StorageFit.NONE).desired());
    }

    @Test
    void anImmediateVolumeBindsToTheServingNodeWithTheMostFreeBytes() {
        Node cordoned = node("cordoned", backend("btrfs", 9 * GIB, "btrfs")).toBuilder()
                .setSpec(NodeSpec.newBuilder().setUnschedulable(true)).build();
        Node notReady = node("away", backend("btrfs", 9 * GIB, "btrfs")).toBuilder()
                .setStatus(node("away", backend("btrfs", 9 * GIB, "btrfs")).getStatus().toBuilder().setPhase(NodeStatus.Phase.UNREACHABLE))
                .build();
        List<Node> nodes = List.of(cordoned, notReady, node("little", backend("btrfs", 2 * GIB, "btrfs")),
                node("roomy", backend("btrfs", 6 * GIB, "btrfs")), node("plain", backend("loopfs", 9 * GIB, "ext4")),
                PlacementTest.ready("silent"));
        StringBuilder why = new StringBuilder();
        assertEquals(Optional.of("roomy"), StorageFit.immediateNode(new StorageFit.Need("v", "btrfs", "", GIB), nodes, why));

        Optional<String> none = StorageFit.immediateNode(new StorageFit.Need("v", "btrfs", "", 7 * GIB), nodes, why);
        assertTrue(none.isEmpty());
        assertEquals("0/6 nodes: 2 insufficient btrfs storage, 1 cordoned, 1 no btrfs storage, 1 not ready, 1 storage not reported",
                why.toString());
    }

    @Test
    void classesResolveThroughTheLookup() {
        StorageClass fast = StorageClass.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("fast"))
                .setSpec(dev.edgeplane.api.v1.StorageClassSpec.newBuilder().setBackend("btrfs")).build();
        StorageFit f = StorageFit.of(List.of(volume("v", "fast", GIB), volume("u", "unknown", GIB)),
                name -> name.equals("fast") ? Optional.of(fast) : Optional.empty());
        assertEquals(List.of(new StorageFit.Need("v", "btrfs", "", GIB)), f.needs(), "an unknown class needs nothing here");
    }
}
