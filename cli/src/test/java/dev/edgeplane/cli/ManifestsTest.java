package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.PodTemplate;
import java.io.StringReader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ManifestsTest {

    @Test
    void theQuickStartExampleReadsWithItsProbesConfigAndSecret() throws Exception {
        Path example = Path.of("").toAbsolutePath().getParent().resolve("deploy/examples/hello-web.yaml");
        List<Manifests.Manifest> docs;
        try (var reader = java.nio.file.Files.newBufferedReader(example)) {
            docs = Manifests.read(reader, example.toString());
        }
        assertEquals("hello from edgeplane\n", assertInstanceOf(Manifests.ConfigMapManifest.class, docs.get(0)).configMap()
                .getDataOrThrow("index.html"));
        assertEquals("change-me", assertInstanceOf(Manifests.SecretManifest.class, docs.get(1)).secret()
                .getDataOrThrow("token").toStringUtf8());
        var template = assertInstanceOf(Manifests.AppManifest.class, docs.get(2)).app().getSpec().getTemplate();
        assertEquals("hello-web-content", template.getVolumes(0).getConfigMap().getName());
        Container web = template.getContainers(0);
        assertEquals("hello-web-token", web.getEnv(0).getValueFrom().getSecretKeyRef().getName());
        assertEquals(8088, web.getReadinessProbe().getHttpGet().getPort());
        assertEquals("/", web.getReadinessProbe().getHttpGet().getPath());
        assertEquals(8088, web.getLivenessProbe().getTcpSocket().getPort());
        assertEquals(3, web.getLivenessProbe().getFailureThreshold());
    }

    @Test
    void theBatchedReleaseExampleReadsWithItsStrategy() throws Exception {
        Path example = Path.of("").toAbsolutePath().getParent().resolve("deploy/examples/batched-release.yaml");
        List<Manifests.Manifest> docs;
        try (var reader = java.nio.file.Files.newBufferedReader(example)) {
            docs = Manifests.read(reader, example.toString());
        }
        var spec = assertInstanceOf(Manifests.AppManifest.class, docs.get(0)).app().getSpec();
        assertEquals(dev.edgeplane.api.v1.RolloutStrategy.Type.BATCHED, spec.getStrategy().getType());
        assertEquals(300, spec.getStrategy().getBatched().getPauseBetweenBatches().getSeconds());
        assertEquals(10, spec.getStrategy().getBatched().getMaxBatchPercent());
        assertEquals(25, spec.getStrategy().getAbortCriteria().getFailureThresholdPercent());
        assertEquals(dev.edgeplane.api.v1.AbortCriteria.Action.ROLLBACK, spec.getStrategy().getAbortCriteria().getAction());
        assertEquals(30, spec.getMinReadySeconds());
        assertEquals(5, spec.getRevisionHistoryLimit());
    }

    @Test
    void readsAnAppInTheApiJsonMappingWithEnumsByName() {
        var docs = Manifests.read(new StringReader("""
                kind: App
                metadata:
                  name: hello
                  labels: {tier: web}
                spec:
                  mode: EVERY_NODE
                  nodeSelector: {site: shop}
                  template:
                    restartPolicy: ON_FAILURE
                    containers:
                    - name: web
                      image: 127.0.0.1:5000/edgeplane/busybox:1
                      imagePullPolicy: ALWAYS
                      command: [httpd, -f, -p, "8081"]
                      ports: [{containerPort: 8081, hostPort: 8081}]
                      limits: {cpuMillis: 250, memoryBytes: 67108864}
                ---
                kind: JoinToken
                spec: {maxUses: 3}
                """), "test.yaml");

        assertEquals(2, docs.size());
        var app = assertInstanceOf(Manifests.AppManifest.class, docs.get(0)).app();
        assertEquals("hello", app.getMetadata().getName());
        assertEquals(Map.of("tier", "web"), app.getMetadata().getLabelsMap());
        assertEquals(AppSpec.Mode.EVERY_NODE, app.getSpec().getMode());
        assertEquals(PodTemplate.RestartPolicy.ON_FAILURE, app.getSpec().getTemplate().getRestartPolicy());
        Container c = app.getSpec().getTemplate().getContainers(0);
        assertEquals(Container.PullPolicy.ALWAYS, c.getImagePullPolicy());
        assertEquals(List.of("httpd", "-f", "-p", "8081"), c.getCommandList());
        assertEquals(8081, c.getPorts(0).getHostPort());
        assertEquals(67108864L, c.getLimits().getMemoryBytes());
        var token = assertInstanceOf(Manifests.JoinTokenManifest.class, docs.get(1)).token();
        assertEquals(3, token.getSpec().getMaxUses());
    }

    @Test
    void namesTheDocumentAndProblemOfABadManifest() {
        var missingKind = assertThrows(UsageException.class,
                () -> Manifests.read(new StringReader("metadata: {name: x}\n"), "a.yaml"));
        assertTrue(missingKind.getMessage().contains("a.yaml document 1: missing 'kind'"),
                missingKind.getMessage());

        var unknownField = assertThrows(UsageException.class, () -> Manifests.read(new StringReader(
                "kind: App\nspec: {replicaz: 2}\n"), "b.yaml"));
        assertTrue(unknownField.getMessage().contains("replicaz"), unknownField.getMessage());

        var unknownKind = assertThrows(UsageException.class,
                () -> Manifests.read(new StringReader("kind: Pod\n"), "c.yaml"));
        assertTrue(unknownKind.getMessage().contains("unknown kind 'Pod'"), unknownKind.getMessage());
    }

    @Test
    void parsesHumanDurations() {
        assertEquals(Duration.ofMinutes(90), Durations.parse("1h30m"));
        assertEquals(Duration.ofDays(7), Durations.parse("7d"));
        assertThrows(UsageException.class, () -> Durations.parse("10 minutes"));
        assertThrows(UsageException.class, () -> Durations.parse("h"));
    }

    @Test
    void flagsBeatEnvironmentWhichBeatsTheConfigFile(@TempDir Path dir) throws Exception {
        var config = dir.resolve("config.yaml");
        java.nio.file.Files.writeString(config, "server: file:1\ntoken: from-file\n");
        var tokenFile = dir.resolve("token");
        java.nio.file.Files.writeString(tokenFile, "from-token-file\n");

        Map<String, String> env = Map.of("EDGECTL_CONFIG", config.toString());
        assertEquals(new ClientConfig("file:1", "from-file"), ClientConfig.resolve(null, null, null, env));

        Map<String, String> env2 = Map.of("EDGECTL_CONFIG", config.toString(),
                "EDGECTL_SERVER", "env:2", "EDGECTL_TOKEN", "from-env");
        assertEquals(new ClientConfig("env:2", "from-env"), ClientConfig.resolve(null, null, null, env2));
        assertEquals(new ClientConfig("flag:3", "from-flag"),
                ClientConfig.resolve("flag:3", "from-flag", null, env2));

        Map<String, String> env3 = Map.of("EDGECTL_CONFIG", dir.resolve("absent.yaml").toString(),
                "EDGECTL_TOKEN_FILE", tokenFile.toString());
        assertEquals(new ClientConfig(ClientConfig.DEFAULT_SERVER, "from-token-file"),
                ClientConfig.resolve(null, null, null, env3));

        // TLS by default; a CA file or plaintext only when asked, never both.
        assertEquals(new ClientConfig("env:2", "from-env", java.util.Optional.of(Path.of("/etc/edgeplane/ca.crt")), false),
                ClientConfig.resolve(null, null, null, null, false, Map.of("EDGECTL_SERVER", "env:2", "EDGECTL_TOKEN", "from-env",
                        "EDGECTL_CA_FILE", "/etc/edgeplane/ca.crt", "EDGECTL_CONFIG", "/nonexistent")));
        assertEquals(true, ClientConfig.resolve(null, null, null, null, false, Map.of("EDGECTL_INSECURE", "true",
                "EDGECTL_CONFIG", "/nonexistent")).insecure());
        UsageException both = assertThrows(UsageException.class, () -> ClientConfig.resolve(null, null, null,
                Path.of("/etc/edgeplane/ca.crt"), true, Map.of("EDGECTL_CONFIG", "/nonexistent")));
        assertTrue(both.getMessage().contains("--insecure"), both.getMessage());
    }
}
