package dev.edgeplane.controlplane.store;

import dev.edgeplane.controlplane.ControlPlaneConfig;
import io.grpc.netty.GrpcSslContexts;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import javax.net.ssl.SSLException;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;
import org.jboss.logging.Logger;

/**
 * The etcd client's TLS, from {@code edgeplane.etcd.ca-file}, {@code cert-file} and {@code key-file},
 * checked against the endpoints once, at startup: a misconfiguration stops the control plane with a
 * message naming the setting and the file, instead of showing up later as failing etcd calls, or not
 * at all as state sent in the clear.
 *
 * <ul>
 *   <li>http:// endpoints: no TLS; any of the three files set is refused (they would be ignored and
 *       everything sent in the clear).</li>
 *   <li>https:// endpoints: every endpoint must be https; {@code ca-file} is required (the JVM's public
 *       trust store is never used for etcd: etcd's certificates come from a private CA, and trusting
 *       every public CA would let any certificate issued for that name stand in for etcd).
 *       {@code cert-file} and {@code key-file} go together; without them no client certificate is
 *       presented (enough only for an etcd without --client-cert-auth).</li>
 *   <li>The key may be PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM, as openssl, cfssl and etcd's tooling
 *       write them (Bouncy Castle reads all three); encrypted keys are refused. It must belong to the
 *       certificate, which must be valid now.</li>
 * </ul>
 * Files are read once: a renewed client certificate takes effect at the next restart.
 */
final class EtcdTls {
    private static final Logger LOG = Logger.getLogger(EtcdTls.class);
    static final String ENDPOINTS = "edgeplane.etcd.endpoints";
    static final String CA_FILE = "edgeplane.etcd.ca-file";
    static final String CERT_FILE = "edgeplane.etcd.cert-file";
    static final String KEY_FILE = "edgeplane.etcd.key-file";

    private EtcdTls() {}

    /**
     * The client TLS context for https:// endpoints, empty for http:// ones; IllegalStateException
     * (naming the setting and the file) for any combination that would not work or not be private.
     */
    static Optional<SslContext> clientContext(ControlPlaneConfig.Etcd etcd) {
        List<String> endpoints = etcd.endpoints();
        Optional<String> ca = etcd.caFile();
        Optional<String> cert = etcd.certFile();
        Optional<String> key = etcd.keyFile();
        List<String> https = endpoints.stream().filter(EtcdTls::isHttps).toList();
        if (https.isEmpty()) {
            List<String> set = new ArrayList<>();
            ca.ifPresent(f -> set.add(setting(CA_FILE)));
            cert.ifPresent(f -> set.add(setting(CERT_FILE)));
            key.ifPresent(f -> set.add(setting(KEY_FILE)));
            if (!set.isEmpty()) {
                throw new IllegalStateException(String.join(", ", set) + (set.size() == 1 ? " is" : " are")
                        + " set, but " + setting(ENDPOINTS) + " " + endpoints + " are not https://: etcd would be"
                        + " reached in the clear without them. Use https:// endpoints, or unset the TLS files.");
            }
            return Optional.empty();
        }
        if (https.size() < endpoints.size()) {
            List<String> clear = endpoints.stream().filter(e -> !isHttps(e)).toList();
            throw new IllegalStateException(setting(ENDPOINTS) + " mixes https:// and other endpoints (" + clear
                    + "): one client speaks TLS to all of them or to none; make every endpoint https://.");
        }
        if (ca.isEmpty()) {
            throw new IllegalStateException(setting(ENDPOINTS) + " are https:// but " + setting(CA_FILE)
                    + " is not set: set it to the PEM certificate of the CA that signed etcd's server certificates"
                    + " (the JVM's default trust store is not used for etcd).");
        }
        if (cert.isPresent() != key.isPresent()) {
            String given = cert.isPresent() ? CERT_FILE : KEY_FILE;
            String missing = cert.isPresent() ? KEY_FILE : CERT_FILE;
            throw new IllegalStateException(setting(given) + " (" + cert.orElseGet(key::get) + ") is set without "
                    + setting(missing) + ": a client certificate needs its key, set both or neither.");
        }

        Path caPath = Path.of(ca.get());
        List<X509Certificate> trusted = certificates(CA_FILE, caPath);
        SslContextBuilder builder = GrpcSslContexts.forClient().trustManager(trusted.toArray(X509Certificate[]::new));
        String identity = "no client certificate (etcd must not require one)";
        if (cert.isPresent()) {
            Path certPath = Path.of(cert.get());
            Path keyPath = Path.of(key.get());
            List<X509Certificate> chain = certificates(CERT_FILE, certPath);
            X509Certificate leaf = chain.get(0);
            PrivateKey privateKey = privateKey(keyPath);
            checkPair(leaf, certPath, privateKey, keyPath);
            checkValidity(leaf, certPath);
            builder.keyManager(privateKey, chain.toArray(X509Certificate[]::new));
            identity = "client certificate " + leaf.getSubjectX500Principal().getName() + " from " + certPath
                    + " (valid until " + leaf.getNotAfter().toInstant() + ")";
        }
        try {
            SslContext context = builder.build();
            LOG.infof("etcd over TLS: trusting %d CA certificate(s) from %s; %s", trusted.size(), caPath, identity);
            return Optional.of(context);
        } catch (SSLException e) {
            throw new IllegalStateException("cannot set up TLS to etcd from " + setting(CA_FILE) + " " + caPath
                    + (cert.isPresent() ? ", " + setting(CERT_FILE) + " " + cert.get() + " and " + setting(KEY_FILE) + " " + key.get() : "")
                    + ": " + e.getMessage(), e);
        }
    }

