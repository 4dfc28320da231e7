package dev.edgeplane.testkit;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1Encoding;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.DERBitString;
import org.bouncycastle.asn1.DERNull;
import org.bouncycastle.asn1.DERSequence;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.sec.SECObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Certificate;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x509.TBSCertificate;
import org.bouncycastle.asn1.x509.Time;
import org.bouncycastle.asn1.x509.V3TBSCertificateGenerator;
import org.bouncycastle.asn1.x9.X962Parameters;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;

/**
 * A throwaway certificate authority for tests: a CA and the server and client certificates it signs,
 * written as PEM files. Built from bcprov's ASN.1 classes alone (bcpkix's certificate builders are not
 * a testkit dependency), so tests need neither openssl nor a new library. Valid for a day.
 */
public final class TestPki {
    private static final Duration VALIDITY = Duration.ofDays(1);

    public enum KeyType { EC, RSA }

    /**
     * How a private key file is written: PKCS#8 ({@code BEGIN PRIVATE KEY}), or the traditional form
     * that {@code openssl genrsa} and {@code openssl ecparam -genkey} write (PKCS#1 {@code BEGIN RSA
     * PRIVATE KEY}, SEC1 {@code BEGIN EC PRIVATE KEY}).
     */
    public enum KeyFormat { PKCS8, TRADITIONAL }

    /** A certificate and its private key. */
    public record Issued(X509Certificate certificate, PrivateKey key) {
        public Path writeCertificate(Path file) {
            return writePem(file, "CERTIFICATE", encoded(certificate));
        }

