package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.AccessServiceGrpc;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.ApiToken;
import dev.edgeplane.api.v1.ClusterCaServiceGrpc;
import dev.edgeplane.api.v1.CreateApiTokenRequest;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.CreateRoleBindingRequest;
import dev.edgeplane.api.v1.GetJoinTokenRequest;
import dev.edgeplane.api.v1.Heartbeat;
import dev.edgeplane.api.v1.HeartbeatAck;
import dev.edgeplane.api.v1.Hello;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.NodeServiceGrpc;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.RenewNodeCertificateRequest;
import dev.edgeplane.api.v1.RenewNodeCertificateResponse;
import dev.edgeplane.api.v1.ResetNodeIdentityRequest;
import dev.edgeplane.api.v1.Role;
import dev.edgeplane.api.v1.RoleBinding;
import dev.edgeplane.api.v1.StartCaRolloverRequest;
import dev.edgeplane.api.v1.SyncRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.store.Keys;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.options.GetOption;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The hostile parties of the trust model, each played for real against the running control plane: a
 * node with a valid certificate acting for another node, a join-token holder taking over an existing
 * node, an operator with a viewer role reaching for the fleet's keys. Each is refused with its code and
 * the objects it aimed at are byte for byte unchanged in etcd. (The man in the middle at join with a
 * stolen node certificate is played against the agent: JoinCommandTest.)
 */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class HostilePartiesTest {
    private TestApi api;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @BeforeEach
    void connect() {
        api = new TestApi();
    }

    @AfterEach
    void disconnect() throws Exception {
        for (AutoCloseable c : closeables) {
            c.close();
        }
        api.close();
    }

    private TestAgent joined(String name, JoinToken token) throws Exception {
        TestAgent agent = new TestAgent(name);
        closeables.add(agent);
        agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
        return agent;
    }

    private JoinToken token(int uses) {
        return api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder()
                .setToken(JoinToken.newBuilder().setSpec(JoinTokenSpec.newBuilder().setMaxUses(uses))).build());
    }

    /** Every key under the prefixes, with its value: what "nothing changed" compares. */
    private Map<String, String> etcd(String... prefixes) throws Exception {
        Map<String, String> all = new TreeMap<>();
        for (String prefix : prefixes) {
            ByteSequence key = ByteSequence.from(prefix, StandardCharsets.UTF_8);
            api.etcd.getKVClient().get(key, GetOption.builder().isPrefix(true).build()).get(10, TimeUnit.SECONDS).getKvs()
                    .forEach(kv -> all.put(kv.getKey().toString(StandardCharsets.UTF_8),
                            java.util.HexFormat.of().formatHex(kv.getValue().getBytes())));
        }
        return all;
    }

    private static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 6);
    }

    @Test
    void aNodeWithAValidCertificateCannotRenewOrActAsAnotherNode() throws Exception {
        JoinToken token = token(2);
        String victimName = unique("victim");
        TestAgent victim = joined(victimName, token);
        TestAgent mallory = joined(unique("mallory"), token);
        Map<String, String> before = etcd(Keys.node(victimName));

        // Over its own mutual TLS, with the victim's (public) certificate in the request and a CSR naming the victim:
        // the control plane goes by the connection's certificate, so Mallory only renews itself.
        RenewNodeCertificateResponse renewed = AgentServiceGrpc.newBlockingStub(mallory.syncChannel(TestApi.agentPort(), true))
                .withDeadlineAfter(20, TimeUnit.SECONDS)
                .renewNodeCertificate(RenewNodeCertificateRequest.newBuilder()
                        .setCsrPem(new TestAgent(victimName).csrPem())
                        .setCertificatePem(victim.joined.getCertificatePem())
                        .setProof(ByteString.copyFromUtf8("not a signature"))
                        .setProofTime(Timestamp.newBuilder().setSeconds(java.time.Instant.now().getEpochSecond()))
                        .build());
        assertTrue(TestAgent.parse(renewed.getCertificatePem()).getSubjectX500Principal().getName().contains("CN=" + mallory.name),
                "the certificate is Mallory's own");

        // Without its certificate, claiming the victim's with a proof made by another key: refused.
        StatusRuntimeException claimed = assertThrows(StatusRuntimeException.class, () -> AgentServiceGrpc
                .newBlockingStub(mallory.syncChannel(TestApi.agentPort(), false)).withDeadlineAfter(20, TimeUnit.SECONDS)
                .renewNodeCertificate(RenewNodeCertificateRequest.newBuilder()
                        .setCsrPem(new TestAgent(victimName).csrPem())
                        .setCertificatePem(victim.joined.getCertificatePem())
                        .setProof(ByteString.copyFrom(signed(mallory, victimName)))
                        .setProofTime(Timestamp.newBuilder().setSeconds(java.time.Instant.now().getEpochSecond()))
                        .build()));
        assertEquals(Status.Code.UNAUTHENTICATED, claimed.getStatus().getCode());
        assertEquals(before, etcd(Keys.node(victimName)), "the victim's Node is untouched");
    }

    /**
     * Heartbeat.installed_certificate speaks for the caller's own node only: naming another node's
     * certificate confirms nothing anywhere, and a malformed value is refused unchanged.
     */
    @Test
    void aNodeCannotConfirmAnotherNodesCertificateAsInstalled() throws Exception {
        JoinToken token = token(2);
        String victimName = unique("victim");
        TestAgent victim = joined(victimName, token);
        TestAgent mallory = joined(unique("mallory"), token);
        String victimCertificate = dev.edgeplane.api.CertificateHashes.sha256(TestAgent.parse(victim.joined.getCertificatePem()));
        String malloryCertificate = dev.edgeplane.api.CertificateHashes.sha256(TestAgent.parse(mallory.joined.getCertificatePem()));
        ManagedChannel channel = mallory.syncChannel(TestApi.agentPort());
        try (TestAgent.Stream stream = new TestAgent.Stream(channel)) {
            stream.send(SyncRequest.newBuilder().setHello(Hello.newBuilder().setLastAppliedRevision(0)).build());
            assertTrue(stream.next(Duration.ofSeconds(20)).hasSnapshot());
            Map<String, String> before = etcd(Keys.node(victimName));
            var heartbeats = AgentServiceGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS);

            HeartbeatAck ack = heartbeats.heartbeat(Heartbeat.newBuilder().setInstalledCertificate(victimCertificate).build());
            assertFalse(ack.getRenewCertificate(), "a certificate Mallory never had is no lost renewal of hers");
            StatusRuntimeException malformed = assertThrows(StatusRuntimeException.class, () -> heartbeats
                    .heartbeat(Heartbeat.newBuilder().setInstalledCertificate("sha256:<script>").build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, malformed.getStatus().getCode());
            assertTrue(malformed.getStatus().getDescription().contains("installed_certificate"), malformed.getStatus().getDescription());
            assertEquals(before, etcd(Keys.node(victimName)), "the victim's Node is untouched");
            assertEquals("", api.nodes().getNode(dev.edgeplane.api.v1.GetNodeRequest.newBuilder().setName(mallory.name).build())
                    .getMetadata().getAnnotationsOrDefault(dev.edgeplane.controlplane.join.Joiner.INSTALLED_CERT_ANNOTATION, ""),
                    "nor is anything recorded for Mallory");

            heartbeats.heartbeat(Heartbeat.newBuilder().setInstalledCertificate(malloryCertificate).build());
            TestApi.await("Mallory's own certificate recorded as installed", Duration.ofSeconds(10), () -> api.nodes()
                    .getNode(dev.edgeplane.api.v1.GetNodeRequest.newBuilder().setName(mallory.name).build()).getMetadata()
                    .getAnnotationsOrDefault(dev.edgeplane.controlplane.join.Joiner.INSTALLED_CERT_ANNOTATION, "").equals(malloryCertificate));
            assertEquals(before, etcd(Keys.node(victimName)), "the victim's Node is still untouched");
        }
    }

    @Test
    void aTokenHolderCannotTakeOverAnExistingNode() throws Exception {
        JoinToken token = token(5);
        String victimName = unique("owned");
        joined(victimName, token);
        Map<String, String> before = etcd(Keys.node(victimName));
        int usesBefore = uses(token);

        StatusRuntimeException taken = assertThrows(StatusRuntimeException.class, () -> joined(victimName, token));
        assertEquals(Status.Code.ALREADY_EXISTS, taken.getStatus().getCode());
        assertTrue(taken.getStatus().getDescription().contains("reset-identity"), taken.getStatus().getDescription());
        assertEquals(before, etcd(Keys.node(victimName)), "the real node keeps its certificate");
        assertEquals(usesBefore, uses(token), "a refused join uses nothing");
    }

    /** A well-formed proof for the victim's name and a fresh CSR, but made with Mallory's key. */
    private static byte[] signed(TestAgent signer, String node) throws Exception {
        java.security.Signature signature = java.security.Signature.getInstance(dev.edgeplane.api.RenewalProof.ALGORITHM);
        signature.initSign(signer.key.getPrivate());
        signature.update(dev.edgeplane.api.RenewalProof.payload(node, new TestAgent(node).csrPem(), java.time.Instant.now().getEpochSecond()));
        return signature.sign();
    }

    private int uses(JoinToken token) {
        return api.tokens().getJoinToken(GetJoinTokenRequest.newBuilder().setName(token.getMetadata().getName()).build())
                .getStatus().getUses();
    }

    @Test
    void aViewerCannotTouchIdentitiesTokensOrTheCa() throws Exception {
        JoinToken token = token(1);
        String nodeName = unique("watched");
        joined(nodeName, token);
        String viewer = viewerToken();
        // The node it targets, not every node: other tests' nodes change on their own (an agent of theirs
        // disconnecting is a phase transition written).
        Map<String, String> before = etcd(Keys.node(nodeName), Keys.CA, Keys.JOIN_TOKENS, Keys.API_TOKENS, Keys.ROLE_BINDINGS);

        Map<String, Supplier<Object>> attempts = new TreeMap<>();
        attempts.put("ResetNodeIdentity", () -> api.withToken(NodeServiceGrpc.newBlockingStub(api.channel), viewer)
                .resetNodeIdentity(ResetNodeIdentityRequest.newBuilder().setName(nodeName).build()));
        attempts.put("CreateJoinToken", () -> api.withToken(dev.edgeplane.api.v1.JoinTokenServiceGrpc.newBlockingStub(api.channel), viewer)
                .createJoinToken(CreateJoinTokenRequest.newBuilder().setToken(JoinToken.newBuilder().setSpec(JoinTokenSpec.newBuilder())).build()));
        attempts.put("StartCaRollover", () -> api.withToken(ClusterCaServiceGrpc.newBlockingStub(api.channel), viewer)
                .startCaRollover(StartCaRolloverRequest.getDefaultInstance()));
        attempts.put("CreateApiToken", () -> api.withToken(AccessServiceGrpc.newBlockingStub(api.channel), viewer)
                .createApiToken(CreateApiTokenRequest.newBuilder().setApiToken(ApiToken.newBuilder()
                        .setMetadata(ObjectMeta.newBuilder().setName(unique("escalate")))).build()));
        attempts.put("CreateRoleBinding", () -> api.withToken(AccessServiceGrpc.newBlockingStub(api.channel), viewer)
                .createRoleBinding(CreateRoleBindingRequest.newBuilder().setRoleBinding(RoleBinding.newBuilder()
                        .setMetadata(ObjectMeta.newBuilder().setName(unique("escalate"))).setRole(Role.ADMIN)
                        .setSubject("token:viewer")).build()));
        for (Map.Entry<String, Supplier<Object>> attempt : attempts.entrySet()) {
            StatusRuntimeException denied = assertThrows(StatusRuntimeException.class, attempt.getValue()::get, attempt.getKey());
            assertEquals(Status.Code.PERMISSION_DENIED, denied.getStatus().getCode(), attempt.getKey() + ": " + denied.getStatus());
        }
        assertEquals(before, etcd(Keys.node(nodeName), Keys.CA, Keys.JOIN_TOKENS, Keys.API_TOKENS, Keys.ROLE_BINDINGS),
                "nothing changed");
    }

    /** A cluster-wide viewer's token, once its binding is in effect. */
    private String viewerToken() {
        var access = api.withToken(AccessServiceGrpc.newBlockingStub(api.channel), api.adminToken);
        String name = unique("viewer");
        String secret = access.createApiToken(CreateApiTokenRequest.newBuilder().setApiToken(ApiToken.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name))).build()).getSecret();
        access.createRoleBinding(CreateRoleBindingRequest.newBuilder().setRoleBinding(RoleBinding.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name)).setRole(Role.VIEWER).setSubject("token:" + name)).build());
        TestApi.await("viewer binding in effect", Duration.ofSeconds(10), () -> {
            try {
                api.withToken(NodeServiceGrpc.newBlockingStub(api.channel), secret).listNodes(ListNodesRequest.getDefaultInstance());
                return true;
            } catch (StatusRuntimeException e) {
                return false;
            }
        });
        return secret;
    }
}
