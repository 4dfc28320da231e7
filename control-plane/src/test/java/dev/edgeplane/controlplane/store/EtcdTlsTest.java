package dev.edgeplane.controlplane.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.testkit.Commands;
import dev.edgeplane.testkit.EtcdServer;
import dev.edgeplane.testkit.TestPki;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.openssl.jcajce.JceOpenSSLPKCS8EncryptorBuilder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The control plane's etcd client over TLS against a real etcd that requires client certificates
 * ({@code --client-cert-auth}, testkit {@link EtcdServer#startTls()}): the right CA, certificate and key
 * read and write, in each key format operators' tools write; no client certificate, a client
 * certificate from another CA, or trusting another CA gets nothing; and every misconfiguration stops
 * the store's construction (so the control plane's startup) with a message naming the setting and file.
 */
class EtcdTlsTest {
    private static EtcdServer etcd;
    private static EtcdServer.Tls tls;
    @TempDir Path dir;

    @BeforeAll
    static void start() {
        etcd = EtcdServer.startTls();
        tls = etcd.tls().orElseThrow();
    }

    @AfterAll
    static void stop() {
        if (etcd != null) {
            etcd.close();
        }
    }

    private static EtcdStore store(ControlPlaneConfig.Etcd settings) {
        return new EtcdStore(TestStores.config(ControlPlaneConfig.class, Map.of("etcd", settings)));
    }

    private static ControlPlaneConfig.Etcd https(Path ca, Path cert, Path key) {
        return TestStores.etcd(List.of(etcd.endpoint()), ca, cert, key);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Writes {@code key} and reads it back through {@code store}. */
    private static void assertReadsAndWrites(EtcdStore store, String key) {
        store.put(key, utf8("over TLS"));
        assertEquals("over TLS", new String(store.get(key).orElseThrow().value(), StandardCharsets.UTF_8));
    }

    /**
     * Nothing goes through: a read gets no answer in 3 s (jetcd keeps retrying the UNAVAILABLE channel,
     * so a put would fail only at the store's 10 s timeout; the right files answer in milliseconds), and
     * etcd logged a rejected TLS connection meanwhile: it is the handshake that failed, not a slow etcd.
     */
    private static void assertRefused(ControlPlaneConfig.Etcd settings, String why) throws Exception {
        long logBefore = Files.size(etcd.logFile());
        EtcdStore store = store(settings);
        try {
            assertFalse(store.ping(3), why + ": etcd answered");
        } finally {
            store.close();
        }
        String logged = "";
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (!logged.contains("rejected connection") && System.nanoTime() < deadline) {
            Thread.sleep(100);
            byte[] log = Files.readAllBytes(etcd.logFile());
            logged = new String(log, (int) logBefore, log.length - (int) logBefore, StandardCharsets.UTF_8);
        }
        assertTrue(logged.contains("rejected connection"), why + ": etcd logged no rejected TLS connection:\n" + logged);
    }

    @Test
    void theRightCaCertificateAndKeyReadAndWrite() {
        EtcdStore store = store(https(tls.caFile(), tls.clientCertFile(), tls.clientKeyFile()));
        try {
            assertReadsAndWrites(store, "/test/tls/pkcs8-ec");
            assertTrue(store.ping(5));
        } finally {
            store.close();
        }
    }

    /** openssl genrsa / ecparam -genkey and cfssl write PKCS#1 and SEC1 keys; PKCS#8 RSA too: all are read. */
    @Test
    void rsaAndEcKeysInPkcs1Sec1AndPkcs8FormsAllWork() throws Exception {
        record Case(String name, TestPki.KeyType type, TestPki.KeyFormat format) {}
        for (Case c : List.of(
                new Case("rsa-pkcs1", TestPki.KeyType.RSA, TestPki.KeyFormat.TRADITIONAL),
                new Case("rsa-pkcs8", TestPki.KeyType.RSA, TestPki.KeyFormat.PKCS8),
                new Case("ec-sec1", TestPki.KeyType.EC, TestPki.KeyFormat.TRADITIONAL))) {
            TestPki.Issued client = tls.ca().client("control-plane-" + c.name(), c.type());
            Path cert = client.writeCertificate(dir.resolve(c.name() + ".pem"));
            Path key = client.writeKey(dir.resolve(c.name() + "-key.pem"), c.format());
            String header = Files.readAllLines(key).get(0);
            assertEquals(c.format() == TestPki.KeyFormat.PKCS8 ? "-----BEGIN PRIVATE KEY-----"
                    : c.type() == TestPki.KeyType.RSA ? "-----BEGIN RSA PRIVATE KEY-----" : "-----BEGIN EC PRIVATE KEY-----", header);
            EtcdStore store = store(https(tls.caFile(), cert, key));
            try {
                assertReadsAndWrites(store, "/test/tls/" + c.name());
            } finally {
                store.close();
            }
        }
    }

    /**
     * Keys as openssl writes them (an EC key from {@code ecparam -genkey}: an EC PARAMETERS block, then
     * SEC1; an RSA key from {@code genrsa}: PKCS#1), certified by etcd's CA with {@code openssl x509 -req}.
     */
    @Test
    void keysAndCertificatesMadeByOpensslWork() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/openssl")), "openssl is not installed");
        Path caKey = tls.ca().writeKey(dir.resolve("ca-key.pem"));
        Path extensions = Files.writeString(dir.resolve("client.ext"), "extendedKeyUsage=clientAuth\n");
        for (String type : List.of("ec", "rsa")) {
            Path key = dir.resolve(type + "-key.pem");
            if (type.equals("ec")) {
                openssl("ecparam", "-name", "prime256v1", "-genkey", "-out", key.toString());
                assertTrue(Files.readString(key).startsWith("-----BEGIN EC PARAMETERS-----"), Files.readString(key));
            } else if (Commands.exec(List.of("openssl", "genrsa", "-traditional", "-out", key.toString(), "2048"), Map.of(),
                    Duration.ofSeconds(60)).exitCode() != 0) {
                openssl("genrsa", "-out", key.toString(), "2048"); // OpenSSL 1.1 has no -traditional: PKCS#1 is its default
            }
            assertTrue(Files.readString(key).contains(type.equals("ec") ? "-----BEGIN EC PRIVATE KEY-----" : "-----BEGIN RSA PRIVATE KEY-----"),
                    Files.readString(key));
            Path csr = dir.resolve(type + ".csr");
            Path cert = dir.resolve(type + ".pem");
            openssl("req", "-new", "-key", key.toString(), "-subj", "/CN=openssl-" + type, "-out", csr.toString());
            openssl("x509", "-req", "-in", csr.toString(), "-CA", tls.caFile().toString(), "-CAkey", caKey.toString(),
                    "-set_serial", "0x" + Long.toHexString(System.nanoTime()), "-days", "1", "-sha256",
                    "-extfile", extensions.toString(), "-out", cert.toString());
            EtcdStore store = store(https(tls.caFile(), cert, key));
            try {
                assertReadsAndWrites(store, "/test/tls/openssl-" + type);
            } finally {
                store.close();
            }
        }
    }

    private static void openssl(String... args) {
        List<String> command = new java.util.ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Commands.run(command, Duration.ofSeconds(60));
    }

    @Test
    void withoutAClientCertificateEtcdRefusesTheConnection() throws Exception {
        assertRefused(https(tls.caFile(), null, null), "only the CA, no client certificate");
    }

    @Test
    void aClientCertificateFromAnotherCaIsRefused() throws Exception {
        TestPki.Issued stranger = TestPki.create("another-ca").client("edgeplane-control-plane", TestPki.KeyType.EC);
        Path cert = stranger.writeCertificate(dir.resolve("stranger.pem"));
        Path key = stranger.writeKey(dir.resolve("stranger-key.pem"), TestPki.KeyFormat.PKCS8);
        assertRefused(https(tls.caFile(), cert, key), "a client certificate etcd's CA did not sign");
    }

    @Test
    void trustingAnotherCaRefusesEtcdsServerCertificate() throws Exception {
        Path otherCa = TestPki.create("etcd-test-ca").writeCertificate(dir.resolve("other-ca.pem")); // same name, other key
        assertRefused(https(otherCa, tls.clientCertFile(), tls.clientKeyFile()), "a CA that did not sign etcd's certificate");
    }

    // --- misconfigurations: each stops startup with a message naming the setting (and the file) ---

    private static String refusal(ControlPlaneConfig.Etcd settings) {
        return assertThrows(IllegalStateException.class, () -> store(settings).close()).getMessage();
    }

    private static void assertMentions(String message, String... parts) {
        for (String part : parts) {
            assertTrue(message.contains(part), "\"" + part + "\" is not in: " + message);
        }
    }

    @Test
    void httpsWithoutACaFileIsRefused() {
        assertMentions(refusal(https(null, tls.clientCertFile(), tls.clientKeyFile())),
                "edgeplane.etcd.ca-file (EDGEPLANE_ETCD_CA_FILE) is not set", "https://");
    }

    @Test
    void httpEndpointsWithTlsFilesAreRefusedRatherThanSentInTheClear() {
        String plain = "http://127.0.0.1:" + etcd.member().clientPort();
        assertMentions(refusal(TestStores.etcd(List.of(plain), tls.caFile(), null, null)),
                "edgeplane.etcd.ca-file (EDGEPLANE_ETCD_CA_FILE) is set", "not https://", plain, "in the clear");
        assertMentions(refusal(TestStores.etcd(List.of(plain), tls.caFile(), tls.clientCertFile(), tls.clientKeyFile())),
                "EDGEPLANE_ETCD_CA_FILE", "EDGEPLANE_ETCD_CERT_FILE", "EDGEPLANE_ETCD_KEY_FILE", "are set");
    }

    @Test
    void endpointsMixingHttpsAndHttpAreRefused() {
        assertMentions(refusal(TestStores.etcd(List.of(etcd.endpoint(), "http://127.0.0.1:1"),
                        tls.caFile(), tls.clientCertFile(), tls.clientKeyFile())),
                "edgeplane.etcd.endpoints (EDGEPLANE_ETCD_ENDPOINTS) mixes https:// and other endpoints", "http://127.0.0.1:1");
    }

    @Test
    void aCertificateWithoutItsKeyAndAKeyWithoutItsCertificateAreRefused() {
        assertMentions(refusal(https(tls.caFile(), tls.clientCertFile(), null)),
                "edgeplane.etcd.cert-file (EDGEPLANE_ETCD_CERT_FILE)", tls.clientCertFile().toString(),
                "without edgeplane.etcd.key-file (EDGEPLANE_ETCD_KEY_FILE)");
        assertMentions(refusal(https(tls.caFile(), null, tls.clientKeyFile())),
                "edgeplane.etcd.key-file (EDGEPLANE_ETCD_KEY_FILE)", tls.clientKeyFile().toString(),
                "without edgeplane.etcd.cert-file (EDGEPLANE_ETCD_CERT_FILE)");
    }

    @Test
    void missingFilesAreNamed() {
        Path missing = dir.resolve("no-such.pem");
        assertMentions(refusal(https(missing, tls.clientCertFile(), tls.clientKeyFile())),
                "edgeplane.etcd.ca-file (EDGEPLANE_ETCD_CA_FILE)", missing.toString(), "does not exist");
        assertMentions(refusal(https(tls.caFile(), missing, tls.clientKeyFile())),
                "edgeplane.etcd.cert-file (EDGEPLANE_ETCD_CERT_FILE)", missing.toString(), "does not exist");
        assertMentions(refusal(https(tls.caFile(), tls.clientCertFile(), missing)),
                "edgeplane.etcd.key-file (EDGEPLANE_ETCD_KEY_FILE)", missing.toString(), "does not exist");
        assertMentions(refusal(https(dir, tls.clientCertFile(), tls.clientKeyFile())),
                "edgeplane.etcd.ca-file", dir.toString(), "is a directory");
    }

    @Test
    void filesOfTheWrongKindAreNamed() {
        // A key where the CA should be, a certificate where the key should be.
        assertMentions(refusal(https(tls.clientKeyFile(), tls.clientCertFile(), tls.clientKeyFile())),
                "edgeplane.etcd.ca-file (EDGEPLANE_ETCD_CA_FILE)", tls.clientKeyFile().toString(), "holds no PEM certificate");
        assertMentions(refusal(https(tls.caFile(), tls.clientCertFile(), tls.clientCertFile())),
                "edgeplane.etcd.key-file (EDGEPLANE_ETCD_KEY_FILE)", tls.clientCertFile().toString(), "holds no PEM private key");
    }

    @Test
    void aKeyThatIsNotTheCertificatesIsRefused() {
        TestPki.Issued other = tls.ca().client("someone-else", TestPki.KeyType.EC);
        Path otherKey = other.writeKey(dir.resolve("other-key.pem"), TestPki.KeyFormat.PKCS8);
        assertMentions(refusal(https(tls.caFile(), tls.clientCertFile(), otherKey)),
                "edgeplane.etcd.key-file (EDGEPLANE_ETCD_KEY_FILE)", otherKey.toString(), "is not the private key of",
                tls.clientCertFile().toString());
        TestPki.Issued rsa = tls.ca().client("rsa", TestPki.KeyType.RSA);
        Path rsaKey = rsa.writeKey(dir.resolve("rsa-key.pem"), TestPki.KeyFormat.TRADITIONAL);
        assertMentions(refusal(https(tls.caFile(), tls.clientCertFile(), rsaKey)),
                "is not the private key of", "a RSA key for a EC certificate");
    }

    @Test
    void anEncryptedKeyIsRefusedWithHowToDecryptIt() throws Exception {
        TestPki.Issued client = tls.ca().client("encrypted", TestPki.KeyType.EC);
        Path cert = client.writeCertificate(dir.resolve("encrypted.pem"));
        StringWriter pem = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(pem)) {
            writer.writeObject(new JcaPKCS8Generator(client.key(), new JceOpenSSLPKCS8EncryptorBuilder(
                    JcaPKCS8Generator.AES_256_CBC).setProvider(new org.bouncycastle.jce.provider.BouncyCastleProvider())
                    .setPassword("secret".toCharArray()).build()));
        }
        Path key = Files.writeString(dir.resolve("encrypted-key.pem"), pem.toString());
        assertMentions(refusal(https(tls.caFile(), cert, key)),
                "edgeplane.etcd.key-file (EDGEPLANE_ETCD_KEY_FILE)", key.toString(), "is encrypted", "openssl pkey -in");
    }
}
