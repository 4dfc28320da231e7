package dev.edgeplane.api;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.HexFormat;

/**
 * What an agent whose certificate expired signs with that certificate's key to renew it
 * (RenewNodeCertificateRequest.proof): bound to the node, the new CSR and a time, and prefixed so a
 * signature made for anything else never passes as one.
 */
public final class RenewalProof {
    /** The signature algorithm of the proof (node keys are EC P-256). */
    public static final String ALGORITHM = "SHA256withECDSA";
    private static final String CONTEXT = "edgeplane-renew-v1";

    private RenewalProof() {}

    /** "edgeplane-renew-v1\n&lt;node&gt;\n&lt;sha256 hex of the CSR PEM&gt;\n&lt;epoch seconds&gt;", UTF-8. */
    public static byte[] payload(String node, String csrPem, long epochSeconds) {
        try {
            String csrHash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(csrPem.getBytes(StandardCharsets.UTF_8)));
            return (CONTEXT + "\n" + node + "\n" + csrHash + "\n" + epochSeconds).getBytes(StandardCharsets.UTF_8);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 unavailable", e);
        }
    }
}
