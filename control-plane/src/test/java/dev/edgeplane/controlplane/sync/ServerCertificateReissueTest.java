package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.edgeplane.api.SwappableKeyManager;
import dev.edgeplane.controlplane.join.CertificateAuthority;
import dev.edgeplane.testkit.FreePorts;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.netty.handler.ssl.SslProvider;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The agent endpoint's TLS with a reissued server certificate: after the swap, new handshakes get the
 * new certificate (with the JDK and with OpenSSL's cached key material), with no restart.
 */
class ServerCertificateReissueTest {
    private static final CertificateAuthority CA = CertificateAuthority.generate();

    @ParameterizedTest
    @EnumSource(value = SslProvider.class, names = {"JDK", "OPENSSL"})
    void newHandshakesGetTheReissuedCertificate(SslProvider provider) throws Exception {
        SwappableKeyManager identity = new SwappableKeyManager(issue());
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", FreePorts.next()))
                .sslContext(AgentEndpoint.serverTls(identity, provider, CA.nodeTrustManager(node -> null)))
                .build().start();
        try {
            BigInteger first = serverSerial(server.getPort());
            assertEquals(identity.get().certificate().getSerialNumber(), first);
            assertEquals(first, serverSerial(server.getPort()), "the same until reissued");

            identity.set(issue());
            BigInteger second = serverSerial(server.getPort());
            assertNotEquals(first, second);
            assertEquals(identity.get().certificate().getSerialNumber(), second);
        } finally {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private static SwappableKeyManager.Identity issue() {
        CertificateAuthority.ServerIdentity issued = CA.issueServerCertificate(Set.of("127.0.0.1"), Instant.now(), Duration.ofHours(1));
        return new SwappableKeyManager.Identity(issued.key(), new X509Certificate[] {issued.certificate(), CA.certificate()});
    }

    /** One TLS handshake as an agent does it (trusting only the CA): the serial of the certificate the server presented. */
    private static BigInteger serverSerial(int port) throws Exception {
        KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
        trust.load(null, null);
        trust.setCertificateEntry("ca", CA.certificate());
        TrustManagerFactory trustManagers = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trustManagers.init(trust);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trustManagers.getTrustManagers(), null);
        try (SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", port)) {
            var parameters = socket.getSSLParameters();
            parameters.setApplicationProtocols(new String[] {"h2"});
            socket.setSSLParameters(parameters);
            socket.startHandshake();
            return ((X509Certificate) socket.getSession().getPeerCertificates()[0]).getSerialNumber();
        }
    }
}
