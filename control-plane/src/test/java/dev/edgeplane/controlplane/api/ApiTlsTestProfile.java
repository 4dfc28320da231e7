package dev.edgeplane.controlplane.api;

import dev.edgeplane.testkit.FreePorts;
import dev.edgeplane.testkit.TestPki;
import io.quarkus.test.junit.QuarkusTestProfile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The public API over TLS only, as an operator configures it: a certificate and key from files
 * (Quarkus' own settings), plaintext requests refused. The CA is written next to them for the client.
 */
public class ApiTlsTestProfile implements QuarkusTestProfile {
    static final Path DIR = dir();
    static final int TLS_PORT = FreePorts.next();

    private static Path dir() {
        try {
            Path dir = Files.createTempDirectory("edgeplane-api-tls");
            // Gone when the test JVM exits (a private key among them): files first, then the directory,
            // which deleteOnExit does in the reverse order of registration.
            dir.toFile().deleteOnExit();
            TestPki pki = TestPki.create("api-test-ca");
            pki.writeCertificate(temporary(dir.resolve("ca.crt")));
            TestPki.Issued server = pki.server("127.0.0.1", List.of("127.0.0.1", "localhost"));
            server.writeCertificate(temporary(dir.resolve("server.crt")));
            server.writeKey(temporary(dir.resolve("server.key")), TestPki.KeyFormat.PKCS8);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path temporary(Path file) {
        file.toFile().deleteOnExit();
        return file;
    }

    @Override
    public Map<String, String> getConfigOverrides() {
        return Map.of(
                "quarkus.http.ssl.certificate.files", DIR.resolve("server.crt").toString(),
                "quarkus.http.ssl.certificate.key-files", DIR.resolve("server.key").toString(),
                "quarkus.http.test-ssl-port", String.valueOf(TLS_PORT),
                "quarkus.http.insecure-requests", "disabled");
    }
}
