package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeServiceGrpc;
import dev.edgeplane.api.v1.NodeSpec;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Taint;
import dev.edgeplane.api.v1.UpdateNodeRequest;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** edgectl label and taint: kubectl's syntax, and the read-modify-write through UpdateNode with its retry on ABORTED. */
class NodeLabelsTest {
    private final AtomicReference<Node> stored = new AtomicReference<>(Node.newBuilder()
            .setMetadata(ObjectMeta.newBuilder().setName("edge-1").setResourceVersion(5).putLabels("site", "north"))
            .setSpec(NodeSpec.newBuilder().addTaints(Taint.newBuilder().setKey("gpu").setValue("a100").setEffect(Taint.Effect.NO_SCHEDULE)))
            .build());
    /** How many of the next updates fail as if another writer had come first. */
    private final AtomicInteger conflicts = new AtomicInteger();
    private final AtomicInteger updates = new AtomicInteger();
    private Server server;

    @BeforeEach
    void serve() throws Exception {
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(new NodeServiceGrpc.NodeServiceImplBase() {
            @Override
            public void getNode(GetNodeRequest request, StreamObserver<Node> observer) {
                observer.onNext(stored.get());
                observer.onCompleted();
            }

            @Override
            public synchronized void updateNode(UpdateNodeRequest request, StreamObserver<Node> observer) {
                updates.incrementAndGet();
                Node current = stored.get();
                if (conflicts.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                    stored.set(current.toBuilder().setMetadata(current.getMetadata().toBuilder()
                            .setResourceVersion(current.getMetadata().getResourceVersion() + 1)).build());
                }
                if (request.getNode().getMetadata().getResourceVersion() != stored.get().getMetadata().getResourceVersion()) {
                    observer.onError(Status.ABORTED.withDescription("node edge-1 was changed: resource_version "
                            + stored.get().getMetadata().getResourceVersion()).asRuntimeException());
                    return;
                }
                Node next = request.getNode().toBuilder().setMetadata(request.getNode().getMetadata().toBuilder()
                        .setResourceVersion(stored.get().getMetadata().getResourceVersion() + 1)).build();
                stored.set(next);
                observer.onNext(next);
                observer.onCompleted();
            }
        }).build().start();
    }

    @AfterEach
    void shutdown() {
        server.shutdownNow();
    }

    private int run(StringWriter out, StringWriter err, String... args) {
        String[] all = new String[args.length + 5];
        System.arraycopy(new String[] {"--server", "127.0.0.1:" + server.getPort(), "--insecure", "--token", "t"}, 0, all, 0, 5);
        System.arraycopy(args, 0, all, 5, args.length);
        return Edgectl.run(all, Map.of("EDGECTL_CONFIG", "/nonexistent"), new PrintWriter(out), new PrintWriter(err));
    }

    @Test
    void labelSyntaxIsKubectls() {
        assertEquals(new LabelCommand.LabelChange("tier", "web", false), LabelCommand.LabelChange.parse("tier=web"));
        assertEquals(new LabelCommand.LabelChange("edgeplane.dev/pool", "", false), LabelCommand.LabelChange.parse("edgeplane.dev/pool="));
        assertEquals(new LabelCommand.LabelChange("tier", null, true), LabelCommand.LabelChange.parse("tier-"));
        assertThrows(UsageException.class, () -> LabelCommand.LabelChange.parse("tier"));
        assertThrows(UsageException.class, () -> LabelCommand.LabelChange.parse("=web"));
    }

