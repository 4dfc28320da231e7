package dev.edgeplane.cli;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppServiceGrpc;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.ListAppsRequest;
import dev.edgeplane.api.v1.ListAppsResponse;
import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.ListNodesResponse;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeServiceGrpc;
import dev.edgeplane.api.v1.NodeSpec;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.UpdateNodeRequest;
import io.grpc.Server;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import java.util.Map;
import javax.net.ssl.KeyManagerFactory;

/**
 * The workload `mvn package` runs edgectl's start-up archives from (bin/edgectl): the commands an
 * operator runs most, over TLS, against stand-in Node and App services in this JVM, so the classes
 * they load (picocli, gRPC, Netty, JDK TLS, protobuf) are archived. Not a command of edgectl.
 * Arguments: a PKCS12 key store (password "training") with a self-signed certificate for 127.0.0.1,
 * and that certificate in PEM; with a third, {@code --serve=PORTFILE}, it only serves (writing its port
 * there) until killed: the stand-in control plane of {@code deploy/bench.sh edgectl} when no quick start runs.
 */
final class StartupTraining {
    private StartupTraining() {}

    public static void main(String[] args) throws Exception {
        java.util.logging.Logger.getLogger("io.grpc").setLevel(java.util.logging.Level.WARNING);
        Path keyStore = Path.of(args[0]);
        Path ca = Path.of(args[1]);
        char[] password = "training".toCharArray();
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(keyStore)) {
            store.load(in, password);
        }
        KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keys.init(store, password);
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .sslContext(GrpcSslContexts.configure(SslContextBuilder.forServer(keys)).build())
                .addService(new Nodes()).addService(new Apps()).build().start();
        if (args.length > 2 && args[2].startsWith("--serve=")) {
            Path portFile = Path.of(args[2].substring("--serve=".length()));
            Path tmp = portFile.resolveSibling(portFile.getFileName() + ".tmp");
            Files.writeString(tmp, Integer.toString(server.getPort()));
            Files.move(tmp, portFile, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            server.awaitTermination();
            return;
        }
        try {
            Map<String, String> env = Map.of("EDGECTL_SERVER", "127.0.0.1:" + server.getPort(), "EDGECTL_CA_FILE", ca.toString(),
                    "EDGECTL_TOKEN", "training", "EDGECTL_CONFIG", keyStore.resolveSibling("absent-config.yaml").toString());
            PrintWriter discard = new PrintWriter(OutputStream.nullOutputStream());
            for (List<String> command : List.of(List.of("get", "nodes"), List.of("get", "nodes", "-o", "wide"), List.of("get", "apps"),
                    List.of("get", "node", "edge-1"), List.of("get", "node", "edge-1", "-o", "yaml"), List.of("label", "edge-1", "tier=edge"),
                    List.of("--help"))) {
                int exit = Edgectl.run(command.toArray(String[]::new), env, discard, discard);
                if (exit != 0) {
                    throw new IllegalStateException("training command " + command + " exited " + exit);
                }
            }
            // a short temporary path: a UNIX socket's path is limited to 107 bytes, a checkout's may be deep
            Path runtimeDir = Files.createTempDirectory("edgectl-training");
            try {
                forwardThroughADaemon(runtimeDir, env);
            } finally {
                try (var files = Files.walk(runtimeDir)) {
                    for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                        Files.deleteIfExists(p);
                    }
                }
            }
            Class.forName(Main.class.getName()); // the launcher's entry point, archived with the rest
        } finally {
            server.shutdownNow();
        }
    }

    /** Both halves of the daemon (bin/edgectl's path for get and describe), on a socket of the training's own. */
    private static void forwardThroughADaemon(Path runtimeDir, Map<String, String> env) throws Exception {
        Map<String, String> clientEnv = new java.util.HashMap<>(env);
        clientEnv.put("XDG_RUNTIME_DIR", runtimeDir.toString());
        String[] args = {"get", "nodes"};
        if (!DaemonClient.forwardable(args, clientEnv)) {
            throw new IllegalStateException("get nodes is not forwarded to the daemon");
        }
        DaemonClient.Location at = DaemonClient.location(clientEnv, DaemonClient.build())
                .orElseThrow(() -> new IllegalStateException("no daemon directory in " + runtimeDir));
        try (CommandDaemon daemon = new CommandDaemon(at, java.time.Duration.ofMinutes(1), new java.io.PrintStream(OutputStream.nullOutputStream()))) {
            if (!daemon.bind()) {
                throw new IllegalStateException("the training daemon could not bind " + at.socket());
            }
            Thread serving = new Thread(() -> {
                try {
                    daemon.serve();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, "training-daemon");
            serving.start();
            for (int i = 0; i < 3; i++) {
                java.util.OptionalInt exit = DaemonClient.run(at, new DaemonWire.Request(runtimeDir.toString(), List.of(args), clientEnv),
                        OutputStream.nullOutputStream(), OutputStream.nullOutputStream());
                if (exit.isEmpty() || exit.getAsInt() != 0) {
                    throw new IllegalStateException("the training daemon answered " + exit);
                }
            }
            daemon.stop();
            serving.join(10_000);
        }
    }

    private static Node node(String name) {
        Timestamp now = Timestamp.newBuilder().setSeconds(System.currentTimeMillis() / 1000).build();
        return Node.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name).setResourceVersion(7).setCreateTime(now).putLabels("site", "north"))
                .setSpec(NodeSpec.newBuilder())
                .setStatus(NodeStatus.newBuilder().setPhase(NodeStatus.Phase.READY).setAgentVersion("training").setOs("linux")
                        .setArch("amd64").setKernelVersion("6.1").setRunningReplicas(1).setDesiredReplicas(1).setLastHeartbeat(now))
                .build();
    }

    private static final class Nodes extends NodeServiceGrpc.NodeServiceImplBase {
        @Override
        public void listNodes(ListNodesRequest request, StreamObserver<ListNodesResponse> observer) {
            observer.onNext(ListNodesResponse.newBuilder().addNodes(node("edge-1")).addNodes(node("edge-2")).build());
            observer.onCompleted();
        }

        @Override
        public void getNode(GetNodeRequest request, StreamObserver<Node> observer) {
            observer.onNext(node(request.getName()));
            observer.onCompleted();
        }

        @Override
        public void updateNode(UpdateNodeRequest request, StreamObserver<Node> observer) {
            observer.onNext(request.getNode());
            observer.onCompleted();
        }
    }

    private static final class Apps extends AppServiceGrpc.AppServiceImplBase {
        @Override
        public void listApps(ListAppsRequest request, StreamObserver<ListAppsResponse> observer) {
            observer.onNext(ListAppsResponse.newBuilder().addApps(App.newBuilder()
                    .setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName("web"))
                    .setSpec(AppSpec.newBuilder().setReplicas(2))).build());
            observer.onCompleted();
        }
    }
}
