package dev.edgeplane.controlplane.api;

import static dev.edgeplane.controlplane.api.ConfigMapApiTest.appUsing;
import static dev.edgeplane.controlplane.api.ConfigMapApiTest.fails;
import static dev.edgeplane.controlplane.api.ConfigMapApiTest.invalid;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateSecretRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.DeleteSecretRequest;
import dev.edgeplane.api.v1.EnvFromSource;
import dev.edgeplane.api.v1.GetSecretRequest;
import dev.edgeplane.api.v1.ListSecretsRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.api.v1.SecretEnvSource;
import dev.edgeplane.api.v1.UpdateSecretRequest;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.secrets.KeyRing;
import dev.edgeplane.controlplane.secrets.SecretSealer;
import dev.edgeplane.controlplane.store.TestStores;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.options.GetOption;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** SecretService against a real etcd: sealed at rest, values only from Get, type rules, delete refused while used. */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class SecretApiTest {
    private TestApi api;

    @BeforeEach
    void connect() {
        api = new TestApi();
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    private static Secret secret(String ns, String name, Secret.Type type, Map<String, String> data) {
        Secret.Builder b = Secret.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName(name).putLabels("tier", "db"))
                .setType(type);
        data.forEach((k, v) -> b.putData(k, ByteString.copyFromUtf8(v)));
        return b.build();
    }

    private Secret create(Secret secret) {
        return api.secrets().createSecret(CreateSecretRequest.newBuilder().setSecret(secret).build());
    }

    private Secret get(String ns, String name) {
        return api.secrets().getSecret(GetSecretRequest.newBuilder().setNamespace(ns).setName(name).build());
    }

    @Test
    void createGetUpdateDeleteWithResourceVersionsAndListShowsKeysOnly() {
        Secret created = create(secret("", "db", Secret.Type.TYPE_UNSPECIFIED, Map.of("username", "admin", "password", "pw-1")));
        assertEquals("default", created.getMetadata().getNamespace());
        assertEquals(Secret.Type.OPAQUE, created.getType(), "unspecified is OPAQUE");
        fails(Status.Code.ABORTED, () -> create(secret("default", "db", Secret.Type.OPAQUE, Map.of())));

        Secret read = get("", "db");
        assertEquals(created, read);
        assertEquals("pw-1", read.getDataOrThrow("password").toStringUtf8());

        List<Secret> listed = api.secrets().listSecrets(ListSecretsRequest.newBuilder().setNamespace("default").setLabelSelector("tier=db").build())
                .getSecretsList();
        Secret db = listed.stream().filter(s -> s.getMetadata().getName().equals("db")).findFirst().orElseThrow();
        assertEquals(Map.of("username", ByteString.EMPTY, "password", ByteString.EMPTY), db.getDataMap(), "keys, never values");
        assertEquals(read.getMetadata(), db.getMetadata());

        Secret updated = api.secrets().updateSecret(UpdateSecretRequest.newBuilder().setSecret(read.toBuilder()
                .putData("password", ByteString.copyFromUtf8("pw-2"))).build());
        assertEquals("pw-2", get("default", "db").getDataOrThrow("password").toStringUtf8());
        assertEquals(2, updated.getMetadata().getGeneration());
        assertEquals(read.getMetadata().getUid(), updated.getMetadata().getUid());
        fails(Status.Code.ABORTED, () -> api.secrets().updateSecret(UpdateSecretRequest.newBuilder().setSecret(read).build()));
        fails(Status.Code.ABORTED, () -> api.secrets().deleteSecret(DeleteSecretRequest.newBuilder().setName("db")
                .setResourceVersion(read.getMetadata().getResourceVersion()).build()));

        api.secrets().deleteSecret(DeleteSecretRequest.newBuilder().setName("db").setResourceVersion(updated.getMetadata().getResourceVersion()).build());
        fails(Status.Code.NOT_FOUND, () -> get("default", "db"));
    }

    @Test
    void aSecretsValueNeverAppearsInEtcdsRawContents() throws Exception {
        String value = "sup3r-s3cret-" + UUID.randomUUID();
        create(secret("raw", "api-key", Secret.Type.OPAQUE, Map.of("key", value)));
        byte[] stored = api.etcdGet("/edgeplane/secrets/raw/api-key");
        SealedSecret sealed = SealedSecret.parseFrom(stored);
        assertEquals(EtcdTestResource.TEST_KEY_ID, sealed.getKeyId());
        assertEquals("api-key", sealed.getMetadata().getName(), "metadata stays in the clear");

        ByteSequence from = ByteSequence.from(new byte[] {0});
        List<KeyValue> everything = api.etcd.getKVClient().get(from, GetOption.builder().withRange(from).build())
                .get(10, TimeUnit.SECONDS).getKvs();
        assertTrue(everything.size() > 1);
        List<String> forms = List.of(value, Base64.getEncoder().encodeToString(value.getBytes(StandardCharsets.UTF_8)),
                Base64.getUrlEncoder().encodeToString(value.getBytes(StandardCharsets.UTF_8)));
        for (KeyValue kv : everything) {
            String text = kv.getKey().toString(StandardCharsets.ISO_8859_1) + kv.getValue().toString(StandardCharsets.ISO_8859_1);
            for (String form : forms) {
                assertFalse(text.contains(form), "found at " + kv.getKey().toString(StandardCharsets.UTF_8));
            }
        }
        assertEquals(value, get("raw", "api-key").getDataOrThrow("key").toStringUtf8());
    }

    @Test
    void registryCredentialsMustBeADockerConfigJsonWithAuths() {
        String ns = "sec-registry";
        invalid("secret.data[\".dockerconfigjson\"]", "is required", () -> create(secret(ns, "a", Secret.Type.REGISTRY_CREDENTIALS, Map.of())));
        StatusRuntimeException notJson = assertThrowsInvalid(() -> create(secret(ns, "a", Secret.Type.REGISTRY_CREDENTIALS,
                Map.of(".dockerconfigjson", "{\"auths\": hunter2"))));
        assertFalse(notJson.getStatus().getDescription().contains("hunter2"), "the error never quotes the value");
        invalid("secret.data[\".dockerconfigjson\"]", "is not a JSON object", () -> create(secret(ns, "a", Secret.Type.REGISTRY_CREDENTIALS,
                Map.of(".dockerconfigjson", "[1]"))));
        invalid("secret.data[\".dockerconfigjson\"]", "object \"auths\"", () -> create(secret(ns, "a", Secret.Type.REGISTRY_CREDENTIALS,
                Map.of(".dockerconfigjson", "{\"auths\": []}"))));
        Secret ok = create(secret(ns, "pull", Secret.Type.REGISTRY_CREDENTIALS,
                Map.of(".dockerconfigjson", "{\"auths\": {\"registry.example.com\": {\"auth\": \"dXNlcjpwdw==\"}}}")));
        assertEquals(Secret.Type.REGISTRY_CREDENTIALS, ok.getType());
    }

    private static StatusRuntimeException assertThrowsInvalid(org.junit.jupiter.api.function.Executable call) {
        return fails(Status.Code.INVALID_ARGUMENT, call);
    }

    @Test
    void tlsNeedsCertificateAndKeyAndTheTypeNeverChanges() {
        String ns = "sec-tls";
        invalid("secret.data[\"tls.key\"]", "is required for type TLS", () -> create(secret(ns, "a", Secret.Type.TLS, Map.of("tls.crt", "x"))));
        Secret tls = create(secret(ns, "cert", Secret.Type.TLS, Map.of("tls.crt", "CERT", "tls.key", "KEY")));
        StatusRuntimeException e = fails(Status.Code.INVALID_ARGUMENT, () -> api.secrets().updateSecret(UpdateSecretRequest.newBuilder()
                .setSecret(tls.toBuilder().setType(Secret.Type.OPAQUE)).build()));
        assertEquals("secret.type: is immutable (it is TLS)", e.getStatus().getDescription());
        assertEquals(Secret.Type.TLS, get(ns, "cert").getType());
    }

    @Test
    void keysAndSizeFollowTheConfigMapRules() {
        String ns = "sec-size";
        invalid("secret.data[\"bad/key\"]", "key must be", () -> create(secret(ns, "a", Secret.Type.OPAQUE, Map.of("bad/key", "v"))));
        invalid("secret.metadata.namespace", "DNS-1123", () -> create(secret("Bad", "a", Secret.Type.OPAQUE, Map.of())));
        Map<String, String> big = new HashMap<>();
        big.put("a", "x".repeat(600 * 1024));
        big.put("b", "x".repeat(600 * 1024));
        invalid("secret.data", "over the limit of 1048576 bytes (1 MiB)", () -> create(secret(ns, "big", Secret.Type.OPAQUE, big)));
        assertEquals(0, api.etcdCount("/edgeplane/secrets/" + ns + "/"));
    }

    @Test
    void deleteIsRefusedWhileAnAppUsesTheSecret() {
        String ns = "sec-used";
        create(secret(ns, "db", Secret.Type.OPAQUE, Map.of("password", "pw")));
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(appUsing(ns, "web",
                EnvFromSource.newBuilder().setSecretRef(SecretEnvSource.newBuilder().setName("db")).build())).build());
        DeleteSecretRequest delete = DeleteSecretRequest.newBuilder().setNamespace(ns).setName("db").build();
        AtomicReference<String> refusal = new AtomicReference<>();
        TestApi.await("the delete to be refused", Duration.ofSeconds(10), () -> {
            try {
                api.secrets().deleteSecret(delete);
                throw new AssertionError("deleted while used");
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() != Status.Code.FAILED_PRECONDITION) {
                    throw e;
                }
                refusal.set(e.getStatus().getDescription());
                return true;
            }
        });
        assertTrue(refusal.get().startsWith("secret \"db\" is used by app \"sec-used/web\":"), refusal.get());
        api.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace(ns).setName("web").build());
        TestApi.await("the delete to pass", Duration.ofSeconds(10), () -> {
            try {
                api.secrets().deleteSecret(delete);
                return true;
            } catch (StatusRuntimeException e) {
                return false;
            }
        });
        fails(Status.Code.NOT_FOUND, () -> get(ns, "db"));
    }

    @Test
    void aSecretUnderAKeyThatIsNotConfiguredIsAFailedPrecondition() {
        String elsewhereKey = Base64.getEncoder().encodeToString(new byte[32]);
        SecretSealer elsewhere = new SecretSealer(KeyRing.parse("gone:" + elsewhereKey, "test"));
        Secret secret = secret("sec-gone", "old", Secret.Type.OPAQUE, Map.of("k", "v"));
        try {
            api.etcd.getKVClient().put(ByteSequence.from("/edgeplane/secrets/sec-gone/old", StandardCharsets.UTF_8),
                    ByteSequence.from(elsewhere.seal(secret).toByteArray())).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
        StatusRuntimeException e = fails(Status.Code.FAILED_PRECONDITION, () -> get("sec-gone", "old"));
        assertEquals("secret sec-gone/old is sealed under key 'gone', which is not configured", e.getStatus().getDescription());
        // Listing still works: that secret is shown without its keys.
        Secret listed = api.secrets().listSecrets(ListSecretsRequest.newBuilder().setNamespace("sec-gone").build()).getSecrets(0);
        assertEquals("old", listed.getMetadata().getName());
        assertEquals(0, listed.getDataCount());
    }

    @Test
    void withoutAKeyEverySecretCallIsAFailedPrecondition() {
        ControlPlaneConfig.Limits limits = TestStores.config(ControlPlaneConfig.Limits.class, Map.of("maxReplicas", 1, "maxTemplateBytes", 1,
                "maxContainers", 1, "maxListItems", 1, "maxStringBytes", 1, "maxLabels", 1, "maxAnnotationsBytes", 1,
                "defaultPageSize", 1, "maxPageSize", 1, "maxLabelSelectorBytes", 1));
        SecretApi unconfigured = new SecretApi(null, null, new SecretSealer(KeyRing.empty()),
                TestStores.config(ControlPlaneConfig.class, Map.of("limits", limits)));
        AtomicReference<Throwable> error = new AtomicReference<>();
        unconfigured.getSecret(GetSecretRequest.newBuilder().setName("db").build(), new StreamObserver<>() {
            @Override
            public void onNext(Secret value) {
                throw new AssertionError("answered without a key");
            }

            @Override
            public void onError(Throwable t) {
                error.set(t);
            }

            @Override
            public void onCompleted() {}
        });
        assertNotNull(error.get());
        Status status = Status.fromThrowable(error.get());
        assertEquals(Status.Code.FAILED_PRECONDITION, status.getCode());
        assertEquals("secrets need a key-encryption key: set edgeplane.secrets.key-file", status.getDescription());
    }
}