    @Test
    void taintSyntaxIsKubectls() {
        var t = LabelCommand.TaintChange.parse("dedicated=edge:NoSchedule");
        assertEquals(Taint.newBuilder().setKey("dedicated").setValue("edge").setEffect(Taint.Effect.NO_SCHEDULE).build(), t.taint());
        assertEquals(Taint.Effect.PREFER_NO_SCHEDULE, LabelCommand.TaintChange.parse("k:PreferNoSchedule").taint().getEffect());
        var removeKey = LabelCommand.TaintChange.parse("dedicated-");
        assertTrue(removeKey.remove() && removeKey.anyEffect());
        var removeOne = LabelCommand.TaintChange.parse("dedicated:NoExecute-");
        assertTrue(removeOne.remove() && !removeOne.anyEffect());
        assertEquals(Taint.Effect.NO_EXECUTE, removeOne.taint().getEffect());
        assertThrows(UsageException.class, () -> LabelCommand.TaintChange.parse("dedicated=edge"), "no effect");
        assertThrows(UsageException.class, () -> LabelCommand.TaintChange.parse("k=v:Sometimes"));
    }

    @Test
    void labelSetsAndRemovesThroughUpdateNode() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(0, run(out, err, "label", "edge-1", "tier=web", "site-"), err.toString());
        assertEquals(Map.of("tier", "web"), stored.get().getMetadata().getLabelsMap());
        assertEquals("node/edge-1 labeled\n", out.toString());

        // a value already set changes only with --overwrite, as in kubectl
        assertEquals(Edgectl.EXIT_USAGE, run(new StringWriter(), err, "label", "node", "edge-1", "tier=db"));
        assertTrue(err.toString().contains("--overwrite"), err.toString());
        assertEquals(0, run(new StringWriter(), err, "label", "node", "edge-1", "tier=db", "--overwrite"));
        assertEquals("db", stored.get().getMetadata().getLabelsMap().get("tier"));
    }

    @Test
    void aConflictIsRetriedOnceOnAFreshRead() {
        conflicts.set(1);
        StringWriter err = new StringWriter();
        assertEquals(0, run(new StringWriter(), err, "label", "edge-1", "tier=web"), err.toString());
        assertEquals(2, updates.get());
        assertEquals("web", stored.get().getMetadata().getLabelsMap().get("tier"));
        assertEquals("north", stored.get().getMetadata().getLabelsMap().get("site"));

        conflicts.set(2);
        updates.set(0);
        StringWriter err2 = new StringWriter();
        assertEquals(Edgectl.EXIT_API_ERROR, run(new StringWriter(), err2, "label", "edge-1", "zone=b"));
        assertEquals(2, updates.get(), "retried once, not more");
        assertTrue(err2.toString().startsWith("error: ABORTED"), err2.toString());
    }

    @Test
    void taintAddsReplacesAndRemoves() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(0, run(out, err, "taint", "edge-1", "dedicated=edge:NoExecute"), err.toString());
        assertEquals(List.of("gpu=a100:NoSchedule", "dedicated=edge:NoExecute"), taints());
        assertEquals("node/edge-1 tainted\n", out.toString());

        assertEquals(Edgectl.EXIT_USAGE, run(new StringWriter(), err, "taint", "edge-1", "gpu=h100:NoSchedule"));
        assertTrue(err.toString().contains("--overwrite"), err.toString());
        assertEquals(0, run(new StringWriter(), err, "taint", "edge-1", "gpu=h100:NoSchedule", "--overwrite"));
        assertEquals(List.of("gpu=h100:NoSchedule", "dedicated=edge:NoExecute"), taints());

        StringWriter out2 = new StringWriter();
        assertEquals(0, run(out2, err, "taint", "edge-1", "gpu-", "dedicated:NoExecute-"), err.toString());
        assertEquals(List.of(), taints());
        assertEquals("node/edge-1 untainted\n", out2.toString());

        StringWriter err3 = new StringWriter();
        assertEquals(Edgectl.EXIT_USAGE, run(new StringWriter(), err3, "taint", "edge-1", "gpu-"));
        assertTrue(err3.toString().contains("taint \"gpu\" not found"), err3.toString());
    }

    private List<String> taints() {
        return stored.get().getSpec().getTaintsList().stream().map(t -> NodePools.taints(List.of(t))).toList();
    }
}
