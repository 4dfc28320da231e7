package dev.edgeplane.controlplane.join;

import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.DERSequence;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.PKCSException;
import org.jboss.logging.Logger;

/**
 * The control plane's CA: an EC P-256 key and a self-signed 10-year certificate, generated at first
 * start and kept in etcd ({@code /edgeplane/ca}, certificate PEM then PKCS#8 key PEM). Creation is
 * create-if-absent, so replicas starting together agree on one CA.
 */
public final class CertificateAuthority {
    private static final Logger LOG = Logger.getLogger(CertificateAuthority.class);
    private static final String SIGNATURE = "SHA256withECDSA";
    private static final Duration CA_VALIDITY = Duration.ofDays(3650);
    /**
     * Certificates are dated this far back (a tenth of a short validity at most): a host whose clock
     * runs a little slow still accepts a fresh one.
     */
    private static final Duration BACKDATE = Duration.ofHours(1);

    /**
     * ECDSA P-256 by Bouncy Castle, not the JDK 17 provider: a Join verifies a CSR and signs a
     * certificate, and on this JDK those cost ~3 and ~6 ms of CPU against ~1 ms each with BC (measured
     * side by side): the difference between a join storm being CPU-bound on signatures or not.
     * Stateless and thread-safe; not registered globally.
     */
    private static final java.security.Provider EC_PROVIDER = new org.bouncycastle.jce.provider.BouncyCastleProvider();

    private final X509Certificate certificate;
    private final PrivateKey key;
    /**
     * The CA's keys as Bouncy Castle keys, converted once: BC caches a key's precomputed multiples
     * of the curve's points on the key's own parameter objects, and converting a JDK key on every
     * signature made new ones each time (a fifth of a Join's CPU was that precomputation).
     */
    private final PrivateKey signingKey;
    private final PublicKey verifyingKey;
    private final String certificatePem;
    private final String hash;
    /** The subject's DER: the issuer name of every certificate this CA issues, byte for byte (leafBuilder). */
    private final byte[] subjectDer;
    private final SecureRandom random = new SecureRandom();

    private CertificateAuthority(X509Certificate certificate, PrivateKey key) {
        this.certificate = certificate;
        this.subjectDer = certificate.getSubjectX500Principal().getEncoded();
        this.key = key;
        try {
            KeyFactory keys = KeyFactory.getInstance("EC", EC_PROVIDER);
            this.signingKey = keys.generatePrivate(new PKCS8EncodedKeySpec(key.getEncoded()));
            this.verifyingKey = keys.generatePublic(new X509EncodedKeySpec(certificate.getPublicKey().getEncoded()));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the CA's key is not an EC key Bouncy Castle reads", e);
        }
        this.certificatePem = pem(certificate);
        this.hash = hashOf(certificate);
    }

    /** The CA's private key, within this package (tests craft certificates in the CA's name with it). */
    PrivateKey privateKey() {
        return key;
    }

    /** The certificate and then the PKCS#8 key, PEM: how the CA is kept (sealed, see {@link ClusterCa}). */
    String storedPem() {
        return certificatePem + pem(key);
    }

