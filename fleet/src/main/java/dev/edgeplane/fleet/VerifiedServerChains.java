package dev.edgeplane.fleet;

import java.net.Socket;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * The control plane's certificate checked once per simulator JVM instead of once per connection: the
 * JDK's trust manager for a CA bundle (PKIX path, signatures, host name), whose verdict on a server chain
 * is remembered by the chain's bytes and the host it was checked for, for every simulated agent that
 * trusts the same bundle. A real agent makes this check on its own host; in the simulator, 5,000-10,000
 * agents reconnecting made it ~6% of the simulator's CPU, on the cores the control plane is measured on.
 * What the control plane sees is unchanged: the same handshake, the same client certificate.
 *
 * <p>Only accepted chains are remembered (a refused one is checked again each time), at most
 * {@link #REMEMBERED}, and a remembered chain is still refused once its leaf is out of its validity.
 */
final class VerifiedServerChains extends X509ExtendedTrustManager {
    static final int REMEMBERED = 16;

    private final X509ExtendedTrustManager delegate;
    private final Map<String, X509Certificate> accepted = new LinkedHashMap<>(32, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, X509Certificate> eldest) {
            return size() > REMEMBERED;
        }
    };

    VerifiedServerChains(X509ExtendedTrustManager delegate) {
        this.delegate = delegate;
    }

    /** The JDK's PKIX trust manager for these CA certificates, remembering what it accepted. */
    static VerifiedServerChains trusting(X509Certificate... authorities) {
        try {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            for (int i = 0; i < authorities.length; i++) {
                store.setCertificateEntry("ca-" + i, authorities[i]);
            }
            TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init(store);
            for (TrustManager tm : factory.getTrustManagers()) {
                if (tm instanceof X509ExtendedTrustManager x509) {
                    return new VerifiedServerChains(x509);
                }
            }
            throw new IllegalStateException("the JDK offers no X509ExtendedTrustManager");
        } catch (GeneralSecurityException | java.io.IOException e) {
            throw new IllegalStateException("cannot build a trust manager for the CA bundle: " + e.getMessage(), e);
        }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        String host = engine == null ? "" : String.valueOf(engine.getPeerHost());
        String key = key(chain, host);
        if (remembered(key)) {
            return;
        }
        delegate.checkServerTrusted(chain, authType, engine);
        remember(key, chain[0]);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        delegate.checkServerTrusted(chain, authType, socket);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        delegate.checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        delegate.checkClientTrusted(chain, authType, engine);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        delegate.checkClientTrusted(chain, authType, socket);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        delegate.checkClientTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return delegate.getAcceptedIssuers();
    }

    private synchronized boolean remembered(String key) throws CertificateException {
        X509Certificate leaf = accepted.get(key);
        if (leaf == null) {
            return false;
        }
        leaf.checkValidity(); // expired since: refused, as the delegate would
        return true;
    }

    private synchronized void remember(String key, X509Certificate leaf) {
        accepted.put(key, leaf);
    }

    /** sha256 over the chain's DER certificates, and the host name it was checked for. */
    private static String key(X509Certificate[] chain, String host) throws CertificateException {
        if (chain == null || chain.length == 0) {
            throw new CertificateException("the server sent no certificate");
        }
        try {
            MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
            for (X509Certificate certificate : chain) {
                byte[] der = certificate.getEncoded();
                sha256.update(ByteBuffer.allocate(4).putInt(der.length).array()); // lengths too: no two chains hash alike
                sha256.update(der);
            }
            return HexFormat.of().formatHex(sha256.digest()) + "@" + host;
        } catch (GeneralSecurityException e) {
            throw new CertificateException("cannot hash the server's chain: " + e.getMessage(), e);
        }
    }
}
