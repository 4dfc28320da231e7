package dev.edgeplane.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import org.bouncycastle.crypto.generators.OpenBSDBCrypt;

/**
 * A real image registry (/usr/bin/docker-registry, CNCF distribution 2.8) on a free loopback port over
 * plain HTTP with its storage in a temp dir; containerd pulls from 127.0.0.1 without extra config.
 * {@link #push} uploads an OCI archive with skopeo. {@link #withBasicAuth} makes it a private registry
 * (htpasswd basic auth, as distribution documents it); containerd 1.6 sends a PullImage's credentials
 * to it over plain HTTP on loopback without extra config too.
 */
public final class Registry implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Registry.class.getName());
    private static final Duration START_TIMEOUT = Duration.ofSeconds(20);

    private final Path dir;
    private final int port;
    private final Process process;
    private final Optional<Login> login;

    /** A user of a private registry. */
    public record Login(String username, String password) {
        public Login {
            if (username.isEmpty() || username.contains(":")) {
                throw new IllegalArgumentException("an htpasswd user name is not empty and has no ':'");
            }
        }

        @Override
        public String toString() {
            return "Login[" + username + "]"; // never the password
        }
    }

    private Registry(Path dir, int port, Process process, Optional<Login> login) {
        this.dir = dir;
        this.port = port;
        this.process = process;
        this.login = login;
    }

    /** An open registry: anyone may pull and push. */
    public static Registry start() {
        return start(Optional.empty());
    }

    /** A private registry: every request needs this user (basic auth over plain HTTP, loopback only). */
    public static Registry withBasicAuth(String username, String password) {
        return start(Optional.of(new Login(username, password)));
    }

    /**
     * An htpasswd line with a bcrypt hash ($2y$, as {@code htpasswd -B} writes), made in Java so tests
     * need no apache2-utils. Cost 5 (htpasswd's default): the registry checks it on every request.
     */
    private static String htpasswdLine(Login login) {
        byte[] salt = new byte[16];
        new SecureRandom().nextBytes(salt);
        return login.username() + ":" + OpenBSDBCrypt.generate("2y", login.password().toCharArray(), salt, 5) + "\n";
    }

    private static Registry start(Optional<Login> login) {
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
        if (login.isPresent()) {
            yaml += """
                    auth:
                      htpasswd:
                        realm: edgeplane-test
                        path: %s
                    """.formatted(dir.resolve("htpasswd"));
        }
        Process process;
        try {
            if (login.isPresent()) {
                Files.writeString(dir.resolve("htpasswd"), htpasswdLine(login.get()), StandardCharsets.UTF_8);
            }
            Files.writeString(config, yaml, StandardCharsets.UTF_8);
            process = new ProcessBuilder("/usr/bin/docker-registry", "serve", config.toString())
                    .redirectErrorStream(true)
                    .redirectOutput(dir.resolve("registry.log").toFile())
                    .start();
        } catch (IOException e) {
            Containerd.deleteTree(dir);
            throw new UncheckedIOException("cannot start /usr/bin/docker-registry (apt-get install docker-registry)", e);
        }
        Registry registry = new Registry(dir, port, process, login);
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

    /** Pushes an OCI archive as repository:tag (e.g. "edgeplane/busybox:2") as its user; returns the full image name. */
    public String push(Path ociArchive, String repositoryAndTag) {
        String target = image(repositoryAndTag);
        List<String> command = new ArrayList<>(List.of("skopeo", "copy", "--quiet", "--dest-tls-verify=false"));
        login.ifPresent(l -> command.addAll(List.of("--dest-creds", l.username() + ":" + l.password())));
        command.addAll(List.of("oci-archive:" + ociArchive, "docker://" + target));
        Commands.run(command, Duration.ofSeconds(120));
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
                // A private registry answers /v2/ with 401 and its challenge once it serves.
                if (code == 200 || (login.isPresent() && code == 401)) {
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
