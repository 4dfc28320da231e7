package dev.edgeplane.agent;

import dev.edgeplane.agent.identity.NodeKeys;
import dev.edgeplane.agent.identity.Pem;
import java.io.StringReader;
import java.math.BigInteger;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.concurrent.atomic.AtomicLong;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;

/** A throwaway CA for tests: signs server certificates and node CSRs like the control plane does. */
public final class TestPki {
    private final AtomicLong serial = new AtomicLong(System.nanoTime());
    private final KeyPair caKeys;
    private final X509Certificate ca;

    public TestPki(String name) {
        this.caKeys = NodeKeys.generate();
        try {
            X500Name subject = new X500Name("CN=" + name);
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(subject, BigInteger.valueOf(serial.incrementAndGet()),
                    Date.from(Instant.now().minus(Duration.ofHours(1))), Date.from(Instant.now().plus(Duration.ofDays(1))),
                    subject, caKeys.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            this.ca = new JcaX509CertificateConverter().getCertificate(
                    builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(caKeys.getPrivate())));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    public X509Certificate ca() {
        return ca;
    }

    public String caPem() {
        return Pem.encode(ca);
    }

    /** A server certificate for localhost/127.0.0.1 and its key. */
    public Issued server() {
        KeyPair keys = NodeKeys.generate();
        return new Issued(keys, sign(new X500Name("CN=localhost"), keys, true));
    }

    /** Signs a node's CSR (PEM) the way Join does: CN from the CSR. */
    public X509Certificate signCsr(String csrPem) {
        try (PEMParser parser = new PEMParser(new StringReader(csrPem))) {
            JcaPKCS10CertificationRequest csr = new JcaPKCS10CertificationRequest((PKCS10CertificationRequest) parser.readObject());
            return sign(csr.getSubject(), new KeyPair(csr.getPublicKey(), null), false);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** A node identity (key + certificate) without a join, e.g. for a state dir a test writes. */
    public Issued node(String name) {
        KeyPair keys = NodeKeys.generate();
        return new Issued(keys, sign(new X500Name("CN=" + name), keys, false));
    }

    private X509Certificate sign(X500Name subject, KeyPair keys, boolean server) {
        return sign(subject, keys, server, java.util.List.of("localhost", "127.0.0.1"));
    }

    /** A server certificate for other names (a certificate of this CA the agent must not accept for 127.0.0.1). */
    public Issued server(String... names) {
        KeyPair keys = NodeKeys.generate();
        return new Issued(keys, sign(new X500Name("CN=" + names[0]), keys, true, java.util.List.of(names)));
    }

    private X509Certificate sign(X500Name subject, KeyPair keys, boolean server, java.util.List<String> names) {
        try {
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(ca, BigInteger.valueOf(serial.incrementAndGet()),
                    Date.from(Instant.now().minus(Duration.ofHours(1))), Date.from(Instant.now().plus(Duration.ofDays(1))),
                    subject, keys.getPublic());
            if (server) {
                builder.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names.stream()
                        .map(n -> new GeneralName(n.matches("[0-9.]+") ? GeneralName.iPAddress : GeneralName.dNSName, n))
                        .toArray(GeneralName[]::new)));
            }
            // As the control plane's CA does: server certificates for serverAuth, node certificates for clientAuth.
            builder.addExtension(Extension.extendedKeyUsage, false, new org.bouncycastle.asn1.x509.ExtendedKeyUsage(server
                    ? org.bouncycastle.asn1.x509.KeyPurposeId.id_kp_serverAuth : org.bouncycastle.asn1.x509.KeyPurposeId.id_kp_clientAuth));
            return new JcaX509CertificateConverter().getCertificate(
                    builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(caKeys.getPrivate())));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    public record Issued(KeyPair keys, X509Certificate certificate) {
        public String certificatePem() {
            return Pem.encode(certificate);
        }

        public String keyPem() {
            return Pem.pkcs8(keys.getPrivate());
        }
    }
}
