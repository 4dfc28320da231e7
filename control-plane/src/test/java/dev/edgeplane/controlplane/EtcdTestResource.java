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

/** A real etcd for the control plane under test, plus free ports and a temp admin-token file. */
public class EtcdTestResource implements QuarkusTestResourceLifecycleManager {
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
                "quarkus.http.test-port", String.valueOf(FreePorts.next()));
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
