package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.NodeServiceGrpc;
import dev.edgeplane.controlplane.EtcdTestResource;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.nio.file.Files;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.Test;

/** The public API with TLS from files: gRPC over TLS works for a client trusting the CA, plaintext and untrusting clients get nothing. */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
@TestProfile(ApiTlsTestProfile.class)
class ApiTlsTest {
    @Test
    void theApiServesTlsOnlyAndAClientTrustingItsCaIsAnswered() throws Exception {
        String token = Files.readString(java.nio.file.Path.of(ConfigProvider.getConfig().getValue("edgeplane.admin-token-file", String.class))).trim();
        // Read from the running app's config: the profile class may be loaded (and its statics made) twice.
        int port = ConfigProvider.getConfig().getValue("quarkus.http.test-ssl-port", Integer.class);
        java.nio.file.Path caFile = java.nio.file.Path.of(ConfigProvider.getConfig()
                .getValue("quarkus.http.ssl.certificate.files", String.class)).resolveSibling("ca.crt");
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);

        ManagedChannel trusting = NettyChannelBuilder.forAddress("127.0.0.1", port)
                .sslContext(GrpcSslContexts.forClient().trustManager(caFile.toFile()).build()).build();
        ManagedChannel untrusting = NettyChannelBuilder.forAddress("127.0.0.1", port)
                .sslContext(GrpcSslContexts.forClient().build()).build();
        ManagedChannel plaintext = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            NodeServiceGrpc.newBlockingStub(trusting).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                    .withDeadlineAfter(20, TimeUnit.SECONDS).listNodes(ListNodesRequest.getDefaultInstance());

            StatusRuntimeException notTrusted = assertThrows(StatusRuntimeException.class, () -> NodeServiceGrpc.newBlockingStub(untrusting)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                    .withDeadlineAfter(10, TimeUnit.SECONDS).listNodes(ListNodesRequest.getDefaultInstance()));
            assertEquals(Status.Code.UNAVAILABLE, notTrusted.getStatus().getCode(), "a client that does not trust the CA does not talk");
            StatusRuntimeException clear = assertThrows(StatusRuntimeException.class, () -> NodeServiceGrpc.newBlockingStub(plaintext)
                    .withDeadlineAfter(10, TimeUnit.SECONDS).listNodes(ListNodesRequest.getDefaultInstance()));
            assertTrue(clear.getStatus().getCode() == Status.Code.UNAVAILABLE || clear.getStatus().getCode() == Status.Code.INTERNAL,
                    "no plaintext gRPC on the TLS port: " + clear.getStatus());
        } finally {
            trusting.shutdownNow();
            untrusting.shutdownNow();
            plaintext.shutdownNow();
        }
    }
}
