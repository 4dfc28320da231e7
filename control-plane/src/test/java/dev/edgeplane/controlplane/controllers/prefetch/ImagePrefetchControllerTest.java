package dev.edgeplane.controlplane.controllers.prefetch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.CreateImagePrefetchRequest;
import dev.edgeplane.api.v1.DeleteImagePrefetchRequest;
import dev.edgeplane.api.v1.GetImagePrefetchRequest;
import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ImagePrefetchSpec;
import dev.edgeplane.api.v1.ImagePrefetchStatus;
import dev.edgeplane.api.v1.ImagePullReport;
import dev.edgeplane.api.v1.ListImagePrefetchesRequest;
import dev.edgeplane.api.v1.LocalObjectReference;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeImagePrefetchStatus;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The ImagePrefetch controller against a real etcd: node entries only for the resolved targets (with
 * the pull Secret's version), agents' reports folded into the status in batches, a silent node FAILED
 * at the deadline, and the entries gone with the prefetch.
 */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class ImagePrefetchControllerTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    @Inject
    StateCaches caches;
    @Inject
    EtcdStore store;
    @Inject
    LeaderLock leader;
    @Inject
    PrefetchReports reports;

    private TestApi api;

    @BeforeEach
    void setUp() {
        api = new TestApi();
        TestApi.await("leadership", WAIT, () -> leader.isLeader());
    }

    @AfterEach
    void tearDown() {
        api.close();
    }

    private void node(String name, String pool) {
        Node node = Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).putLabels("pool", pool))
                .setStatus(NodeStatus.newBuilder().setPhase(NodeStatus.Phase.READY).setLastHeartbeat(Joiner.timestamp(Instant.now())))
                .build();
        store.put(Keys.node(name), node.toByteArray());
        TestApi.await("node " + name + " in the informer", WAIT, () -> caches.nodes().get(Keys.node(name)) != null);
    }

    private ImagePrefetch create(String name, ImagePrefetchSpec spec) {
        return api.imagePrefetches().createImagePrefetch(CreateImagePrefetchRequest.newBuilder().setImagePrefetch(ImagePrefetch.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name)).setSpec(spec)).build());
    }

    private ImagePrefetch get(String name) {
        return api.imagePrefetches().getImagePrefetch(GetImagePrefetchRequest.newBuilder().setName(name).build());
    }

    /** Nodes with an image_pull entry of prefetch default/{@code name}, from the assignments informer. */
    private Set<String> taskNodes(String name) {
        return caches.assignments().all().stream().map(Entry::value)
                .filter(a -> a.hasImagePull() && a.getNamespace().equals("default") && a.getImagePull().getName().equals(name))
                .map(Assignment::getNode).collect(Collectors.toSet());
    }

    private static StatusReport report(ImagePrefetch prefetch, ImagePullReport.State state, int done) {
        return StatusReport.newBuilder().addImagePulls(ImagePullReport.newBuilder().setNamespace("default")
                .setName(prefetch.getMetadata().getName()).setUid(prefetch.getMetadata().getUid()).setState(state)
                .setImagesDone(done).setImagesTotal(prefetch.getSpec().getImagesCount())).build();
    }

    @Test
    void entriesGoOnlyToTheResolvedTargetsWithThePullSecretVersion() {
        node("pf-a1", "pf-a");
        node("pf-a2", "pf-a");
        node("pf-b1", "pf-b");
        node("pf-b2", "pf-b");
        long secretVersion = store.put(Keys.secret("default", "pf-regcred"), new byte[0]);
        ImagePrefetch created = create("targets", ImagePrefetchSpec.newBuilder().addImages("127.0.0.1:5000/app:1")
                .addImages("busybox").putNodeSelector("pool", "pf-a").addNodes("pf-b1")
                .addImagePullSecrets(LocalObjectReference.newBuilder().setName("pf-regcred")).build());
        assertEquals(List.of("pf-a1", "pf-a2", "pf-b1"), created.getStatus().getNodesList().stream().map(NodeImagePrefetchStatus::getNode).toList());
        TestApi.await("entries written", WAIT, () -> taskNodes("targets").size() == 3);
        assertEquals(Set.of("pf-a1", "pf-a2", "pf-b1"), taskNodes("targets"));
        Assignment task = caches.assignments().get(PrefetchTasks.key("pf-a1", "default", "targets")).value();
        assertEquals(List.of("127.0.0.1:5000/app:1", "busybox"), task.getImagePull().getImagesList());
        assertEquals("prefetch.targets", task.getReplica());
        assertEquals(List.of(ConfigRef.newBuilder().setKind(ConfigRef.Kind.SECRET).setName("pf-regcred").setVersion(secretVersion).build()),
                task.getConfigsList());
        TestApi.await("PULLING", WAIT, () -> get("targets").getStatus().getPhase() == ImagePrefetchStatus.Phase.PULLING);
        // A node joining later that matches the selector is not included.
        node("pf-a3", "pf-a");
        assertEquals(3, get("targets").getStatus().getNodesTotal());
        // A new version of the pull Secret reaches the entries.
        long newer = store.put(Keys.secret("default", "pf-regcred"), new byte[0]);
        TestApi.await("secret version in the entries", WAIT,
                () -> caches.assignments().get(PrefetchTasks.key("pf-b1", "default", "targets")).value().getConfigs(0).getVersion() == newer);
        assertEquals(Set.of("pf-a1", "pf-a2", "pf-b1"), taskNodes("targets"));
        // List leaves the per-node entries out.
        ImagePrefetch listed = api.imagePrefetches().listImagePrefetches(ListImagePrefetchesRequest.newBuilder().setNamespace("default").build())
                .getImagePrefetchesList().stream().filter(p -> p.getMetadata().getName().equals("targets")).findFirst().orElseThrow();
        assertEquals(0, listed.getStatus().getNodesCount());
        assertEquals(3, listed.getStatus().getNodesTotal());
    }

    /** How many times the key was written since it was created (etcd's per-key version). */
    private long writes(String key) {
        try {
            return store.client().getKVClient().get(EtcdStore.bytes(key)).get(10, java.util.concurrent.TimeUnit.SECONDS)
                    .getKvs().get(0).getVersion();
        } catch (Exception e) {
            throw new IllegalStateException("cannot read " + key, e);
        }
    }

    @Test
    void reportsAreFoldedIntoTheStatusUntilComplete() {
        node("pf-c1", "pf-c");
        node("pf-c2", "pf-c");
        ImagePrefetch created = create("folding", ImagePrefetchSpec.newBuilder().addImages("app:1").addImages("app:2")
                .putNodeSelector("pool", "pf-c").build());
        TestApi.await("PULLING", WAIT, () -> get("folding").getStatus().getPhase() == ImagePrefetchStatus.Phase.PULLING);
        TestApi.await("entries in the informer", WAIT, () -> taskNodes("folding").size() == 2);
        long before = writes(Keys.imagePrefetch("default", "folding"));
        reports.report("pf-c1", report(created, ImagePullReport.State.PULLING, 1));
        reports.report("pf-c1", report(created, ImagePullReport.State.DONE, 2));
        // A report about another prefetch of the same name (older uid) and one from a node that is no target change nothing.
        reports.report("pf-c1", StatusReport.newBuilder().addImagePulls(report(created, ImagePullReport.State.FAILED, 0).getImagePulls(0)
                .toBuilder().setUid("older")).build());
        reports.report("pf-zz", report(created, ImagePullReport.State.DONE, 2));
        reports.report("pf-c1", report(created, ImagePullReport.State.DONE, 2)); // the latest report per node counts
        reports.report("pf-c2", report(created, ImagePullReport.State.PULLING, 1));
        TestApi.await("pf-c1 done", WAIT, () -> get("folding").getStatus().getNodesDone() == 1);
        ImagePrefetch status = get("folding");
        // Five reports, folded per flush (once a second): one write, two if they straddled a flush; never one per report.
        // Counted by the key's own version: its mod revision also moves with every other key written meanwhile.
        assertTrue(writes(Keys.imagePrefetch("default", "folding")) - before <= 2, status.toString());
        assertEquals(ImagePrefetchStatus.Phase.PULLING, status.getStatus().getPhase());
        NodeImagePrefetchStatus c2 = PrefetchStatuses.node(status.getStatus(), "pf-c2").orElseThrow();
        assertEquals(NodeImagePrefetchStatus.Phase.PULLING, c2.getPhase());
        assertEquals(1, c2.getImagesDone());
        reports.report("pf-c2", report(created, ImagePullReport.State.DONE, 2));
        TestApi.await("COMPLETE", WAIT, () -> get("folding").getStatus().getPhase() == ImagePrefetchStatus.Phase.COMPLETE);
        ImagePrefetchStatus done = get("folding").getStatus();
        assertEquals(2, done.getNodesDone());
        assertEquals(0, done.getNodesFailed());
        assertTrue(done.hasCompletionTime());
    }

    @Test
    void aSilentNodeFailsAtTheDeadlineAndDeleteRemovesTheEntries() {
        node("pf-d1", "pf-d");
        node("pf-d2", "pf-d");
        ImagePrefetch created = create("deadline", ImagePrefetchSpec.newBuilder().addImages("app:1")
                .addNodes("pf-d1").addNodes("pf-d2").setDeadlineSeconds(3).build());
        TestApi.await("entries written", WAIT, () -> taskNodes("deadline").size() == 2);
        reports.report("pf-d1", report(created, ImagePullReport.State.DONE, 1));
        TestApi.await("FAILED", WAIT, () -> get("deadline").getStatus().getPhase() == ImagePrefetchStatus.Phase.FAILED);
        ImagePrefetchStatus status = get("deadline").getStatus();
        assertEquals(1, status.getNodesDone());
        assertEquals(1, status.getNodesFailed());
        NodeImagePrefetchStatus silent = PrefetchStatuses.node(status, "pf-d2").orElseThrow();
        assertEquals(NodeImagePrefetchStatus.Phase.FAILED, silent.getPhase());
        assertTrue(silent.getMessage().contains("not heard from within the deadline"), silent.getMessage());
        assertTrue(status.getMessage().contains("pf-d2"), status.getMessage());
        // Late news does not reopen a finished prefetch.
        reports.report("pf-d2", report(created, ImagePullReport.State.DONE, 1));
        api.imagePrefetches().deleteImagePrefetch(DeleteImagePrefetchRequest.newBuilder().setName("deadline").build());
        TestApi.await("entries removed", WAIT, () -> taskNodes("deadline").isEmpty());
        assertEquals(0, api.etcdCount(Keys.assignmentsOf("pf-d1")), "nothing else under the node's prefix");
        assertTrue(store.get(Keys.imagePrefetch("default", "deadline")).isEmpty());
    }
}
