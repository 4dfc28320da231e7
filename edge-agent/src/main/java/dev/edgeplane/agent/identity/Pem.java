package dev.edgeplane.agent.identity;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * PEM in and out for keys, certificates and CSRs, with the JDK only: the agent carries no BouncyCastle
 * at run time (Netty would load and register its whole provider, ~700 classes, as soon as it is on the
 * class path).
 */
public final class Pem {
    private static final String PRIVATE_KEY = "PRIVATE KEY";

    private Pem() {}

    /** One PEM block of {@code type} ("CERTIFICATE", "CERTIFICATE REQUEST"...) around {@code der}. */
    public static String block(String type, byte[] der) {
        String body = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der);
        return "-----BEGIN " + type + "-----\n" + body + "\n-----END " + type + "-----\n";
    }

    public static String encode(X509Certificate certificate) {
        try {
            return block("CERTIFICATE", certificate.getEncoded());
        } catch (CertificateEncodingException e) {
            throw new IllegalStateException("cannot write PEM", e);
        }
    }

    /** A private key as PKCS#8 PEM ("PRIVATE KEY"), the form every TLS stack reads. */
    public static String pkcs8(PrivateKey key) {
        return block(PRIVATE_KEY, key.getEncoded());
    }

    public static List<X509Certificate> certificates(String pem) throws CertificateException {
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        List<X509Certificate> certificates = new ArrayList<>();
        for (var certificate : factory.generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)))) {
            certificates.add((X509Certificate) certificate);
        }
        if (certificates.isEmpty()) {
            throw new CertificateException("no certificate in PEM");
        }
        return certificates;
    }

    /** The PKCS#8 key ("BEGIN PRIVATE KEY", what join and renewal write): EC, else RSA. */
    public static PrivateKey privateKey(String pem) throws IOException {
        String begin = "-----BEGIN " + PRIVATE_KEY + "-----";
        String end = "-----END " + PRIVATE_KEY + "-----";
        int from = pem.indexOf(begin);
        int to = from < 0 ? -1 : pem.indexOf(end, from);
        if (from < 0 || to < 0) {
            throw new IOException(pem.contains("PRIVATE KEY-----")
                    ? "the private key is not PKCS#8 (BEGIN PRIVATE KEY): convert it with openssl pkcs8 -topk8 -nocrypt"
                    : "no private key in PEM");
        }
        byte[] der;
        try {
            der = Base64.getMimeDecoder().decode(pem.substring(from + begin.length(), to));
        } catch (IllegalArgumentException e) {
            throw new IOException("the private key's PEM is not base64: " + e.getMessage());
        }
        GeneralSecurityException first = null;
        for (String algorithm : List.of("EC", "RSA")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        throw new IOException("cannot read the private key: " + first.getMessage(), first);
    }
}
