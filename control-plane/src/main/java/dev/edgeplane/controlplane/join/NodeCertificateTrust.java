package dev.edgeplane.controlplane.join;

import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Trust for the agent endpoint's client certificates: a node certificate is one this cluster's CA
 * issued directly (Join signs nothing else), within its validity, not a CA, for client auth.
 *
 * <p>Why not the JDK's PKIX trust manager: it builds and validates a certificate path and checks the
 * signature with the JDK 17 EC provider, ~5 ms of CPU per handshake here, and every handshake of a
 * reconnecting fleet (19,000 after a control-plane restart) pays it. The one check that matters is
 * that this CA issued the leaf, and there are two ways to know it: the certificate's sha256 is the
 * one Join recorded on the Node when it signed it ({@code recordedHash}, from the informer's cache:
 * a hash lookup), or else the CA's signature on it (~1-3 ms of CPU with Bouncy Castle here: half of
 * the control plane's CPU during a reconnect herd, before the record). The node's identity is then
 * the certificate's CN, accepted by Sync only while its sha256 is the one on the Node.
 */
final class NodeCertificateTrust extends X509ExtendedTrustManager {
    private static final String CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
    private static final int DIGITAL_SIGNATURE = 0;

    private final Supplier<List<CertificateAuthority>> cas;
    private final Function<String, String> recordedHash;

    /**
     * @param cas          the CAs trusted now (two during a CA rollover), read at each check
     * @param recordedHash node name -> the sha256 ("sha256:hex") of the certificate Join issued it,
     *                     or null when unknown (then a CA's signature decides)
     */
    NodeCertificateTrust(Supplier<List<CertificateAuthority>> cas, Function<String, String> recordedHash) {
        this.cas = cas;
        this.recordedHash = recordedHash;
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        if (chain == null || chain.length == 0) {
            throw new CertificateException("no client certificate");
        }
        X509Certificate leaf = chain[0];
        List<CertificateAuthority> issuers = cas.get().stream().filter(ca -> ca.namedIssuerOf(leaf)).toList();
        if (issuers.isEmpty()) {
            throw new CertificateException("not issued by this cluster's CA: " + leaf.getIssuerX500Principal());
        }
        leaf.checkValidity();
        if (leaf.getBasicConstraints() != -1) {
            throw new CertificateException("a CA certificate is not a node certificate");
        }
        boolean[] usage = leaf.getKeyUsage();
        if (usage != null && !usage[DIGITAL_SIGNATURE]) {
            throw new CertificateException("the certificate's key usage excludes digital signatures");
        }
        List<String> extended = leaf.getExtendedKeyUsage();
        if (extended != null && !extended.contains(CLIENT_AUTH)) {
            throw new CertificateException("the certificate is not for client authentication");
        }
        String recorded = recordedHash.apply(CertificateAuthority.commonName(leaf));
        if (recorded != null && recorded.equals(CertificateAuthority.hashOf(leaf))) {
            return; // the very certificate Join signed and recorded: its signature was good then
        }
        for (CertificateAuthority ca : issuers) {
            if (ca.signed(leaf)) {
                return;
            }
        }
        throw new CertificateException("the certificate's signature is not this cluster's CA's");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        throw new CertificateException("the agent endpoint trusts clients only");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return cas.get().stream().map(CertificateAuthority::certificate).toArray(X509Certificate[]::new);
    }
}
