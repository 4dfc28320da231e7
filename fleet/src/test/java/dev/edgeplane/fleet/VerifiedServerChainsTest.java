package dev.edgeplane.fleet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.edgeplane.testkit.TestPki;
import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import org.junit.jupiter.api.Test;

class VerifiedServerChainsTest {
    private static final TestPki CLUSTER_CA = TestPki.create("cluster CA");
    private static final X509Certificate[] SERVER = {CLUSTER_CA.server("control plane", List.of("127.0.0.1")).certificate()};

    @Test
    void theJdksCheckAcceptsTheClustersChainAndRefusesAnotherCasChain() throws Exception {
        VerifiedServerChains trust = VerifiedServerChains.trusting(CLUSTER_CA.certificate());
        trust.checkServerTrusted(SERVER, "ECDHE_ECDSA", (SSLEngine) null);

        X509Certificate[] foreign = {TestPki.create("another CA").server("control plane", List.of("127.0.0.1")).certificate()};
        assertThrows(CertificateException.class, () -> trust.checkServerTrusted(foreign, "ECDHE_ECDSA", (SSLEngine) null));
    }

    @Test
    void anAcceptedChainIsCheckedOnceForItsHost() throws Exception {
        Counting delegate = new Counting(true);
        VerifiedServerChains trust = new VerifiedServerChains(delegate);
        SSLEngine engine = engineFor("127.0.0.1");
        for (int i = 0; i < 5; i++) {
            trust.checkServerTrusted(SERVER, "ECDHE_ECDSA", engine);
        }
        assertEquals(1, delegate.serverChecks);

        trust.checkServerTrusted(SERVER, "ECDHE_ECDSA", engineFor("localhost")); // another host name: its own check
        assertEquals(2, delegate.serverChecks);
    }

    @Test
    void aRefusedChainIsCheckedAgainEachTime() {
        Counting delegate = new Counting(false);
        VerifiedServerChains trust = new VerifiedServerChains(delegate);
        SSLEngine engine = engineFor("127.0.0.1");
        for (int i = 0; i < 3; i++) {
            assertThrows(CertificateException.class, () -> trust.checkServerTrusted(SERVER, "ECDHE_ECDSA", engine));
        }
        assertEquals(3, delegate.serverChecks);
    }

    @Test
    void atMostSixteenChainsAreRemembered() throws Exception {
        Counting delegate = new Counting(true);
        VerifiedServerChains trust = new VerifiedServerChains(delegate);
        for (int i = 0; i <= VerifiedServerChains.REMEMBERED; i++) { // one more than it keeps: the first is forgotten
            trust.checkServerTrusted(SERVER, "ECDHE_ECDSA", engineFor("host-" + i));
        }
        trust.checkServerTrusted(SERVER, "ECDHE_ECDSA", engineFor("host-0"));
        assertEquals(VerifiedServerChains.REMEMBERED + 2, delegate.serverChecks);
    }

    @Test
    void aServerWithoutACertificateIsRefused() {
        VerifiedServerChains trust = new VerifiedServerChains(new Counting(true));
        assertThrows(CertificateException.class,
                () -> trust.checkServerTrusted(new X509Certificate[0], "ECDHE_ECDSA", engineFor("127.0.0.1")));
    }

    private static SSLEngine engineFor(String host) {
        try {
            return SSLContext.getDefault().createSSLEngine(host, 443);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Accepts or refuses every server chain, counting the checks. */
    private static final class Counting extends X509ExtendedTrustManager {
        private final boolean accept;
        int serverChecks;

        Counting(boolean accept) {
            this.accept = accept;
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            serverChecks++;
            if (!accept) {
                throw new CertificateException("refused");
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) {
            throw new AssertionError("not used");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {
            throw new AssertionError("not used");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
            throw new AssertionError("not used");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {
            throw new AssertionError("not used");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
            throw new AssertionError("not used");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
