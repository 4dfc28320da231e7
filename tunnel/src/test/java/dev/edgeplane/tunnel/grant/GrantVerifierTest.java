package dev.edgeplane.tunnel.grant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import dev.edgeplane.api.SwappableKeyManager;
import dev.edgeplane.api.v1.Grant;
import dev.edgeplane.api.v1.OpenTunnel;
import dev.edgeplane.api.v1.SessionRequest;
import dev.edgeplane.api.v1.SignedGrant;
import dev.edgeplane.testkit.TestPki;
import io.grpc.Status;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** Grants signed by a grant signer's key, certified by a trusted CA for grant signing: nothing else passes. */
class GrantVerifierTest {
    private static final String NODE = "edge-1";
    private final TestPki ca = TestPki.create("grant-test-ca");
    private final GrantVerifier verifier = new GrantVerifier(List.of(ca.certificate().getPublicKey()), NODE, Clock.systemUTC());

    private static OpenTunnel open(TestPki.Issued signer) {
        String session = UUID.randomUUID().toString();
        SignedGrant signed = new GrantSigner(() -> new SwappableKeyManager.Identity(signer.key(), new X509Certificate[] {signer.certificate()}),
                Duration.ofSeconds(60), Clock.systemUTC()).sign(session, "tester", NODE, SessionRequest.getDefaultInstance());
        return OpenTunnel.newBuilder().setSessionId(session).setGrant(signed).build();
    }

    private Status.Code refused(OpenTunnel open) {
        return assertThrows(GrantRefused.class, () -> verifier.verify(open)).status().getCode();
    }

    @Test
    void aGrantOfACertifiedGrantSignerIsAccepted() throws Exception {
        assertEquals(NODE, verifier.verify(open(ca.withUsages("signer", GrantSigning.OID))).getNode());
    }

    @Test
    void aNodeOrServerCertificateOfTheSameCaCannotSignGrants() {
        // A node could choose any name, "grant-signer" included: only the usage counts.
        assertEquals(Status.Code.UNAUTHENTICATED, refused(open(ca.client("grant-signer", TestPki.KeyType.EC))));
        assertEquals(Status.Code.UNAUTHENTICATED, refused(open(ca.server("grant-signer", List.of("127.0.0.1")))));
    }

    @Test
    void aGrantSignerOfAnotherCaOrAMismatchedSignatureIsRefused() {
        TestPki other = TestPki.create("another-ca");
        assertEquals(Status.Code.UNAUTHENTICATED, refused(open(other.withUsages("signer", GrantSigning.OID))));

        OpenTunnel genuine = open(ca.withUsages("signer", GrantSigning.OID));
        TestPki.Issued impostor = ca.withUsages("impostor", GrantSigning.OID);
        // The signer's certificate swapped for another certified signer's: the signature is not its key's.
        OpenTunnel swapped = genuine.toBuilder().setGrant(genuine.getGrant().toBuilder()
                .setSignerCertificate(ByteString.copyFrom(encoded(impostor.certificate())))).build();
        assertEquals(Status.Code.UNAUTHENTICATED, refused(swapped));
    }

    @Test
    void aSignerCheckedBeforeIsRefusedOnceItsCaIsNoLongerTrusted() throws Exception {
        // The verifier remembers signers it checked; a CA rollover that drops their CA must still refuse them.
        TestPki next = TestPki.create("next-ca");
        java.util.concurrent.atomic.AtomicReference<List<java.security.PublicKey>> cas = new java.util.concurrent.atomic.AtomicReference<>(
                List.of(ca.certificate().getPublicKey(), next.certificate().getPublicKey()));
        GrantVerifier rolling = new GrantVerifier(cas::get, NODE, Clock.systemUTC());
        TestPki.Issued signer = ca.withUsages("signer", GrantSigning.OID);
        assertEquals(NODE, rolling.verify(open(signer)).getNode());
        assertEquals(NODE, rolling.verify(open(signer)).getNode()); // the remembered check
        cas.set(List.of(next.certificate().getPublicKey()));
        assertEquals(Status.Code.UNAUTHENTICATED, assertThrows(GrantRefused.class, () -> rolling.verify(open(signer))).status().getCode());
        assertEquals(NODE, rolling.verify(open(next.withUsages("signer", GrantSigning.OID))).getNode());
    }

    @Test
    void aGrantSignedByTheCaKeyItselfStillPasses() throws Exception {
        // Control planes before the grant key signed with the CA key: an upgraded agent still serves them.
        String session = UUID.randomUUID().toString();
        Instant now = Instant.now();
        Grant grant = Grant.newBuilder().setSessionId(session).setNode(NODE).setSubject("tester")
                .setIssuedAt(Timestamp.newBuilder().setSeconds(now.getEpochSecond()))
                .setExpiresAt(Timestamp.newBuilder().setSeconds(now.plusSeconds(60).getEpochSecond())).build();
        OpenTunnel legacy = OpenTunnel.newBuilder().setSessionId(session).setGrant(GrantSigner.sign(grant, ca.authority().key())).build();
        assertEquals(NODE, verifier.verify(legacy).getNode());
    }

    private static byte[] encoded(X509Certificate certificate) {
        try {
            return certificate.getEncoded();
        } catch (java.security.cert.CertificateEncodingException e) {
            throw new IllegalStateException(e);
        }
    }
}
