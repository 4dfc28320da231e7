package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.AccessServiceGrpc;
import dev.edgeplane.api.v1.ApiToken;
import dev.edgeplane.api.v1.CreateApiTokenRequest;
import dev.edgeplane.api.v1.CreateApiTokenResponse;
import dev.edgeplane.api.v1.CreateRoleBindingRequest;
import dev.edgeplane.api.v1.ListApiTokensRequest;
import dev.edgeplane.api.v1.ListApiTokensResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Role;
import dev.edgeplane.api.v1.RoleBinding;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** edgectl apitoken and rolebinding: what they send and print, against a stand-in AccessService. */
class AccessCommandsTest {

    private static Timestamp at(Instant i) {
        return Timestamp.newBuilder().setSeconds(i.getEpochSecond()).build();
    }

    @Test
    void aTokenRowShowsItsStatusFromRevocationAndExpiry() {
        Instant now = Instant.parse("2026-12-05T00:00:00Z");
        ApiToken active = ApiToken.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("ci").setCreateTime(at(now.minusSeconds(7200))))
                .setExpireTime(at(now.plusSeconds(3600))).setDescription("the\npipeline").build();
        assertEquals(List.of("ci", "Active", "2026-12-05T01:00:00Z", "2h", "the pipeline"), ApiTokenCommand.row(active, now));
        assertEquals("Expired", ApiTokenCommand.row(active.toBuilder().setExpireTime(at(now.minusSeconds(1))).build(), now).get(1));
        assertEquals("Revoked", ApiTokenCommand.row(active.toBuilder().setRevokeTime(at(now)).build(), now).get(1));
    }

    @Test
    void rolesAreTheFourDocumentedOnesAndAClusterWideBindingShowsAStar() {
        assertEquals(Role.DEPLOYER, RoleBindingCommand.role("Deployer"));
        assertThrows(UsageException.class, () -> RoleBindingCommand.role("root"));
        assertEquals(List.of("ci", "viewer", "token:ci", "*", "-"), RoleBindingCommand.row(RoleBinding.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("ci")).setRole(Role.VIEWER).setSubject("token:ci").build(), Instant.now()));
    }

    @Test
    void createPrintsTheSecretOnceAndSendsTheExpiryAndBindingAsGiven() throws Exception {
        AtomicReference<CreateApiTokenRequest> tokenRequest = new AtomicReference<>();
        AtomicReference<CreateRoleBindingRequest> bindingRequest = new AtomicReference<>();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(new AccessServiceGrpc.AccessServiceImplBase() {
            @Override
            public void createApiToken(CreateApiTokenRequest request, StreamObserver<CreateApiTokenResponse> observer) {
                tokenRequest.set(request);
                observer.onNext(CreateApiTokenResponse.newBuilder().setApiToken(request.getApiToken()).setSecret("ept_s3cret").build());
                observer.onCompleted();
            }

            @Override
            public void createRoleBinding(CreateRoleBindingRequest request, StreamObserver<RoleBinding> observer) {
                bindingRequest.set(request);
                observer.onNext(request.getRoleBinding());
                observer.onCompleted();
            }

            @Override
            public void listApiTokens(ListApiTokensRequest request, StreamObserver<ListApiTokensResponse> observer) {
                observer.onNext(ListApiTokensResponse.newBuilder().addApiTokens(ApiToken.newBuilder()
                        .setMetadata(ObjectMeta.newBuilder().setName("ci")).setExpireTime(at(Instant.now().plusSeconds(60)))).build());
                observer.onCompleted();
            }
        }).build().start();
        try {
            String address = "127.0.0.1:" + server.getPort();
            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();
            Instant before = Instant.now();
            assertEquals(0, Edgectl.run(new String[] {"--server", address, "--insecure", "--token", "t", "apitoken", "create", "ci",
                    "--expires-in", "720h", "--description", "CI"}, Map.of(), new PrintWriter(out), new PrintWriter(err)), err.toString());
            assertEquals("ept_s3cret\n", out.toString(), "the secret alone on stdout, for $(edgectl apitoken create ...)");
            assertTrue(err.toString().contains("shown only now"), err.toString());
            Instant expires = Instant.ofEpochSecond(tokenRequest.get().getApiToken().getExpireTime().getSeconds());
            assertTrue(Math.abs(Duration.between(before.plus(Duration.ofHours(720)), expires).toSeconds()) < 60, expires.toString());
            assertEquals("CI", tokenRequest.get().getApiToken().getDescription());

            out.getBuffer().setLength(0);
            assertEquals(0, Edgectl.run(new String[] {"--server", address, "--insecure", "--token", "t", "rolebinding", "create", "ci-deploy",
                    "--role", "deployer", "--subject", "token:ci", "--namespace", "shop"}, Map.of(), new PrintWriter(out), new PrintWriter(err)));
            RoleBinding sent = bindingRequest.get().getRoleBinding();
            assertEquals(List.of("ci-deploy", "DEPLOYER", "token:ci", "shop"),
                    List.of(sent.getMetadata().getName(), sent.getRole().name(), sent.getSubject(), sent.getNamespace()));
            assertEquals("rolebinding/ci-deploy created: token:ci is deployer in namespace shop\n", out.toString());

            out.getBuffer().setLength(0);
            assertEquals(0, Edgectl.run(new String[] {"--server", address, "--insecure", "--token", "t", "apitoken", "list"}, Map.of(),
                    new PrintWriter(out), new PrintWriter(err)));
            assertTrue(out.toString().startsWith("NAME"), out.toString());
            assertTrue(out.toString().contains("Active"), out.toString());
            assertFalse(out.toString().contains("ept_"), "list never shows a secret");
        } finally {
            server.shutdownNow();
        }
    }
}
