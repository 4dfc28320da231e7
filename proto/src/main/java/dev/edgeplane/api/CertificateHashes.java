package dev.edgeplane.api;

import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.util.HexFormat;

/** How a certificate is named wherever one is compared (node annotations, CA pins, heartbeats): "sha256:" + hex(sha256(DER)). */
public final class CertificateHashes {
    private CertificateHashes() {}

    public static String sha256(X509Certificate certificate) {
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(certificate.getEncoded()));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot hash a certificate", e);
        }
    }
}