    private static boolean isHttps(String endpoint) {
        return endpoint.trim().toLowerCase(Locale.ROOT).startsWith("https://");
    }

    /** "edgeplane.etcd.ca-file (EDGEPLANE_ETCD_CA_FILE)": how an operator sets it either way. */
    static String setting(String property) {
        return property + " (" + property.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_') + ")";
    }

    /** The certificates of a PEM file, in order (a chain: the leaf first); at least one. */
    private static List<X509Certificate> certificates(String property, Path file) {
        String text = read(property, file);
        List<X509Certificate> certificates = new ArrayList<>();
        try (PEMParser parser = new PEMParser(new StringReader(text))) {
            JcaX509CertificateConverter converter = new JcaX509CertificateConverter();
            Object object;
            while ((object = parser.readObject()) != null) {
                if (object instanceof X509CertificateHolder holder) {
                    certificates.add(converter.getCertificate(holder));
                }
            }
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            throw new IllegalStateException(setting(property) + ": " + file + " is not a readable PEM file: " + e.getMessage(), e);
        }
        if (certificates.isEmpty()) {
            throw new IllegalStateException(setting(property) + ": " + file
                    + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }
        return certificates;
    }

    /** The private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), unencrypted. */
    private static PrivateKey privateKey(Path file) {
        String text = read(KEY_FILE, file);
        Object found = null;
        try (PEMParser parser = new PEMParser(new StringReader(text))) {
            Object object;
            // Skips what is not a key: the EC PARAMETERS block `openssl ecparam -genkey` writes first, a certificate.
            while ((object = parser.readObject()) != null && found == null) {
                if (object instanceof PrivateKeyInfo || object instanceof PEMKeyPair
                        || object instanceof PEMEncryptedKeyPair || object instanceof PKCS8EncryptedPrivateKeyInfo) {
                    found = object;
                }
            }
            JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
            if (found instanceof PrivateKeyInfo info) { // BEGIN PRIVATE KEY
                return converter.getPrivateKey(info);
            }
            if (found instanceof PEMKeyPair pair) { // BEGIN RSA PRIVATE KEY, BEGIN EC PRIVATE KEY
                return converter.getKeyPair(pair).getPrivate();
            }
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException(setting(KEY_FILE) + ": " + file + " is not a readable PEM private key: " + e.getMessage(), e);
        }
        if (found != null) {
            throw new IllegalStateException(setting(KEY_FILE) + ": " + file + " is encrypted; the control plane needs it"
                    + " unencrypted (protect it by file mode instead): openssl pkey -in " + file + " -out " + file + ".plain");
        }
        throw new IllegalStateException(setting(KEY_FILE) + ": " + file + " holds no PEM private key (PKCS#8"
                + " -----BEGIN PRIVATE KEY-----, PKCS#1 -----BEGIN RSA PRIVATE KEY----- or SEC1 -----BEGIN EC PRIVATE KEY-----)");
    }

    /** The key must be the certificate's: a mismatch would otherwise surface as an opaque handshake failure. */
    private static void checkPair(X509Certificate certificate, Path certPath, PrivateKey key, Path keyPath) {
        String mismatch = setting(KEY_FILE) + ": " + keyPath + " is not the private key of " + setting(CERT_FILE) + " " + certPath;
        String algorithm = certificate.getPublicKey().getAlgorithm();
        if (!algorithm.equals(key.getAlgorithm())) {
            throw new IllegalStateException(mismatch + " (a " + key.getAlgorithm() + " key for a " + algorithm + " certificate)");
        }
        String signature = switch (algorithm) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            default -> null; // another algorithm: the TLS handshake is the check
        };
        if (signature == null) {
            return;
        }
        try {
            byte[] challenge = new byte[32];
            new SecureRandom().nextBytes(challenge);
            Signature signer = Signature.getInstance(signature);
            signer.initSign(key);
            signer.update(challenge);
            byte[] signed = signer.sign();
            Signature verifier = Signature.getInstance(signature);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(challenge);
            if (!verifier.verify(signed)) {
                throw new IllegalStateException(mismatch);
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(mismatch + ": " + e.getMessage(), e);
        }
    }

    private static void checkValidity(X509Certificate certificate, Path file) {
        try {
            certificate.checkValidity();
        } catch (CertificateExpiredException e) {
            throw new IllegalStateException(setting(CERT_FILE) + ": " + file + " expired at "
                    + certificate.getNotAfter().toInstant() + "; etcd would refuse it: renew it");
        } catch (CertificateNotYetValidException e) {
            throw new IllegalStateException(setting(CERT_FILE) + ": " + file + " is not valid before "
                    + certificate.getNotBefore().toInstant() + " (is this host's clock right?)");
        }
    }

    private static String read(String property, Path file) {
        if (Files.isDirectory(file)) {
            throw new IllegalStateException(setting(property) + ": " + file + " is a directory, not a PEM file");
        }
        try {
            return Files.readString(file, StandardCharsets.ISO_8859_1); // any bytes: a DER file is then "no PEM"
        } catch (NoSuchFileException e) {
            throw new IllegalStateException(setting(property) + ": " + file + " does not exist");
        } catch (AccessDeniedException e) {
            throw new IllegalStateException(setting(property) + ": " + file + " cannot be read by this user (permission denied)");
        } catch (IOException e) {
            throw new IllegalStateException(setting(property) + ": " + file + " cannot be read: " + e, e);
        }
    }
}
