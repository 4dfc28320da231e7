package dev.edgeplane.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * A real etcd (/usr/bin/etcd) as a child process on free loopback ports with a temp data dir.
 * {@link #start()} returns once etcd answers /health; {@link #close()} stops it and deletes the dir.
 *
 * <p>For a multi-member cluster, make one {@link Member} per member with {@link #member(String)}, then
 * start each with {@link #start(Member, List)} naming all of them.
 */
public final class EtcdServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(EtcdServer.class.getName());
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);

    /** One member's identity and ports, known before it starts so the others can name it. */
    public record Member(String name, int clientPort, int peerPort) {
        public String clientUrl() {
            return "http://127.0.0.1:" + clientPort;
        }

        public String peerUrl() {
            return "http://127.0.0.1:" + peerPort;
        }
    }

    /**
     * What production etcd runs with (deploy/quickstart.sh and deploy/kubernetes/etcd.yaml use the
     * same): hourly periodic compaction (an agent offline for up to an hour resumes from history, and
     * no test runs long enough to see one, so tests that need a compaction do it explicitly), a 4 GiB
     * backend quota, and progress notifications every minute (etcd's default is 10 min) so idle watch
     * cursors stay recent. --max-txn-ops (128) and --max-request-bytes (1.5 MiB) keep etcd's
     * defaults, which the control plane's writer stays within.
     */
    public static final List<String> PRODUCTION_FLAGS = List.of(
            "--auto-compaction-mode=periodic",
            "--auto-compaction-retention=1h",
            "--quota-backend-bytes=4294967296",
            "--experimental-watch-progress-notify-interval=1m");

    private final Member member;
    private final Path dataDir;
    private final Path logFile;
    private final Process process;

    private EtcdServer(Member member, Path dataDir, Path logFile, Process process) {
        this.member = member;
        this.dataDir = dataDir;
        this.logFile = logFile;
        this.process = process;
    }

    /** A member named {@code name} on fresh free ports. */
    public static Member member(String name) {
        return new Member(name, FreePorts.next(), FreePorts.next());
    }

    /** A single-member etcd, healthy when this returns. */
    public static EtcdServer start() {
        return start(List.of());
    }

    /**
     * A single-member etcd started with {@link #PRODUCTION_FLAGS} and then {@code extraFlags}, which
     * override them (e.g. {@code --experimental-watch-progress-notify-interval=500ms}), healthy when
     * this returns.
     */
    public static EtcdServer start(List<String> extraFlags) {
        Member only = member("default");
        EtcdServer server = start(only, List.of(only), extraFlags);
        server.awaitHealthy(START_TIMEOUT);
        return server;
    }

    /**
     * Starts {@code self} as one member of the cluster {@code all}. Does not wait: a member of a
     * multi-member cluster is healthy only once a quorum runs, so call {@link #awaitHealthy} after
     * starting them all.
     */
    public static EtcdServer start(Member self, List<Member> all) {
        return start(self, all, List.of());
    }

    private static EtcdServer start(Member self, List<Member> all, List<String> extraFlags) {
        String binary = System.getenv().getOrDefault("EDGEPLANE_ETCD_BINARY", "/usr/bin/etcd");
        Path dataDir;
        try {
            dataDir = Files.createTempDirectory("etcd-" + self.name() + "-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        StringBuilder cluster = new StringBuilder();
        for (Member m : all) {
            if (cluster.length() > 0) {
                cluster.append(',');
            }
            cluster.append(m.name()).append('=').append(m.peerUrl());
        }
        List<String> command = new ArrayList<>(List.of(binary,
                "--name", self.name(),
                "--data-dir", dataDir.resolve("data").toString(),
                "--listen-client-urls", self.clientUrl(),
                "--advertise-client-urls", self.clientUrl(),
                "--listen-peer-urls", self.peerUrl(),
                "--initial-advertise-peer-urls", self.peerUrl(),
                "--initial-cluster", cluster.toString(),
                "--initial-cluster-state", "new",
                // Every member must name the same token: derive it from the cluster's peer ports.
                "--initial-cluster-token", "testkit-" + all.stream().map(m -> String.valueOf(m.peerPort()))
                        .reduce((a, b) -> a + "-" + b).orElse("")));
        command.addAll(PRODUCTION_FLAGS);
        command.addAll(extraFlags); // etcd takes the last of a repeated flag: these override

        Path logFile = dataDir.resolve("etcd.log");
        ProcessBuilder builder = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(logFile.toFile());
        // etcd 3.4 refuses to start on other architectures without this.
        String arch = System.getProperty("os.arch");
        if (!arch.equals("amd64") && !arch.equals("x86_64")) {
            builder.environment().put("ETCD_UNSUPPORTED_ARCH", arch.equals("aarch64") ? "arm64" : arch);
        }
        try {
            Process process = builder.start();
            LOG.info(() -> "started etcd " + self.name() + " pid " + process.pid() + " on " + self.clientUrl());
            return new EtcdServer(self, dataDir, logFile, process);
        } catch (IOException e) {
            deleteTree(dataDir);
            throw new UncheckedIOException("cannot start " + binary, e);
        }
    }

    /** Polls /health until etcd reports healthy; stops it and throws if that does not happen in time. */
    public void awaitHealthy(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                String log = readLog();
                close();
                throw new IllegalStateException("etcd exited with " + process.exitValue() + ":\n" + log);
            }
            if (isHealthy()) {
                return;
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                close();
                throw new IllegalStateException("interrupted waiting for etcd", e);
            }
        }
        String log = readLog();
        close();
        throw new IllegalStateException("etcd not healthy after " + timeout + ":\n" + log);
    }

    /** True when GET /health answers {"health":"true"}. */
    public boolean isHealthy() {
        try {
            HttpURLConnection connection = (HttpURLConnection) URI.create(endpoint() + "/health").toURL().openConnection();
            connection.setConnectTimeout(500);
            connection.setReadTimeout(1000);
            try {
                if (connection.getResponseCode() != 200) {
                    return false;
                }
                String body = new String(connection.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                return body.replace(" ", "").contains("\"health\":\"true\"");
            } finally {
                connection.disconnect();
            }
        } catch (IOException e) {
            return false;
        }
    }

    /** The client URL, e.g. "http://127.0.0.1:40123". */
    public String endpoint() {
        return member.clientUrl();
    }

    public Member member() {
        return member;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isRunning() {
        return process.isAlive();
    }

    /** The end of etcd's own output so far (for failure messages). */
    public String readLog() {
        try {
            String log = Files.exists(logFile) ? Files.readString(logFile) : "";
            return log.length() <= 8000 ? log : "...\n" + log.substring(log.length() - 8000);
        } catch (IOException e) {
            return "(cannot read " + logFile + ": " + e + ")";
        }
    }

    /** Kills etcd without a clean shutdown (e.g. to test a member failure); the data dir is kept until close. */
    public void kill() {
        process.destroyForcibly();
        waitFor(Duration.ofSeconds(10));
    }

    /** Stops etcd (SIGTERM, then SIGKILL after 10 s) and deletes its data dir. Idempotent. */
    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroy();
            if (!waitFor(Duration.ofSeconds(10))) {
                process.destroyForcibly();
                waitFor(Duration.ofSeconds(10));
            }
        }
        deleteTree(dataDir);
    }

    private boolean waitFor(Duration timeout) {
        try {
            return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            LOG.warning("cannot delete " + root + ": " + e);
        }
    }
}
