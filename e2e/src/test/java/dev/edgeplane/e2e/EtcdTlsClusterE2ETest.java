package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.edgeplane.testkit.Commands;
import dev.edgeplane.testkit.EtcdServer;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/kubernetes's etcd TLS on a real 3-member cluster, on loopback and without Kubernetes: the TLS
 * flags of etcd.yaml, with the files deploy/kubernetes/make-etcd-certs.sh writes standing in for the
 * Secret's mount, form a cluster over https peers; the control plane's client certificate reads and
 * writes, a client without a certificate is refused, and the control plane's certificate is refused on
 * a peer port where a member's is accepted. (Only etcd and etcdctl run here, no control plane.)
 */
class EtcdTlsClusterE2ETest {
    @TempDir Path dir;

    @Test
    void theManifestsTlsFlagsFormAClusterThatAdmitsOnlyTheRightCertificates() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/openssl")), "openssl is not installed");
        Path certs = dir.resolve("certs");
        Commands.Result made = Commands.exec(List.of("bash", KubernetesManifestsTest.DIR.resolve("make-etcd-certs.sh").toString(),
                certs.toString()), Map.of(), Duration.ofSeconds(60));
        assertEquals(0, made.exitCode(), made.output());

        List<String> tlsFlags = manifestTlsFlags(certs);
        List<EtcdServer.Member> members = List.of(EtcdServer.member("etcd-0"), EtcdServer.member("etcd-1"), EtcdServer.member("etcd-2"));
        String cluster = members.stream().map(m -> m.name() + "=https://127.0.0.1:" + m.peerPort()).collect(Collectors.joining(","));
        String endpoints = members.stream().map(m -> "https://127.0.0.1:" + m.clientPort()).collect(Collectors.joining(","));
        String binary = System.getenv().getOrDefault("EDGEPLANE_ETCD_BINARY", "/usr/bin/etcd");
        List<ManagedProcess> started = new ArrayList<>();
        try {
            for (EtcdServer.Member m : members) {
                List<String> command = new ArrayList<>(List.of(binary, "--name", m.name(),
                        "--data-dir", dir.resolve(m.name()).toString(),
                        "--listen-client-urls", "https://127.0.0.1:" + m.clientPort(),
                        "--advertise-client-urls", "https://127.0.0.1:" + m.clientPort(),
                        "--listen-peer-urls", "https://127.0.0.1:" + m.peerPort(),
                        "--initial-advertise-peer-urls", "https://127.0.0.1:" + m.peerPort(),
                        "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "tls-e2e"));
                command.addAll(tlsFlags);
                started.add(ManagedProcess.start(m.name(), command, unsupportedArch(), dir.resolve(m.name() + ".log")));
            }
            List<String> withCertificate = List.of("--cacert", certs.resolve("ca.crt").toString(),
                    "--cert", certs.resolve("client.crt").toString(), "--key", certs.resolve("client.key").toString());
            // Every member healthy: a quorum formed over the TLS peer port.
            Await.until("the 3-member TLS cluster is healthy", Duration.ofSeconds(60),
                    () -> started.stream().map(ManagedProcess::logTail).collect(Collectors.joining("\n")),
                    () -> etcdctl(endpoints, withCertificate, "endpoint", "health").exitCode() == 0);
            assertEquals(0, etcdctl(endpoints, withCertificate, "put", "/tls", "ok").exitCode());
            assertEquals("ok", etcdctl(endpoints, withCertificate, "get", "/tls", "--print-value-only").output().trim());

            Commands.Result anonymous = etcdctl(endpoints, List.of("--cacert", certs.resolve("ca.crt").toString()), "get", "/tls");
            assertNotEquals(0, anonymous.exitCode(), "no client certificate: " + anonymous.output());

            String peerMembers = "https://127.0.0.1:" + members.get(0).peerPort() + "/members";
            assertThrows(IOException.class, () -> get(peerMembers, certs, "client"),
                    "the control plane's client certificate on a peer port");
            assertTrue(get(peerMembers, certs, "peer").contains("etcd-2"), "a member's peer certificate on a peer port");
        } finally {
            started.forEach(ManagedProcess::close);
        }
    }

    /** etcd.yaml's TLS flags (the files, --client-cert-auth, --peer-client-cert-auth), its Secret's mount replaced by {@code certs}. */
    private static List<String> manifestTlsFlags(Path certs) throws IOException {
        YAMLMapper yaml = new YAMLMapper();
        try (var parser = new YAMLFactory().createParser(KubernetesManifestsTest.DIR.resolve("etcd.yaml").toFile())) {
            for (JsonNode doc : yaml.readValues(parser, JsonNode.class).readAll()) {
                if (doc == null || !doc.path("kind").asText().equals("StatefulSet")) {
                    continue;
                }
                JsonNode container = doc.get("spec").get("template").get("spec").get("containers").get(0);
                String mount = null;
                for (JsonNode m : container.get("volumeMounts")) {
                    if (m.get("name").asText().equals("tls")) {
                        mount = m.get("mountPath").asText() + "/";
                    }
                }
                List<String> flags = new ArrayList<>();
                for (JsonNode arg : container.get("command")) {
                    String flag = arg.asText();
                    if (flag.startsWith("--client-cert-auth=") || flag.startsWith("--peer-client-cert-auth=")
                            || (mount != null && flag.contains("=" + mount))) {
                        flags.add(mount == null ? flag : flag.replace(mount, certs + "/"));
                    }
                }
                assertEquals(8, flags.size(), "etcd.yaml's TLS flags: " + flags);
                return flags;
            }
        }
        throw new AssertionError("no StatefulSet in etcd.yaml");
    }

    private static Commands.Result etcdctl(String endpoints, List<String> tls, String... args) {
        List<String> command = new ArrayList<>(List.of("etcdctl", "--endpoints", endpoints, "--command-timeout=5s"));
        command.addAll(tls);
        command.addAll(List.of(args));
        return Commands.exec(command, Map.of("ETCDCTL_API", "3"), Duration.ofSeconds(30));
    }

    /** GET {@code url} trusting peer-ca.crt and presenting {@code name}.crt/.key (PKCS#8 EC, as the script writes them). */
    private static String get(String url, Path certs, String name) throws Exception {
        CertificateFactory x509 = CertificateFactory.getInstance("X.509");
        Certificate ca = x509.generateCertificate(new ByteArrayInputStream(Files.readAllBytes(certs.resolve("peer-ca.crt"))));
        Certificate cert = x509.generateCertificate(new ByteArrayInputStream(Files.readAllBytes(certs.resolve(name + ".crt"))));
        String pem = Files.readString(certs.resolve(name + ".key")).replaceAll("-----[A-Z ]+-----|\\s", "");
        PrivateKey key = KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(pem)));
        char[] password = new char[0];
        KeyStore keys = KeyStore.getInstance("PKCS12");
        keys.load(null, null);
        keys.setKeyEntry(name, key, password, new Certificate[] {cert});
        KeyManagerFactory keyManagers = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keyManagers.init(keys, password);
        KeyStore trusted = KeyStore.getInstance("PKCS12");
        trusted.load(null, null);
        trusted.setCertificateEntry("peer-ca", ca);
        TrustManagerFactory trustManagers = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trustManagers.init(trusted);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(keyManagers.getKeyManagers(), trustManagers.getTrustManagers(), null);
        HttpsURLConnection connection = (HttpsURLConnection) URI.create(url).toURL().openConnection();
        connection.setSSLSocketFactory(context.getSocketFactory());
        connection.setConnectTimeout(5000);
        connection.setReadTimeout(5000);
        try {
            return new String(connection.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            connection.disconnect();
        }
    }

    /** etcd 3.4 refuses to start on other architectures without this (as testkit's EtcdServer sets it). */
    private static Map<String, String> unsupportedArch() {
        String arch = System.getProperty("os.arch");
        return arch.equals("amd64") || arch.equals("x86_64") ? Map.of()
                : Map.of("ETCD_UNSUPPORTED_ARCH", arch.equals("aarch64") ? "arm64" : arch);
    }
}