        public Path writeKey(Path file, KeyFormat format) {
            if (format == KeyFormat.PKCS8) {
                return writePem(file, "PRIVATE KEY", key.getEncoded());
            }
            try {
                if (key.getAlgorithm().equals("RSA")) {
                    // PKCS#8 wraps the PKCS#1 RSAPrivateKey: unwrap it.
                    byte[] pkcs1 = PrivateKeyInfo.getInstance(key.getEncoded()).parsePrivateKey().toASN1Primitive()
                            .getEncoded(ASN1Encoding.DER);
                    return writePem(file, "RSA PRIVATE KEY", pkcs1);
                }
                // SEC1 names its curve itself (the JDK's PKCS#8 leaves it to the wrapper) and carries the public point.
                var sec1 = new org.bouncycastle.asn1.sec.ECPrivateKey(256, ((java.security.interfaces.ECPrivateKey) key).getS(),
                        SubjectPublicKeyInfo.getInstance(certificate.getPublicKey().getEncoded()).getPublicKeyData(),
                        new X962Parameters(SECObjectIdentifiers.secp256r1));
                return writePem(file, "EC PRIVATE KEY", sec1.getEncoded(ASN1Encoding.DER));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private final X500Name name;
    private final Issued ca;
    private final SecureRandom random = new SecureRandom();

    private TestPki(X500Name name, Issued ca) {
        this.name = name;
        this.ca = ca;
    }

    /** A new CA (EC P-256, self-signed) named {@code commonName}. */
    public static TestPki create(String commonName) {
        X500Name name = new X500Name("O=Edgeplane tests,CN=" + commonName);
        KeyPair keys = newKeyPair(KeyType.EC);
        ExtensionsGenerator extensions = new ExtensionsGenerator();
        try {
            extensions.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            extensions.addExtension(Extension.keyUsage, true,
                    new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign | KeyUsage.digitalSignature));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        X509Certificate cert = sign(name, keys.getPrivate(), name, keys, extensions, new SecureRandom());
        return new TestPki(name, new Issued(cert, keys.getPrivate()));
    }

    public X509Certificate certificate() {
        return ca.certificate();
    }

    public Path writeCertificate(Path file) {
        return ca.writeCertificate(file);
    }

    /** The CA's own key (PKCS#8), e.g. for {@code openssl x509 -req -CAkey} to sign with this CA. */
    public Path writeKey(Path file) {
        return ca.writeKey(file, KeyFormat.PKCS8);
    }

    /**
     * A server certificate for {@code hosts} (DNS names or IP literals). It may also authenticate as a
     * client: etcd's own HTTP gateway dials etcd's gRPC port with it when client certificates are required.
     */
    public Issued server(String commonName, List<String> hosts) {
        List<GeneralName> names = new ArrayList<>();
        for (String host : hosts) {
            names.add(new GeneralName(isIpLiteral(host) ? GeneralName.iPAddress : GeneralName.dNSName, host));
        }
        return issue(commonName, KeyType.EC, new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth},
                new GeneralNames(names.toArray(GeneralName[]::new)));
    }

    /** A certificate whose extended key usages are {@code oids} (e.g. a grant signer's private usage). */
    public Issued withUsages(String commonName, String... oids) {
        KeyPurposeId[] purposes = java.util.Arrays.stream(oids)
                .map(oid -> KeyPurposeId.getInstance(new org.bouncycastle.asn1.ASN1ObjectIdentifier(oid))).toArray(KeyPurposeId[]::new);
        return issue(commonName, KeyType.EC, purposes, null);
    }

    /** The CA's own certificate and key (a test that signs as the CA itself). */
    public Issued authority() {
        return ca;
    }

    /** A client certificate (CN {@code commonName}) with a key of {@code type}. */
    public Issued client(String commonName, KeyType type) {
        return issue(commonName, type, new KeyPurposeId[] {KeyPurposeId.id_kp_clientAuth}, null);
    }

    private Issued issue(String commonName, KeyType type, KeyPurposeId[] purposes, GeneralNames altNames) {
        KeyPair keys = newKeyPair(type);
        ExtensionsGenerator extensions = new ExtensionsGenerator();
        try {
            extensions.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            extensions.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
            extensions.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(purposes));
            if (altNames != null) {
                extensions.addExtension(Extension.subjectAlternativeName, false, altNames);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        X500Name subject = new X500Name("O=Edgeplane tests,CN=" + commonName);
        return new Issued(sign(name, ca.key(), subject, keys, extensions, random), keys.getPrivate());
    }

    private static X509Certificate sign(X500Name issuer, PrivateKey issuerKey, X500Name subject, KeyPair keys,
                                        ExtensionsGenerator extensions, SecureRandom random) {
        Instant now = Instant.now();
        AlgorithmIdentifier algorithm = issuerKey.getAlgorithm().equals("RSA")
                ? new AlgorithmIdentifier(PKCSObjectIdentifiers.sha256WithRSAEncryption, DERNull.INSTANCE)
                : new AlgorithmIdentifier(X9ObjectIdentifiers.ecdsa_with_SHA256);
        V3TBSCertificateGenerator tbs = new V3TBSCertificateGenerator();
        tbs.setSerialNumber(new ASN1Integer(new BigInteger(64, random).add(BigInteger.ONE)));
        tbs.setSignature(algorithm);
        tbs.setIssuer(issuer);
        tbs.setSubject(subject);
        tbs.setStartDate(new Time(Date.from(now.minus(Duration.ofHours(1)))));
        tbs.setEndDate(new Time(Date.from(now.plus(VALIDITY))));
        tbs.setSubjectPublicKeyInfo(SubjectPublicKeyInfo.getInstance(keys.getPublic().getEncoded()));
        tbs.setExtensions(extensions.generate());
        try {
            TBSCertificate tbsCertificate = tbs.generateTBSCertificate();
            Signature signer = Signature.getInstance(issuerKey.getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA");
            signer.initSign(issuerKey);
            signer.update(tbsCertificate.getEncoded(ASN1Encoding.DER));
            Certificate certificate = Certificate.getInstance(new DERSequence(new ASN1Encodable[] {
                    tbsCertificate, algorithm, new DERBitString(signer.sign())}));
            return (X509Certificate) CertificateFactory.getInstance("X.509")
                    .generateCertificate(new ByteArrayInputStream(certificate.getEncoded(ASN1Encoding.DER)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot sign a test certificate", e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static KeyPair newKeyPair(KeyType type) {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance(type == KeyType.RSA ? "RSA" : "EC");
            if (type == KeyType.RSA) {
                generator.initialize(2048);
            } else {
                generator.initialize(new ECGenParameterSpec("secp256r1"));
            }
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static boolean isIpLiteral(String host) {
        if (!host.matches("[0-9.]+") && !host.contains(":")) {
            return false;
        }
        try {
            InetAddress.getByName(host); // a literal: no lookup
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static byte[] encoded(X509Certificate certificate) {
        try {
            return certificate.getEncoded();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Writes one PEM block (owner-only: some of these are keys). */
    public static Path writePem(Path file, String type, byte[] der) {
        String pem = "-----BEGIN " + type + "-----\n"
                + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
                + "\n-----END " + type + "-----\n";
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Files.writeString(file, pem, StandardCharsets.US_ASCII);
            file.toFile().setReadable(false, false);
            file.toFile().setReadable(true, true);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
