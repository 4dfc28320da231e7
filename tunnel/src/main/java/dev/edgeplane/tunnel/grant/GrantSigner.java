package dev.edgeplane.tunnel.grant;

import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.Grant;
import dev.edgeplane.api.v1.SessionRequest;
import dev.edgeplane.api.v1.SignedGrant;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.Signature;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;

/**
 * Issues the short-lived grant of one session, signed with the replica's grant-signing key and carrying
 * that key's certificate (issued by the CA the agent pinned, for grant signing only), so an agent opens
 * nothing the control plane did not sign for, and the CA's key signs certificates only.
 */
public final class GrantSigner {
    private final java.util.function.Supplier<dev.edgeplane.api.SwappableKeyManager.Identity> signer;
    private final Duration lifetime;
    private final Clock clock;

    /**
     * @param signer the grant-signing key and its certificate (issued by the CA for grant signing only),
     *               asked at each grant: it is renewed, and reissued by a new CA after a rollover
     */
    public GrantSigner(java.util.function.Supplier<dev.edgeplane.api.SwappableKeyManager.Identity> signer, Duration lifetime, Clock clock) {
        this.signer = signer;
        this.lifetime = lifetime;
        this.clock = clock;
    }

    public SignedGrant sign(String sessionId, String subject, String node, SessionRequest request) {
        Instant now = clock.instant();
        Grant grant = Grant.newBuilder()
                .setSessionId(sessionId)
                .setSubject(subject)
                .setNode(node)
                .setRequest(request)
                .setIssuedAt(timestamp(now))
                .setExpiresAt(timestamp(now.plus(lifetime)))
                .build();
        dev.edgeplane.api.v1.SignedGrant.Builder signed = sign(grant, signer.get().key()).toBuilder();
        try {
            return signed.setSignerCertificate(ByteString.copyFrom(signer.get().certificate().getEncoded())).build();
        } catch (java.security.cert.CertificateEncodingException e) {
            throw new IllegalStateException("cannot encode the grant signer's certificate", e);
        }
    }

    /** Signs {@code grant} as it is (tests use it to make expired or foreign grants). */
    public static SignedGrant sign(Grant grant, PrivateKey key) {
        byte[] bytes = grant.toByteArray();
        try {
            Signature signature = Signature.getInstance(GrantAlgorithms.signatureFor(key));
            signature.initSign(key);
            signature.update(bytes);
            return SignedGrant.newBuilder()
                    .setGrant(ByteString.copyFrom(bytes))
                    .setSignature(ByteString.copyFrom(signature.sign()))
                    .build();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot sign a session grant with a " + key.getAlgorithm() + " key", e);
        }
    }

    static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder().setSeconds(instant.getEpochSecond()).setNanos(instant.getNano()).build();
    }
}
