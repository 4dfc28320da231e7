package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Duration;
import dev.edgeplane.api.v1.AppServiceGrpc;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.DeleteJoinTokenRequest;
import dev.edgeplane.api.v1.GetJoinTokenRequest;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenServiceGrpc;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.ListAppsRequest;
import dev.edgeplane.api.v1.ListJoinTokensRequest;
import dev.edgeplane.api.v1.ListJoinTokensResponse;
import dev.edgeplane.api.v1.NodeServiceGrpc;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Auth, reflection, join tokens, nodes: the public API apart from Apps. */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class PublicApiTest {
    private TestApi api;

    @BeforeEach
    void connect() {
        api = new TestApi();
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    @Test
    void callsWithoutOrWithAWrongTokenAreUnauthenticated() {
        var bare = AppServiceGrpc.newBlockingStub(api.channel).withDeadlineAfter(10, TimeUnit.SECONDS);
        StatusRuntimeException none = assertThrows(StatusRuntimeException.class, () -> bare.listApps(ListAppsRequest.getDefaultInstance()));
        assertEquals(Status.Code.UNAUTHENTICATED, none.getStatus().getCode());

        var wrong = api.withToken(AppServiceGrpc.newBlockingStub(api.channel), "not-the-token");
        assertEquals(Status.Code.UNAUTHENTICATED, assertThrows(StatusRuntimeException.class,
                () -> wrong.listApps(ListAppsRequest.getDefaultInstance())).getStatus().getCode());
        var wrongNodes = api.withToken(NodeServiceGrpc.newBlockingStub(api.channel), api.adminToken + "x");
        assertEquals(Status.Code.UNAUTHENTICATED, assertThrows(StatusRuntimeException.class,
                () -> wrongNodes.getNode(GetNodeRequest.newBuilder().setName("n").build())).getStatus().getCode());
        var wrongTokens = api.withToken(JoinTokenServiceGrpc.newBlockingStub(api.channel), "");
        assertEquals(Status.Code.UNAUTHENTICATED, assertThrows(StatusRuntimeException.class,
                () -> wrongTokens.createJoinToken(CreateJoinTokenRequest.getDefaultInstance())).getStatus().getCode());

        api.apps().listApps(ListAppsRequest.getDefaultInstance()); // the admin token works
    }

    @Test
    void adminTokenIsStoredOnlyAsASealedHash() throws Exception {
        byte[] stored = api.etcdGet("/edgeplane/auth/admin-token-sha256");
        assertTrue(stored != null && stored.length > 0);
        // The tests run with a key-encryption key: the hash is sealed, neither the token nor its hex hash is there.
        String hexHash = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                .digest(api.adminToken.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        String raw = new String(stored, java.nio.charset.StandardCharsets.ISO_8859_1);
        assertFalse(raw.contains(api.adminToken));
        assertFalse(raw.contains(hexHash), "sealed, not the hex hash");
        assertFalse(dev.edgeplane.api.v1.SealedSecret.parseFrom(stored).getKeyId().isEmpty(), "a SealedSecret under a key id");
        var perms = java.nio.file.Files.getPosixFilePermissions(java.nio.file.Path.of(
                org.eclipse.microprofile.config.ConfigProvider.getConfig().getValue("edgeplane.admin-token-file", String.class)));
        assertEquals(java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"), perms);
    }

    @Test
    void reflectionListsEveryPublicServiceWithoutAToken() throws Exception {
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
        assertTrue(services.containsAll(Set.of("edgeplane.v1.NodeService", "edgeplane.v1.JoinTokenService", "edgeplane.v1.AppService",
                "edgeplane.v1.QuotaService", "edgeplane.v1.ConfigMapService", "edgeplane.v1.SecretService", "edgeplane.v1.AuditService")),
                "reflection lists " + services);
        assertFalse(services.contains("edgeplane.v1.AgentService"), "AgentService is served on the agent endpoint only");
    }

    @Test
    void joinTokensCrud() {
        JoinToken created = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder().setToken(JoinToken.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().putLabels("purpose", "crud"))
                .setSpec(JoinTokenSpec.newBuilder().putNodeLabels("site", "shop-1").setDescription("test"))).build());
        String id = created.getMetadata().getName();
        assertTrue(Pattern.matches("[a-z0-9]{6}", id), id);
        assertTrue(Pattern.matches(id + "\\.[a-z0-9]{16}", created.getStatus().getToken()), created.getStatus().getToken());
        assertTrue(Pattern.matches("sha256:[0-9a-f]{64}", created.getStatus().getCaHash()));
        assertEquals("edge-agent join --server 127.0.0.1:" + TestApi.agentPort() + " --token " + created.getStatus().getToken()
                + " --ca-hash " + created.getStatus().getCaHash(), created.getStatus().getJoinCommand());
        assertEquals(1, created.getSpec().getMaxUses(), "max_uses defaults to 1");
        assertEquals(Duration.newBuilder().setSeconds(86400).build(), created.getSpec().getTtl(), "ttl defaults to 24h");
        assertTrue(created.getStatus().getExpireTime().getSeconds() > System.currentTimeMillis() / 1000 + 86000);
        assertTrue(created.getMetadata().getAnnotationsMap().isEmpty(), "the secret's hash is never shown");

        JoinToken got = api.tokens().getJoinToken(GetJoinTokenRequest.newBuilder().setName(id).build());
        assertEquals("", got.getStatus().getToken(), "the secret is shown only once");
        assertEquals("shop-1", got.getSpec().getNodeLabelsOrThrow("site"));
        assertTrue(got.getMetadata().getAnnotationsMap().isEmpty());
        byte[] stored = api.etcdGet("/edgeplane/jointokens/" + id);
        assertFalse(new String(stored, java.nio.charset.StandardCharsets.ISO_8859_1).contains(created.getStatus().getToken().substring(7)),
                "only a hash of the secret is stored");

        ListJoinTokensResponse listed = api.tokens().listJoinTokens(ListJoinTokensRequest.newBuilder().setLabelSelector("purpose=crud").build());
        assertEquals(1, listed.getTokensCount());
        assertEquals(id, listed.getTokens(0).getMetadata().getName());

        api.tokens().deleteJoinToken(DeleteJoinTokenRequest.newBuilder().setName(id).build());
        StatusRuntimeException gone = assertThrows(StatusRuntimeException.class,
                () -> api.tokens().getJoinToken(GetJoinTokenRequest.newBuilder().setName(id).build()));
        assertEquals(Status.Code.NOT_FOUND, gone.getStatus().getCode());
        assertTrue(gone.getStatus().getDescription().contains(id));
        assertNull(api.etcdGet("/edgeplane/jointokens/" + id));

        StatusRuntimeException invalid = assertThrows(StatusRuntimeException.class, () -> api.tokens().createJoinToken(
                CreateJoinTokenRequest.newBuilder().setToken(JoinToken.newBuilder().setSpec(JoinTokenSpec.newBuilder().setMaxUses(-1))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, invalid.getStatus().getCode());
    }

    @Test
    void unknownNodeIsNotFound() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> api.nodes().getNode(GetNodeRequest.newBuilder().setName("no-such-node").build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("no-such-node"));
    }
}
