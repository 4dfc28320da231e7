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
 * Issues the short-lived grant of one session, signed with the control plane's CA key (the key the
 * agent pinned at join), so an agent opens nothing the control plane did not sign for.
 */
public final class GrantSigner {
    private final java.util.function.Supplier<PrivateKey> key;
    private final Duration lifetime;
    private final Clock clock;

    public GrantSigner(PrivateKey key, Duration lifetime, Clock clock) {
        this(() -> key, lifetime, clock);
    }

    /** @param key the signing key now, asked at each grant (a CA rollover changes it) */
    public GrantSigner(java.util.function.Supplier<PrivateKey> key, Duration lifetime, Clock clock) {
        this.key = key;
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
        return sign(grant, key.get());
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
