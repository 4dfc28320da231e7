package dev.edgeplane.controlplane.join;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringWriter;
import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import javax.net.ssl.X509ExtendedTrustManager;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
import org.junit.jupiter.api.Test;

class NodeCertificateTrustTest {
    private final CertificateAuthority ca = CertificateAuthority.generate();
    /** node name -> the certificate hash Join recorded for it (what the informer's Node cache says). */
    private final Map<String, String> recorded = new HashMap<>();
    private final X509ExtendedTrustManager trust = ca.nodeTrustManager(recorded::get);

    private static KeyPair keyPair() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        return generator.generateKeyPair();
    }

    static X509Certificate joined(CertificateAuthority ca, String node) throws Exception {
        KeyPair key = keyPair();
        var csr = new JcaPKCS10CertificationRequestBuilder(new X500Name("CN=" + node), key.getPublic())
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(key.getPrivate()));
        StringWriter pem = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(pem)) {
            writer.writeObject(csr);
        }
        return ca.signNodeCsr(pem.toString(), node, java.time.Instant.now(), java.time.Duration.ofDays(365));
    }

    /** A client certificate in the CA's name, signed by the CA's key, valid in [from, to]. */
    private X509Certificate craft(Instant from, Instant to) throws Exception {
        KeyPair key = keyPair();
        var builder = new JcaX509v3CertificateBuilder(ca.certificate(), BigInteger.TEN, Date.from(from), Date.from(to),
                new X500Name("CN=crafted"), key.getPublic());
        builder.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_clientAuth));
        return new JcaX509CertificateConverter().getCertificate(
                builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(ca.privateKey())));
    }

    @Test
    void aCertificateJoinIssuedIsTrusted() throws Exception {
        trust.checkClientTrusted(new X509Certificate[] {joined(ca, "edge-1")}, "ECDHE_ECDSA");
        assertEquals(ca.certificate(), trust.getAcceptedIssuers()[0]);
    }

    @Test
    void aCertificateOfAnotherClustersCaIsRefused() throws Exception {
        CertificateAuthority other = CertificateAuthority.generate(); // same subject name, other key
        CertificateException e = assertThrows(CertificateException.class,
                () -> trust.checkClientTrusted(new X509Certificate[] {joined(other, "edge-1")}, "ECDHE_ECDSA"));
        assertTrue(e.getMessage().contains("signature"), e.getMessage());
    }

    @Test
    void theCertificateRecordedForItsNodeIsTrustedByItsHashAndAnyOtherNeedsTheCasSignature() throws Exception {
        // Signed by another cluster's CA of the same name: only the record can vouch for it.
        X509Certificate foreign = joined(CertificateAuthority.generate(), "edge-2");
        recorded.put("edge-2", CertificateAuthority.hashOf(foreign));
        trust.checkClientTrusted(new X509Certificate[] {foreign}, "ECDHE_ECDSA");

        recorded.put("edge-2", CertificateAuthority.hashOf(joined(ca, "edge-2"))); // a newer join replaced it
        CertificateException e = assertThrows(CertificateException.class,
                () -> trust.checkClientTrusted(new X509Certificate[] {foreign}, "ECDHE_ECDSA"));
        assertTrue(e.getMessage().contains("signature"), e.getMessage());
        // The record is per node: another node's name with this hash proves nothing.
        recorded.clear();
        recorded.put("edge-3", CertificateAuthority.hashOf(foreign));
        assertThrows(CertificateException.class, () -> trust.checkClientTrusted(new X509Certificate[] {foreign}, "ECDHE_ECDSA"));
    }

    @Test
    void aRecordedCertificateMustStillBeValidAndForClients() throws Exception {
        Instant now = Instant.now();
        X509Certificate expired = craft(now.minus(Duration.ofDays(2)), now.minus(Duration.ofDays(1)));
        recorded.put("crafted", CertificateAuthority.hashOf(expired));
        assertThrows(CertificateException.class, () -> trust.checkClientTrusted(new X509Certificate[] {expired}, "ECDHE_ECDSA"));
        X509Certificate server = ca.issueServerCertificate(Set.of("localhost"), java.time.Instant.now(), java.time.Duration.ofDays(365)).certificate();
        recorded.put(CertificateAuthority.commonName(server), CertificateAuthority.hashOf(server));
        assertThrows(CertificateException.class, () -> trust.checkClientTrusted(new X509Certificate[] {server}, "ECDHE_ECDSA"));
    }

    @Test
    void theCaItselfAndTheServersCertificateAreNotNodeCertificates() {
        assertThrows(CertificateException.class, () -> trust.checkClientTrusted(new X509Certificate[] {ca.certificate()}, "ECDHE_ECDSA"));
        X509Certificate server = ca.issueServerCertificate(Set.of("localhost"), java.time.Instant.now(), java.time.Duration.ofDays(365)).certificate();
        CertificateException e = assertThrows(CertificateException.class,
                () -> trust.checkClientTrusted(new X509Certificate[] {server}, "ECDHE_ECDSA"));
        assertTrue(e.getMessage().contains("client authentication"), e.getMessage());
    }

    @Test
    void anExpiredOrNotYetValidCertificateIsRefused() throws Exception {
        Instant now = Instant.now();
        X509Certificate expired = craft(now.minus(Duration.ofDays(2)), now.minus(Duration.ofDays(1)));
        X509Certificate future = craft(now.plus(Duration.ofDays(1)), now.plus(Duration.ofDays(2)));
        assertThrows(CertificateException.class, () -> trust.checkClientTrusted(new X509Certificate[] {expired}, "ECDHE_ECDSA"));
        assertThrows(CertificateException.class, () -> trust.checkClientTrusted(new X509Certificate[] {future}, "ECDHE_ECDSA"));
        trust.checkClientTrusted(new X509Certificate[] {craft(now.minus(Duration.ofHours(1)), now.plus(Duration.ofDays(1)))}, "ECDHE_ECDSA");
    }

    @Test
    void noCertificateAndServerChainsAreRefused() {
        assertThrows(CertificateException.class, () -> trust.checkClientTrusted(new X509Certificate[0], "ECDHE_ECDSA"));
        assertThrows(CertificateException.class, () -> trust.checkServerTrusted(new X509Certificate[] {ca.certificate()}, "ECDHE_ECDSA"));
    }
}