    public static CertificateAuthority generate() {
        try {
            KeyPair pair = newKeyPair();
            X500Name name = new X500NameBuilder(BCStyle.INSTANCE)
                    .addRDN(BCStyle.O, "Edgeplane").addRDN(BCStyle.CN, "edgeplane-ca").build();
            Instant now = Instant.now();
            JcaX509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(name, serial(new SecureRandom()),
                    Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(CA_VALIDITY)), name, pair.getPublic());
            JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
            builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign | KeyUsage.digitalSignature));
            builder.addExtension(Extension.subjectKeyIdentifier, false, utils.createSubjectKeyIdentifier(pair.getPublic()));
            X509Certificate cert = convert(builder.build(signer(pair.getPrivate())));
            return new CertificateAuthority(cert, pair.getPrivate());
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot generate the CA", e);
        }
    }

    static CertificateAuthority parse(String pem) {
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            X509Certificate cert = null;
            PrivateKey key = null;
            Object object;
            while ((object = parser.readObject()) != null) {
                if (object instanceof X509CertificateHolder holder) {
                    cert = convert(holder);
                } else if (object instanceof PrivateKeyInfo info) {
                    key = new JcaPEMKeyConverter().getPrivateKey(info);
                }
            }
            if (cert == null || key == null) {
                throw new IllegalStateException("the stored cluster CA holds no certificate and key");
            }
            return new CertificateAuthority(cert, key);
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException("cannot read the stored cluster CA", e);
        }
    }

    public X509Certificate certificate() {
        return certificate;
    }

    /**
     * A certificate for a replica's grant-signing key: for signing ops-tunnel grants only (the extended
     * key usage GrantSigning.OID, which no node or server certificate carries), so the CA's own key
     * signs certificates and nothing else.
     */
    public X509Certificate issueGrantSigner(PublicKey signerKey, Instant now, Duration validity) {
        try {
            X500Name subject = new X500NameBuilder(BCStyle.INSTANCE)
                    .addRDN(BCStyle.O, "Edgeplane").addRDN(BCStyle.CN, "edgeplane-grant-signer").build();
            JcaX509v3CertificateBuilder builder = leafBuilder(subject, signerKey, now, validity);
            builder.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.getInstance(
                    new org.bouncycastle.asn1.ASN1ObjectIdentifier(dev.edgeplane.tunnel.grant.GrantSigning.OID))));
            return convert(builder.build(signer(signingKey)));
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot issue the grant signer's certificate", e);
        }
    }

    /** A fresh EC P-256 key pair (a grant signer's). */
    public static KeyPair newSigningKeyPair() {
        try {
            return newKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("EC P-256 unavailable", e);
        }
    }

    /**
     * What the agent endpoint trusts: certificates this CA issued to nodes ({@link NodeCertificateTrust}).
     *
     * @param recordedHash node name -> the sha256 of the certificate Join recorded for it, or null
     */
    public javax.net.ssl.X509ExtendedTrustManager nodeTrustManager(java.util.function.Function<String, String> recordedHash) {
        return new NodeCertificateTrust(() -> List.of(this), recordedHash);
    }

    /**
     * Whether {@code certificate} names this CA as its issuer. Compares the DER bytes, not
     * X500Principal.equals: that computes the canonical form of the leaf's name on every handshake (2.5%
     * of a restarted control plane's CPU while 10,000 agents resumed), and this CA writes its subject
     * into the certificates it issues unchanged.
     */
    boolean namedIssuerOf(org.bouncycastle.asn1.x509.Certificate certificate) {
        try {
            return java.util.Arrays.equals(subjectDer, certificate.getIssuer().getEncoded(org.bouncycastle.asn1.ASN1Encoding.DER));
        } catch (IOException e) {
            return false;
        }
    }

    /** Whether this CA's key signed {@code certificate} (with Bouncy Castle, on the key converted once). */
    boolean signed(X509Certificate certificate) {
        try {
            certificate.verify(verifyingKey, EC_PROVIDER);
            return true;
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    public String certificatePem() {
        return certificatePem;
    }

    /** "sha256:" + hex(sha256(CA certificate DER)): what agents pin. */
    public String hash() {
        return hash;
    }

    public static String hashOf(X509Certificate cert) {
        return dev.edgeplane.api.CertificateHashes.sha256(cert);
    }

    /** A leaf certificate and key for the agent endpoint, valid for {@code hosts} (names or IPs). */
    public record ServerIdentity(PrivateKey key, X509Certificate certificate) {}

    public ServerIdentity issueServerCertificate(Set<String> hosts, Instant now, Duration validity) {
        try {
            KeyPair pair = newKeyPair();
            List<ASN1Encodable> names = new ArrayList<>();
            for (String host : new LinkedHashSet<>(hosts)) {
                names.add(isIpLiteral(host)
                        ? new GeneralName(GeneralName.iPAddress, host)
                        : new GeneralName(GeneralName.dNSName, host));
            }
            X500Name subject = new X500NameBuilder(BCStyle.INSTANCE)
                    .addRDN(BCStyle.O, "Edgeplane").addRDN(BCStyle.CN, "edgeplane-agent-endpoint").build();
            JcaX509v3CertificateBuilder builder = leafBuilder(subject, pair.getPublic(), now, validity);
            builder.addExtension(Extension.subjectAlternativeName, false, new DERSequence(names.toArray(ASN1Encodable[]::new)));
            builder.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
            return new ServerIdentity(pair.getPrivate(), convert(builder.build(signer(signingKey))));
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot issue the agent endpoint certificate", e);
        }
    }

    /**
     * Signs a node's CSR. The certificate's CN is {@code nodeName}, whatever the CSR asked for: the
     * Sync endpoint takes the node's identity from it.
     */
    public X509Certificate signNodeCsr(String csrPem, String nodeName, Instant now, Duration validity) throws InvalidCsrException {
        PKCS10CertificationRequest csr;
        try (PEMParser parser = new PEMParser(new StringReader(csrPem))) {
            Object object = parser.readObject();
            if (!(object instanceof PKCS10CertificationRequest request)) {
                throw new InvalidCsrException("csr_pem is not a PEM certificate request");
            }
            csr = request;
        } catch (IOException e) {
            throw new InvalidCsrException("csr_pem cannot be parsed: " + e.getMessage());
        }
        try {
            // As a BC key on BC's shared curve parameters: the generator's precomputed table is reused.
            PublicKey publicKey = new JcaPEMKeyConverter().setProvider(EC_PROVIDER).getPublicKey(csr.getSubjectPublicKeyInfo());
            if (!csr.isSignatureValid(new JcaContentVerifierProviderBuilder().setProvider(EC_PROVIDER).build(publicKey))) {
                throw new InvalidCsrException("csr_pem signature does not verify");
            }
            X500Name subject = new X500NameBuilder(BCStyle.INSTANCE)
                    .addRDN(BCStyle.O, "edgeplane:nodes").addRDN(BCStyle.CN, nodeName).build();
            JcaX509v3CertificateBuilder builder = leafBuilder(subject, publicKey, now, validity);
            builder.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_clientAuth));
            return convert(builder.build(signer(signingKey)));
        } catch (OperatorCreationException | PKCSException | GeneralSecurityException | IOException e) {
            throw new InvalidCsrException("csr_pem cannot be signed: " + e.getMessage());
        }
    }

    /**
     * Whether this CA issued {@code leaf} as a node certificate (its signature, not a CA, for client
     * auth), whatever its validity dates: renewal decides about those itself.
     */
    public boolean issuedNodeCertificate(X509Certificate leaf) {
        if (!leaf.getIssuerX500Principal().equals(certificate.getSubjectX500Principal()) || leaf.getBasicConstraints() != -1) {
            return false;
        }
        try {
            List<String> extended = leaf.getExtendedKeyUsage();
            if (extended == null || !extended.contains(KeyPurposeId.id_kp_clientAuth.getId())) {
                return false;
            }
            return signed(leaf);
        } catch (java.security.cert.CertificateParsingException e) {
            return false;
        }
    }

    /** One PEM certificate; IllegalArgumentException says why it is not one. */
    public static X509Certificate parseCertificate(String pem) {
        try {
            return (X509Certificate) java.security.cert.CertificateFactory.getInstance("X.509")
                    .generateCertificate(new java.io.ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
        } catch (GeneralSecurityException | ClassCastException e) {
            throw new IllegalArgumentException("not a PEM X.509 certificate: " + e.getMessage());
        }
    }

    /** The CN of a certificate's subject. */
    public static String commonName(X509Certificate cert) {
        return commonName(structure(cert).getSubject());
    }

    static String commonName(X500Name name) {
        var rdns = name.getRDNs(BCStyle.CN);
        return rdns.length == 0 ? "" : rdns[0].getFirst().getValue().toString();
    }

    /**
     * The certificate's ASN.1 structure, parsed from its DER by Bouncy Castle. The agent endpoint reads
     * a connecting node's certificate this way: Netty's OpenSSL peer certificates parse only when a getter
     * asks, and the JDK's parse (every extension, the public key decoded) was 3.2% of the control plane's
     * CPU while a fleet resumed, once per node.
     */
    static org.bouncycastle.asn1.x509.Certificate structure(X509Certificate cert) {
        try {
            return org.bouncycastle.asn1.x509.Certificate.getInstance(cert.getEncoded());
        } catch (java.security.cert.CertificateEncodingException | IllegalArgumentException e) {
            throw new IllegalArgumentException("not a DER certificate: " + e.getMessage(), e);
        }
    }

    public static final class InvalidCsrException extends Exception {
        public InvalidCsrException(String message) {
            super(message);
        }
    }

    private JcaX509v3CertificateBuilder leafBuilder(X500Name subject, PublicKey publicKey, Instant now, Duration validity)
            throws GeneralSecurityException, IOException {
        JcaX509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(certificate, serial(random),
                Date.from(now.minus(BACKDATE.compareTo(validity.dividedBy(10)) < 0 ? BACKDATE : validity.dividedBy(10))),
                Date.from(now.plus(validity)), subject, publicKey);
        JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
        builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
        builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
        builder.addExtension(Extension.authorityKeyIdentifier, false, utils.createAuthorityKeyIdentifier(certificate));
        return builder;
    }

    private static boolean isIpLiteral(String host) {
        if (!host.matches("[0-9.]+") && !host.contains(":")) {
            return false;
        }
        try {
            InetAddress.getByName(host); // a literal never triggers a lookup
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static KeyPair newKeyPair() throws GeneralSecurityException {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        return generator.generateKeyPair();
    }

    private static BigInteger serial(SecureRandom random) {
        return new BigInteger(127, random).add(BigInteger.ONE);
    }

    private static ContentSigner signer(PrivateKey key) {
        try {
            return new JcaContentSignerBuilder(SIGNATURE).setProvider(EC_PROVIDER).build(key);
        } catch (OperatorCreationException e) {
            throw new IllegalStateException(e);
        }
    }

    private static X509Certificate convert(X509CertificateHolder holder) throws GeneralSecurityException {
        return new JcaX509CertificateConverter().getCertificate(holder);
    }

    public static String pem(Object object) {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(out)) {
            writer.writeObject(object instanceof PrivateKey pk ? new org.bouncycastle.openssl.jcajce.JcaPKCS8Generator(pk, null) : object);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }
}
