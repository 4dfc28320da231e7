package dev.edgeplane.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import java.util.stream.Stream;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A real etcd (/usr/bin/etcd) as a child process on free loopback ports with a temp data dir.
 * {@link #start()} returns once etcd answers /health; {@link #close()} stops it and deletes the dir.
 *
 * <p>For a multi-member cluster, make one {@link Member} per member with {@link #member(String)}, then
 * start each with {@link #start(Member, List)} naming all of them.
 *
 * <p>{@link #startTls()} starts one that serves clients only over TLS and only with a client
 * certificate from its own throwaway CA ({@code --client-cert-auth}); {@link #tls()} names the files.
 * Plain http stays the default for every other test.
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

    /**
     * The PEM files of a TLS etcd, in its temp dir (gone after {@link #close()}): the CA that signed
     * both certificates (and the only one etcd trusts for clients), etcd's server certificate (for
     * 127.0.0.1 and localhost) and key, and a client certificate (CN {@code edgeplane-control-plane},
     * EC key, PKCS#8) that etcd accepts. {@code ca} issues more client certificates etcd accepts.
     */
    public record Tls(TestPki ca, Path caFile, Path serverCertFile, Path serverKeyFile, Path clientCertFile, Path clientKeyFile) {}

    private final Member member;
    private final Path dataDir;
    private final Path logFile;
    private final Process process;
    /** Null for a plain-http etcd. */
    private final Tls tls;
    /** How {@link #isHealthy()} reaches a TLS etcd: its CA and the client certificate; null for plain http. */
    private final SSLContext healthTls;

    private EtcdServer(Member member, Path dataDir, Path logFile, Process process, Tls tls, SSLContext healthTls) {
        this.member = member;
        this.dataDir = dataDir;
        this.logFile = logFile;
        this.process = process;
        this.tls = tls;
        this.healthTls = healthTls;
    }

    /**
     * A member named {@code name} on fresh free ports, below the ephemeral range: a port the OS hands
     * out for bind(0) can be taken as a source port by any outgoing connection before etcd binds it
     * (seen: "bind: address already in use" while agents and clients of an earlier test connected).
     */
    public static Member member(String name) {
        int client = FreePorts.belowEphemeralRange();
        int peer = FreePorts.belowEphemeralRange(client);
        return new Member(name, client, peer);
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
        EtcdServer server = start(only, List.of(only), extraFlags, false);
        server.awaitHealthy(START_TIMEOUT);
        return server;
    }

    /**
     * A single-member etcd that serves clients only on https and only with a client certificate signed
     * by its own throwaway CA ({@code --client-cert-auth}); {@link #tls()} names the files. Healthy
     * when this returns. (Its peer URL stays plain http on loopback: it has no peers.)
     */
    public static EtcdServer startTls() {
        return startTls(List.of());
    }

    /** {@link #startTls()} with {@code extraFlags} after the production flags, as {@link #start(List)}. */
    public static EtcdServer startTls(List<String> extraFlags) {
        Member only = member("default");
        EtcdServer server = start(only, List.of(only), extraFlags, true);
        server.awaitHealthy(START_TIMEOUT);
        return server;
    }

    /**
     * Starts {@code self} as one member of the cluster {@code all}. Does not wait: a member of a
     * multi-member cluster is healthy only once a quorum runs, so call {@link #awaitHealthy} after
     * starting them all.
     */
    public static EtcdServer start(Member self, List<Member> all) {
        return start(self, all, List.of(), false);
    }

    private static EtcdServer start(Member self, List<Member> all, List<String> extraFlags, boolean withTls) {
        String binary = System.getenv().getOrDefault("EDGEPLANE_ETCD_BINARY", "/usr/bin/etcd");
        Path dataDir;
        try {
            dataDir = Files.createTempDirectory("etcd-" + self.name() + "-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String clientUrl = withTls ? "https://127.0.0.1:" + self.clientPort() : self.clientUrl();
        Tls tls = null;
        SSLContext healthTls = null;
        if (withTls) {
            TestPki ca = TestPki.create("etcd-test-ca");
            TestPki.Issued client = ca.client("edgeplane-control-plane", TestPki.KeyType.EC);
            tls = writeTlsFiles(dataDir.resolve("tls"), ca, client);
            healthTls = clientContext(ca, client);
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
                "--listen-client-urls", clientUrl,
                "--advertise-client-urls", clientUrl,
                "--listen-peer-urls", self.peerUrl(),
                "--initial-advertise-peer-urls", self.peerUrl(),
                "--initial-cluster", cluster.toString(),
                "--initial-cluster-state", "new",
                // Every member must name the same token: derive it from the cluster's peer ports.
                "--initial-cluster-token", "testkit-" + all.stream().map(m -> String.valueOf(m.peerPort()))
                        .reduce((a, b) -> a + "-" + b).orElse("")));
        if (tls != null) {
            command.addAll(List.of(
                    "--cert-file", tls.serverCertFile().toString(),
                    "--key-file", tls.serverKeyFile().toString(),
                    "--trusted-ca-file", tls.caFile().toString(),
                    "--client-cert-auth"));
        }
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
            LOG.info(() -> "started etcd " + self.name() + " pid " + process.pid() + " on " + clientUrl);
            return new EtcdServer(self, dataDir, logFile, process, tls, healthTls);
        } catch (IOException e) {
            deleteTree(dataDir);
            throw new UncheckedIOException("cannot start " + binary, e);
        }
    }

    /** A fresh CA, etcd's server certificate and a client certificate, as PEM files in {@code dir}. */
    private static Tls writeTlsFiles(Path dir, TestPki ca, TestPki.Issued client) {
        TestPki.Issued server = ca.server("etcd", List.of("127.0.0.1", "localhost"));
        return new Tls(ca,
                ca.writeCertificate(dir.resolve("ca.pem")),
                server.writeCertificate(dir.resolve("server.pem")),
                server.writeKey(dir.resolve("server-key.pem"), TestPki.KeyFormat.PKCS8),
                client.writeCertificate(dir.resolve("client.pem")),
                client.writeKey(dir.resolve("client-key.pem"), TestPki.KeyFormat.PKCS8));
    }

    /** The JDK's TLS trusting only {@code ca} and presenting {@code client}, for /health. */
    private static SSLContext clientContext(TestPki ca, TestPki.Issued client) {
        try {
            char[] password = new char[0];
            KeyStore keys = KeyStore.getInstance("PKCS12");
            keys.load(null, null);
            keys.setKeyEntry("client", client.key(), password, new Certificate[] {client.certificate()});
            KeyManagerFactory keyManagers = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keyManagers.init(keys, password);
            KeyStore trusted = KeyStore.getInstance("PKCS12");
            trusted.load(null, null);
            trusted.setCertificateEntry("ca", ca.certificate());
            TrustManagerFactory trustManagers = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trustManagers.init(trusted);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(keyManagers.getKeyManagers(), trustManagers.getTrustManagers(), null);
            return context;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot set up TLS for the test etcd's health checks", e);
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
            if (healthTls != null) {
                ((HttpsURLConnection) connection).setSSLSocketFactory(healthTls.getSocketFactory());
            }
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

    /** The client URL, e.g. "http://127.0.0.1:40123" ("https://..." for {@link #startTls()}). */
    public String endpoint() {
        return tls == null ? member.clientUrl() : "https://127.0.0.1:" + member.clientPort();
    }

    /** The CA, server and client files of an etcd from {@link #startTls()}; empty for plain http. */
    public Optional<Tls> tls() {
        return Optional.ofNullable(tls);
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

    /** etcd's own output (stdout and stderr), in its temp dir. */
    public Path logFile() {
        return logFile;
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
