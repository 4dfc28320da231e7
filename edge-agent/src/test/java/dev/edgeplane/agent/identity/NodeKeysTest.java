package dev.edgeplane.agent.identity;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.StringReader;
import java.security.KeyPair;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.junit.jupiter.api.Test;

/** The JDK-only CSR and key PEM, read back by BouncyCastle (what the control plane's CA parses them with). */
class NodeKeysTest {
    @Test
    void csrIsAValidPkcs10RequestWithTheNodeNameAsCommonName() throws Exception {
        KeyPair keys = NodeKeys.generate();
        for (String name : new String[] {"edge-1", "n".repeat(200), "bench-node.example"}) {
            String pem = NodeKeys.csrPem(keys, name);
            assertTrue(pem.startsWith("-----BEGIN CERTIFICATE REQUEST-----\n"), pem);
            try (PEMParser parser = new PEMParser(new StringReader(pem))) {
                PKCS10CertificationRequest csr = (PKCS10CertificationRequest) parser.readObject();
                java.security.Signature verifier = java.security.Signature.getInstance("SHA256withECDSA");
                verifier.initVerify(keys.getPublic());
                verifier.update(csr.toASN1Structure().getCertificationRequestInfo().getEncoded("DER"));
                assertTrue(verifier.verify(csr.getSignature()));
                assertEquals(name, csr.getSubject().getRDNs(BCStyle.CN)[0].getFirst().getValue().toString());
                assertArrayEquals(keys.getPublic().getEncoded(), csr.getSubjectPublicKeyInfo().getEncoded());
                assertEquals("1.2.840.10045.4.3.2", csr.getSignatureAlgorithm().getAlgorithm().getId());
                assertEquals(0, csr.getAttributes().length);
            }
        }
    }

    @Test
    void pkcs8KeyRoundTrips() throws Exception {
        KeyPair keys = NodeKeys.generate();
        assertArrayEquals(keys.getPrivate().getEncoded(), Pem.privateKey(Pem.pkcs8(keys.getPrivate())).getEncoded());
        IOException sec1 = assertThrows(IOException.class,
                () -> Pem.privateKey("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"));
        assertTrue(sec1.getMessage().contains("PKCS#8"), sec1.getMessage());
        assertThrows(IOException.class, () -> Pem.privateKey("nothing"));
    }
}
