package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeServiceGrpc;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.testkit.TestPki;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** edgectl speaks TLS by default: with --ca-file it trusts a private CA; without it, the error says what to do. */
class TlsConnectionTest {
    @TempDir
    Path tmp;

    @Test
    void edgectlTrustsTheCaFileAndExplainsATlsFailure() throws Exception {
        TestPki pki = TestPki.create("edgectl-test-ca");
        Path ca = pki.writeCertificate(tmp.resolve("ca.crt"));
        TestPki.Issued issued = pki.server("127.0.0.1", List.of("127.0.0.1"));
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .useTransportSecurity(issued.writeCertificate(tmp.resolve("server.crt")).toFile(),
                        issued.writeKey(tmp.resolve("server.key"), TestPki.KeyFormat.PKCS8).toFile())
                .addService(new NodeServiceGrpc.NodeServiceImplBase() {
                    @Override
                    public void getNode(GetNodeRequest request, StreamObserver<Node> observer) {
                        observer.onNext(Node.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(request.getName())).build());
                        observer.onCompleted();
                    }
                }).build().start();
        try {
            String address = "127.0.0.1:" + server.getPort();
            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();
            assertEquals(0, Edgectl.run(new String[] {"--server", address, "--ca-file", ca.toString(), "--token", "t",
                    "get", "node", "edge-1", "-o", "json"}, Map.of(), new PrintWriter(out), new PrintWriter(err)), err.toString());
            assertTrue(out.toString().contains("edge-1"), out.toString());

            err.getBuffer().setLength(0);
            assertEquals(Edgectl.EXIT_API_ERROR, Edgectl.run(new String[] {"--server", address, "--token", "t", "get", "node", "edge-1"},
                    Map.of(), new PrintWriter(out), new PrintWriter(err)));
            assertTrue(err.toString().contains("--ca-file"), "a CA the system does not trust: " + err);

            err.getBuffer().setLength(0);
            assertEquals(Edgectl.EXIT_API_ERROR, Edgectl.run(new String[] {"--server", address, "--insecure", "--token", "t",
                    "get", "node", "edge-1"}, Map.of(), new PrintWriter(out), new PrintWriter(err)));
        } finally {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
