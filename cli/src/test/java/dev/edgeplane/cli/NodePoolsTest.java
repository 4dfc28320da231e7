package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.CreateNodePoolRequest;
import dev.edgeplane.api.v1.DeleteNodePoolRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.GetNodePoolRequest;
import dev.edgeplane.api.v1.ListNodePoolsRequest;
import dev.edgeplane.api.v1.ListNodePoolsResponse;
import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.ListNodesResponse;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodePool;
import dev.edgeplane.api.v1.NodePoolServiceGrpc;
import dev.edgeplane.api.v1.NodePoolSpec;
import dev.edgeplane.api.v1.NodePoolStatus;
import dev.edgeplane.api.v1.NodeServiceGrpc;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Taint;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** edgectl get/describe/apply/delete of node pools and the POOL column of get nodes, against stand-in services. */
class NodePoolsTest {
    private final Map<String, NodePool> pools = new ConcurrentHashMap<>();
    private final AtomicReference<String> nodeSelector = new AtomicReference<>();
    private Server server;

    private static Timestamp ago(long seconds) {
        return Timestamp.newBuilder().setSeconds(Instant.now().getEpochSecond() - seconds).build();
    }

    @BeforeEach
    void serve() throws Exception {
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(new NodePoolServiceGrpc.NodePoolServiceImplBase() {
            @Override
            public void createNodePool(CreateNodePoolRequest request, StreamObserver<NodePool> observer) {
                NodePool pool = request.getNodePool().toBuilder().setMetadata(request.getNodePool().getMetadata().toBuilder()
                        .setResourceVersion(1).setCreateTime(ago(7200))).build();
                pools.put(pool.getMetadata().getName(), pool);
                observer.onNext(pool);
                observer.onCompleted();
            }

            @Override
            public void getNodePool(GetNodePoolRequest request, StreamObserver<NodePool> observer) {
                NodePool pool = pools.get(request.getName());
                if (pool == null) {
                    observer.onError(Status.NOT_FOUND.withDescription("node pool \"" + request.getName() + "\" not found").asRuntimeException());
                    return;
                }
                observer.onNext(pool);
                observer.onCompleted();
            }

            @Override
            public void listNodePools(ListNodePoolsRequest request, StreamObserver<ListNodePoolsResponse> observer) {
                observer.onNext(ListNodePoolsResponse.newBuilder().addAllNodePools(pools.values()).build());
                observer.onCompleted();
            }

            @Override
            public void updateNodePool(dev.edgeplane.api.v1.UpdateNodePoolRequest request, StreamObserver<NodePool> observer) {
                assertEquals(pools.get(request.getNodePool().getMetadata().getName()).getMetadata().getResourceVersion(),
                        request.getNodePool().getMetadata().getResourceVersion(), "apply updates from the current version");
                pools.put(request.getNodePool().getMetadata().getName(), request.getNodePool());
                observer.onNext(request.getNodePool());
                observer.onCompleted();
            }

            @Override
            public void deleteNodePool(DeleteNodePoolRequest request, StreamObserver<DeleteResponse> observer) {
                pools.remove(request.getName());
                observer.onNext(DeleteResponse.getDefaultInstance());
                observer.onCompleted();
            }
        }).addService(new NodeServiceGrpc.NodeServiceImplBase() {
            @Override
            public void listNodes(ListNodesRequest request, StreamObserver<ListNodesResponse> observer) {
                nodeSelector.set(request.getLabelSelector());
                observer.onNext(ListNodesResponse.newBuilder().addNodes(Node.newBuilder()
                        .setMetadata(ObjectMeta.newBuilder().setName("shop-0042").putLabels(NodePools.POOL_LABEL, "shops-north"))
                        .setStatus(NodeStatus.newBuilder().setPhase(NodeStatus.Phase.READY).setPool("shops-north").setRunningReplicas(2)
                                .setDesiredReplicas(2))).build());
                observer.onCompleted();
            }
        }).build().start();
    }

    @AfterEach
    void shutdown() {
        server.shutdownNow();
    }

