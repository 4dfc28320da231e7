package dev.edgeplane.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * A real image registry (/usr/bin/docker-registry, CNCF distribution 2.8) on a free loopback port over
 * plain HTTP with its storage in a temp dir; containerd pulls from 127.0.0.1 without extra config.
 * {@link #push} uploads an OCI archive with skopeo.
 */
public final class Registry implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Registry.class.getName());
    private static final Duration START_TIMEOUT = Duration.ofSeconds(20);

    private final Path dir;
    private final int port;
    private final Process process;

    private Registry(Path dir, int port, Process process) {
        this.dir = dir;
        this.port = port;
        this.process = process;
    }

    public static Registry start() {
        Path dir;
        try {
            dir = Files.createTempDirectory("registry");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temp dir for the registry", e);
        }
        int port = FreePorts.next();
        Path config = dir.resolve("config.yml");
        String yaml = """
                version: 0.1
                log:
                  level: warn
                storage:
                  filesystem:
                    rootdirectory: %s
                  delete:
                    enabled: true
                http:
                  addr: 127.0.0.1:%d
                """.formatted(dir.resolve("data"), port);
        Process process;
        try {
            Files.writeString(config, yaml, StandardCharsets.UTF_8);
            process = new ProcessBuilder("/usr/bin/docker-registry", "serve", config.toString())
                    .redirectErrorStream(true)
                    .redirectOutput(dir.resolve("registry.log").toFile())
                    .start();
        } catch (IOException e) {
            Containerd.deleteTree(dir);
            throw new UncheckedIOException("cannot start /usr/bin/docker-registry (apt-get install docker-registry)", e);
        }
        Registry registry = new Registry(dir, port, process);
        try {
            registry.awaitReady();
            return registry;
        } catch (RuntimeException e) {
            registry.close();
            throw e;
        }
    }

    /** host:port, e.g. 127.0.0.1:5123. */
    public String address() {
        return "127.0.0.1:" + port;
    }

    /** The full image name for repository:tag in this registry, e.g. 127.0.0.1:5123/edgeplane/busybox:1. */
    public String image(String repositoryAndTag) {
        return address() + "/" + repositoryAndTag;
    }

    /** Pushes an OCI archive as repository:tag (e.g. "edgeplane/busybox:2"); returns the full image name. */
    public String push(Path ociArchive, String repositoryAndTag) {
        String target = image(repositoryAndTag);
        Commands.run(List.of("skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                "oci-archive:" + ociArchive, "docker://" + target), Duration.ofSeconds(120));
        return target;
    }

    private void awaitReady() {
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("docker-registry exited with " + process.exitValue() + ": " + log());
            }
            try {
                HttpURLConnection connection = (HttpURLConnection) URI.create("http://" + address() + "/v2/").toURL().openConnection();
                connection.setConnectTimeout(500);
                connection.setReadTimeout(1000);
                int code = connection.getResponseCode();
                connection.disconnect();
                if (code == 200) {
                    LOG.info(() -> "registry ready at " + address());
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }
        throw new IllegalStateException("registry not ready within " + START_TIMEOUT + ": " + log());
    }

    private String log() {
        try {
            return Files.readString(dir.resolve("registry.log"), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(no log)";
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        Containerd.deleteTree(dir);
    }
}
