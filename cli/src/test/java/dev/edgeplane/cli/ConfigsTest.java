package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.ConfigMap;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Secret;
import java.io.PrintWriter;
import java.io.StringReader;
import java.io.StringWriter;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** ConfigMap and Secret manifests, `edgectl create secret --docker-*`, and what get/describe show. */
class ConfigsTest {
    @Test
    void manifestsReadConfigMapsAndSecretsWithKubernetesStringData() {
        List<Manifests.Manifest> read = Manifests.read(new StringReader("""
                kind: ConfigMap
                metadata: {name: web-config}
                data: {app.conf: "colour=blue"}
                ---
                kind: Secret
                metadata: {name: db}
                type: OPAQUE
                data: {user: YWRtaW4=}
                stringData: {password: s3cret}
                """), "test");
        ConfigMap configMap = assertInstanceOf(Manifests.ConfigMapManifest.class, read.get(0)).configMap();
        assertEquals("colour=blue", configMap.getDataOrThrow("app.conf"));
        Secret secret = assertInstanceOf(Manifests.SecretManifest.class, read.get(1)).secret();
        assertEquals("admin", secret.getDataOrThrow("user").toStringUtf8(), "data is base64, as in Kubernetes");
        assertEquals("s3cret", secret.getDataOrThrow("password").toStringUtf8(), "stringData is plain text");
        assertEquals(ResourceKind.CONFIGMAP, ResourceKind.parse("cm"));
        assertEquals(ResourceKind.SECRET, ResourceKind.parse("secrets"));
    }

    @Test
    void registryCredentialsAreKubernetesDockerConfigJson() throws Exception {
        var json = new ObjectMapper().readTree(CreateCommand.dockerConfigJson("127.0.0.1:5000", "ci", "pa:ss"));
        var entry = json.get("auths").get("127.0.0.1:5000");
        assertEquals("ci", entry.get("username").asText());
        assertEquals("pa:ss", entry.get("password").asText());
        assertEquals("ci:pa:ss", new String(java.util.Base64.getDecoder().decode(entry.get("auth").asText())));
        assertThrows(UsageException.class, () -> CreateCommand.dockerConfigJson("r", "u", null));
        assertEquals(Secret.Type.REGISTRY_CREDENTIALS, CreateCommand.secretType("docker-registry"));
    }

    @Test
    void describeShowsASecretsKeysAndSizesNeverItsValues() {
        Secret secret = Secret.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace("shop").setName("db"))
                .setType(Secret.Type.OPAQUE).putData("password", ByteString.copyFromUtf8("s3cret")).build();
        StringWriter text = new StringWriter();
        Configs.describe(new PrintWriter(text, true), secret, Instant.now());
        assertTrue(text.toString().contains("password: 6 bytes"), text.toString());
        assertFalse(text.toString().contains("s3cret"), text.toString());
        assertEquals(List.of("shop", "db", "OPAQUE", "1"), Configs.row(secret, Instant.now()).subList(0, 4));
    }
}
