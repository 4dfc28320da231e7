package dev.edgeplane.controlplane;

import dev.edgeplane.testkit.EtcdServer;
import dev.edgeplane.testkit.FreePorts;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.stream.Stream;

/** A real etcd for the control plane under test, plus free ports, a temp admin-token file and a secrets key. */
public class EtcdTestResource implements QuarkusTestResourceLifecycleManager {
    public static final String TEST_KEY_ID = "test-k1";
    private EtcdServer etcd;
    private Path dir;

    @Override
    public Map<String, String> start() {
        etcd = EtcdServer.start();
        try {
            dir = Files.createTempDirectory("edgeplane-cp-test");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        int agentPort = FreePorts.next();
        return Map.of(
                "edgeplane.etcd.endpoints", etcd.endpoint(),
                "edgeplane.admin-token-file", dir.resolve("admin-token").toString(),
                "edgeplane.agent.port", String.valueOf(agentPort),
                "edgeplane.agent.host", "127.0.0.1",
                "edgeplane.agent.advertise", "127.0.0.1:" + agentPort,
                "quarkus.http.test-port", String.valueOf(FreePorts.next()),
                // A fresh key-encryption key per run, so the Secret API works (secrets.SecretSealer).
                "edgeplane.secrets.keys", TEST_KEY_ID + ":" + randomKey());
    }

    private static String randomKey() {
        byte[] key = new byte[32];
        new java.security.SecureRandom().nextBytes(key);
        return java.util.Base64.getEncoder().encodeToString(key);
    }

    @Override
    public void stop() {
        if (etcd != null) {
            etcd.close();
        }
        if (dir != null) {
            try (Stream<Path> paths = Files.walk(dir)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException ignored) {
                // best effort
            }
        }
    }
}
