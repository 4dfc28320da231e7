package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppEvent;
import dev.edgeplane.api.v1.AppServiceGrpc;
import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.ListNodesResponse;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeServiceGrpc;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.WatchAppsRequest;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** get -w: a streamed kind (apps) and a polled one (nodes), each ended by an interrupt as Ctrl-C would. */
class WatchTest {
    private final AtomicReference<ListNodesResponse> nodes = new AtomicReference<>(ListNodesResponse.newBuilder()
            .addNodes(node("edge-1", NodeStatus.Phase.READY)).build());
    private final AtomicReference<StreamObserver<AppEvent>> appWatcher = new AtomicReference<>();
    private Server server;

    private static Node node(String name, NodeStatus.Phase phase) {
        return Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setStatus(NodeStatus.newBuilder().setPhase(phase).setOs("linux").setArch("arm64")).build();
    }

    @BeforeEach
    void serve() throws Exception {
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(new NodeServiceGrpc.NodeServiceImplBase() {
            @Override
            public void listNodes(ListNodesRequest request, StreamObserver<ListNodesResponse> observer) {
                observer.onNext(nodes.get());
                observer.onCompleted();
            }
        }).addService(new AppServiceGrpc.AppServiceImplBase() {
            @Override
            public void watchApps(WatchAppsRequest request, StreamObserver<AppEvent> observer) {
                observer.onNext(AppEvent.newBuilder().setType(AppEvent.Type.ADDED).setApp(App.newBuilder()
                        .setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName("web"))).build());
                appWatcher.set(observer); // stays open, as the control plane's does
            }
        }).build().start();
    }

    @AfterEach
    void shutdown() {
        server.shutdownNow();
    }

    /** Runs edgectl in a thread of its own; the test interrupts it. */
    private final class Running {
        final StringWriter out = new StringWriter();
        final StringWriter err = new StringWriter();
        final Thread thread;
        final CompletableFuture<Integer> exit = new CompletableFuture<>();

        Running(String... args) {
            String[] all = new String[args.length + 5];
            System.arraycopy(new String[] {"--server", "127.0.0.1:" + server.getPort(), "--insecure", "--token", "t"}, 0, all, 0, 5);
            System.arraycopy(args, 0, all, 5, args.length);
            thread = new Thread(() -> exit.complete(Edgectl.run(all, Map.of("EDGECTL_CONFIG", "/nonexistent"),
                    new PrintWriter(out), new PrintWriter(err))));
            thread.start();
        }

        synchronized String output() {
            synchronized (out) {
                return out.toString();
            }
        }

        int stop() throws Exception {
            thread.interrupt();
            return exit.get(10, TimeUnit.SECONDS);
        }
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    @Test
    void pollingPrintsTheTableThenOnlyNewAndChangedRows() throws Exception {
        Running watch = new Running("get", "nodes", "-w", "--watch-interval", "1s");
        await(() -> watch.output().contains("edge-1"), "the first table");
        assertTrue(watch.output().startsWith("NAME"), watch.output());
        nodes.set(ListNodesResponse.newBuilder().addNodes(node("edge-1", NodeStatus.Phase.READY))
                .addNodes(node("edge-2", NodeStatus.Phase.NOT_READY)).build());
        await(() -> watch.output().contains("edge-2"), "the new node");
        nodes.set(ListNodesResponse.newBuilder().addNodes(node("edge-1", NodeStatus.Phase.UNREACHABLE))
                .addNodes(node("edge-2", NodeStatus.Phase.NOT_READY)).build());
        await(() -> watch.output().contains("UNREACHABLE"), "the changed node");
        Thread.sleep(1500); // another poll or two with nothing new
        assertEquals(0, watch.stop(), watch.err.toString());
        var lines = watch.output().lines().toList();
        assertEquals(4, lines.size(), "header, edge-1, edge-2, edge-1 changed; nothing unchanged again: " + lines);
        assertEquals(1, lines.stream().filter(l -> l.startsWith("edge-2")).count());
    }

    @Test
    void clockColumnsAloneAreNoChange() {
        String header = "NAME     PHASE   HEARTBEAT   AGE";
        Set<String> shown = WatchView.printChangedRows(new PrintWriter(new StringWriter()),
                header + "\nedge-1   READY   3s          5m\n", null);
        StringWriter out = new StringWriter();
        WatchView.printChangedRows(new PrintWriter(out), header + "\nedge-1   READY   13s         6m\n", shown);
        assertEquals("", out.toString());
    }

    @Test
    void appsComeFromWatchApps() throws Exception {
        Running watch = new Running("get", "apps", "-w");
        await(() -> watch.output().contains("web"), "the current app");
        await(() -> appWatcher.get() != null, "the stream");
        appWatcher.get().onNext(AppEvent.newBuilder().setType(AppEvent.Type.DELETED).setApp(App.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName("web"))).build());
        await(() -> watch.output().contains("DELETED"), "the deletion");
        assertEquals(0, watch.stop(), watch.err.toString());
        var lines = watch.output().lines().toList();
        assertTrue(lines.get(0).startsWith("EVENT"), lines.toString());
        assertTrue(lines.get(1).startsWith("ADDED") && lines.get(1).contains("web"), lines.toString());
        assertFalse(watch.err.toString().contains("Exception"), watch.err.toString());
    }
}