    private String run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        String[] all = new String[args.length + 5];
        System.arraycopy(new String[] {"--server", "127.0.0.1:" + server.getPort(), "--insecure", "--token", "t"}, 0, all, 0, 5);
        System.arraycopy(args, 0, all, 5, args.length);
        assertEquals(0, Edgectl.run(all, Map.of(), new PrintWriter(out), new PrintWriter(err)), err.toString());
        return out.toString();
    }

    private static Path example() {
        return Path.of("").toAbsolutePath().getParent().resolve("deploy/examples/nodepool.yaml");
    }

    @Test
    void theExampleReadsAsANodePool() throws Exception {
        List<Manifests.Manifest> docs;
        try (var reader = Files.newBufferedReader(example())) {
            docs = Manifests.read(reader, example().toString());
        }
        NodePool pool = assertInstanceOf(Manifests.NodePoolManifest.class, docs.get(0)).nodePool();
        assertEquals("shops-north", pool.getMetadata().getName());
        assertEquals(Map.of("site-type", "shop", "region", "north"), pool.getSpec().getNodeSelectorMap());
        assertEquals(List.of("shop-0042"), pool.getSpec().getNodesList());
        assertEquals(Taint.Effect.NO_SCHEDULE, pool.getSpec().getTaints(0).getEffect());
        assertEquals(ResourceKind.POOL, ResourceKind.parse("nodepools"));
    }

    @Test
    void aRowSummarisesMembersLabelsAndTaints() {
        NodePool pool = NodePool.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("north").setCreateTime(ago(3 * 3600)))
                .setSpec(NodePoolSpec.newBuilder().putLabels("tier", "edge").putLabels("region", "eu")
                        .addTaints(Taint.newBuilder().setKey("dedicated").setValue("north").setEffect(Taint.Effect.NO_SCHEDULE)))
                .setStatus(NodePoolStatus.newBuilder().setNodeCount(12).setReadyNodes(11)).build();
        assertEquals(List.of("north", "12", "11", "region=eu,tier=edge", "dedicated=north:NoSchedule", "3h"),
                NodePools.row(pool, Instant.now()));
        assertEquals("-", NodePools.row(NodePool.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("bare")).build(), Instant.now()).get(3));
    }

    @Test
    void nodesShowTheirPool() {
        Node node = Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("n1"))
                .setStatus(NodeStatus.newBuilder().setPhase(NodeStatus.Phase.READY).setPool("north")).build();
        assertEquals("POOL", GetCommand.NODE_HEADER.get(2));
        assertEquals("north", GetCommand.nodeRow(node, Instant.now()).get(2));
        Node older = node.toBuilder().setStatus(NodeStatus.newBuilder()).setMetadata(node.getMetadata().toBuilder()
                .putLabels(NodePools.POOL_LABEL, "south")).build();
        assertEquals("south", GetCommand.nodeRow(older, Instant.now()).get(2), "from the label when the server does not fill status.pool");
        assertEquals("-", GetCommand.nodeRow(Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("n2")).build(), Instant.now()).get(2));
    }

    @Test
    void applyGetDescribeAndDeleteThroughTheApi() {
        assertEquals("pool/shops-north created\n", run("apply", "-f", example().toString()));
        assertEquals("pool/shops-north unchanged\n", run("apply", "-f", example().toString()));

        String table = run("get", "pools");
        assertTrue(table.startsWith("NAME"), table);
        assertTrue(table.contains("shops-north") && table.contains("dedicated=shops:NoSchedule"), table);
        String yaml = run("get", "pool", "shops-north", "-o", "yaml");
        assertTrue(yaml.contains("name: shops-north") && yaml.contains("nodeSelector:"), yaml);

        String described = run("describe", "pool", "shops-north");
        assertTrue(described.contains("Puts labels:   edgeplane.dev/pool=shops-north,region=north,tier=store"), described);
        assertTrue(described.contains("shop-0042") && described.contains("READY"), described);
        assertEquals(NodePools.POOL_LABEL + "=shops-north", nodeSelector.get(), "members found by the label the pool puts on them");

        assertEquals("pool/shops-north deleted\n", run("delete", "pool", "shops-north"));
        assertTrue(pools.isEmpty());
    }
}
