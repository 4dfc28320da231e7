package dev.edgeplane.controlplane.join;

import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.util.Date;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;

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
 * the certificate's CN, accepted by Sync only while its sha256 is the one on the Node. The fields are
 * read from the certificate's DER with Bouncy Castle ({@link CertificateAuthority#structure}): once per
 * connecting node, and the JDK's full parse costs several times more.
 */
final class NodeCertificateTrust extends X509ExtendedTrustManager {
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
        org.bouncycastle.asn1.x509.Certificate fields;
        try {
            fields = CertificateAuthority.structure(leaf);
        } catch (IllegalArgumentException e) {
            throw new CertificateException(e.getMessage(), e);
        }
        List<CertificateAuthority> issuers = cas.get().stream().filter(ca -> ca.namedIssuerOf(fields)).toList();
        if (issuers.isEmpty()) {
            throw new CertificateException("not issued by this cluster's CA: " + fields.getIssuer());
        }
        checkValidity(fields, new Date());
        try {
            checkUsage(fields.getTBSCertificate().getExtensions());
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new CertificateException("unreadable extensions: " + e.getMessage(), e);
        }
        String recorded = recordedHash.apply(CertificateAuthority.commonName(fields.getSubject()));
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

    /** Not a CA, and for signing as a TLS client, where the certificate says what it is for. */
    private static void checkUsage(Extensions extensions) throws CertificateException {
        if (extensions == null) {
            return;
        }
        BasicConstraints constraints = BasicConstraints.fromExtensions(extensions);
        if (constraints != null && constraints.isCA()) {
            throw new CertificateException("a CA certificate is not a node certificate");
        }
        KeyUsage usage = KeyUsage.fromExtensions(extensions);
        if (usage != null && !usage.hasUsages(KeyUsage.digitalSignature)) {
            throw new CertificateException("the certificate's key usage excludes digital signatures");
        }
        ExtendedKeyUsage extended = ExtendedKeyUsage.fromExtensions(extensions);
        if (extended != null && !extended.hasKeyPurposeId(KeyPurposeId.id_kp_clientAuth)) {
            throw new CertificateException("the certificate is not for client authentication");
        }
    }

    private static void checkValidity(org.bouncycastle.asn1.x509.Certificate certificate, Date now) throws CertificateException {
        Date notBefore;
        Date notAfter;
        try {
            notBefore = certificate.getStartDate().getDate();
            notAfter = certificate.getEndDate().getDate();
        } catch (IllegalStateException e) {
            throw new CertificateException("unreadable validity: " + e.getMessage(), e);
        }
        if (now.before(notBefore)) {
            throw new CertificateNotYetValidException("not valid before " + notBefore.toInstant());
        }
        if (now.after(notAfter)) {
            throw new CertificateExpiredException("expired at " + notAfter.toInstant());
        }
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
