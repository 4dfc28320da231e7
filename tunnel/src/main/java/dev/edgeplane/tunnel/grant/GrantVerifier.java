package dev.edgeplane.tunnel.grant;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.Grant;
import dev.edgeplane.api.v1.OpenTunnel;
import io.grpc.Status;
import java.security.GeneralSecurityException;
import java.security.PublicKey;
import java.security.Signature;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The agent's check of a session grant: signed by one of the trusted keys (the pinned CA), for this
 * node, for the session it arrived with, not expired, and not seen before (a grant opens one session).
 */
public final class GrantVerifier {
    /** Tolerated clock difference between the control plane and the edge host. */
    private static final Duration SKEW = Duration.ofSeconds(30);
    private static final Duration MAX_LIFETIME = Duration.ofMinutes(10);

    private final java.util.function.Supplier<List<PublicKey>> trusted;
    private final String node;
    private final Clock clock;
    /**
     * Signer certificates whose issuer was checked, with the CA key that issued them: a replica signs
     * every grant with the same certificate, so a session costs one signature check, not two (and no
     * certificate parsing). Whether that CA is still trusted, and the certificate valid, is checked each time.
     */
    private final Map<com.google.protobuf.ByteString, CheckedSigner> checkedSigners = new java.util.concurrent.ConcurrentHashMap<>();
    /** A few replicas, a rollover or two: more than this many signers means something odd; start over. */
    private static final int MAX_CHECKED_SIGNERS = 16;

    private record CheckedSigner(java.security.cert.X509Certificate certificate, PublicKey issuer) {}

    /** Session ids already used, until their grants expire. */
    private final Map<String, Instant> used = new LinkedHashMap<>();

    public GrantVerifier(List<PublicKey> trusted, String node, Clock clock) {
        this(fixed(trusted), node, clock);
    }

    /** @param trusted the keys trusted now, asked at each grant (a CA rollover changes them) */
    public GrantVerifier(java.util.function.Supplier<List<PublicKey>> trusted, String node, Clock clock) {
        this.trusted = trusted;
        this.node = node;
        this.clock = clock;
    }

    private static java.util.function.Supplier<List<PublicKey>> fixed(List<PublicKey> keys) {
        if (keys.isEmpty()) {
            throw new IllegalArgumentException("no key to verify session grants with");
        }
        List<PublicKey> copy = List.copyOf(keys);
        return () -> copy;
    }

    public Grant verify(OpenTunnel open) throws GrantRefused {
        if (!open.hasGrant() || open.getGrant().getGrant().isEmpty()) {
            throw new GrantRefused(Status.Code.UNAUTHENTICATED, "session " + open.getSessionId() + " carries no grant");
        }
        byte[] bytes = open.getGrant().getGrant().toByteArray();
        byte[] signature = open.getGrant().getSignature().toByteArray();
        if (!signedByTrustedSigner(open.getGrant(), bytes, signature)) {
            throw new GrantRefused(Status.Code.UNAUTHENTICATED, "the grant of session " + open.getSessionId()
                    + " is not signed by the control plane this node joined");
        }
        Grant grant;
        try {
            grant = Grant.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw new GrantRefused(Status.Code.UNAUTHENTICATED, "malformed grant: " + e.getMessage());
        }
        if (!grant.getSessionId().equals(open.getSessionId())) {
            throw new GrantRefused(Status.Code.PERMISSION_DENIED, "the grant is for session " + grant.getSessionId()
                    + ", not " + open.getSessionId());
        }
        if (!grant.getNode().equals(node)) {
            throw new GrantRefused(Status.Code.PERMISSION_DENIED, "the grant is for node " + grant.getNode() + ", this is " + node);
        }
        Instant now = clock.instant();
        Instant expires = instant(grant.getExpiresAt());
        Instant issued = instant(grant.getIssuedAt());
        if (!now.isBefore(expires.plus(SKEW))) {
            throw new GrantRefused(Status.Code.PERMISSION_DENIED, "the grant of session " + grant.getSessionId() + " expired at " + expires);
        }
        if (issued.isAfter(now.plus(SKEW)) || Duration.between(issued, expires).compareTo(MAX_LIFETIME) > 0) {
            throw new GrantRefused(Status.Code.PERMISSION_DENIED, "the grant of session " + grant.getSessionId()
                    + " has an implausible lifetime (" + issued + " to " + expires + ")");
        }
        synchronized (used) {
            for (Iterator<Instant> it = used.values().iterator(); it.hasNext(); ) {
                if (!now.isBefore(it.next().plus(SKEW))) {
                    it.remove();
                }
            }
            if (used.putIfAbsent(grant.getSessionId(), expires) != null) {
                throw new GrantRefused(Status.Code.PERMISSION_DENIED, "the grant of session " + grant.getSessionId() + " was already used");
            }
        }
        return grant;
    }

    /**
     * With a signer certificate: it is a grant signer's (GrantSigning.OID), valid now, signed by a trusted
     * CA, and its key made the signature. Without one (an older control plane): a trusted CA key made it.
     */
    private boolean signedByTrustedSigner(dev.edgeplane.api.v1.SignedGrant grant, byte[] bytes, byte[] signature) {
        if (grant.getSignerCertificate().isEmpty()) {
            return signedByTrustedKey(bytes, signature);
        }
        java.security.cert.X509Certificate signer = checkedSigner(grant.getSignerCertificate());
        if (signer == null) {
            return false;
        }
        try {
            Signature verifier = Signature.getInstance(GrantAlgorithms.signatureFor(signer.getPublicKey()));
            verifier.initVerify(signer.getPublicKey());
            verifier.update(bytes);
            return verifier.verify(signature);
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            return false;
        }
    }

    /** The grant signer's certificate if it may sign grants now, else null. */
    private java.security.cert.X509Certificate checkedSigner(com.google.protobuf.ByteString encoded) {
        List<PublicKey> cas = trusted.get();
        CheckedSigner checked = checkedSigners.get(encoded);
        if (checked == null || !cas.contains(checked.issuer())) {
            checked = check(encoded, cas);
            if (checked == null) {
                return null;
            }
            if (checkedSigners.size() >= MAX_CHECKED_SIGNERS) {
                checkedSigners.clear();
            }
            checkedSigners.put(encoded, checked);
        }
        try {
            checked.certificate().checkValidity(java.util.Date.from(clock.instant()));
        } catch (GeneralSecurityException e) {
            return null;
        }
        return checked.certificate();
    }

    /** A grant signer's certificate (GrantSigning.OID, not a CA) issued by one of {@code cas}, or null. */
    private static CheckedSigner check(com.google.protobuf.ByteString encoded, List<PublicKey> cas) {
        java.security.cert.X509Certificate signer;
        try {
            signer = (java.security.cert.X509Certificate) java.security.cert.CertificateFactory.getInstance("X.509")
                    .generateCertificate(encoded.newInput());
            java.util.List<String> usages = signer.getExtendedKeyUsage();
            if (usages == null || !usages.contains(GrantSigning.OID) || signer.getBasicConstraints() != -1) {
                return null;
            }
        } catch (GeneralSecurityException | ClassCastException e) {
            return null;
        }
        for (PublicKey ca : cas) {
            try {
                signer.verify(ca);
                return new CheckedSigner(signer, ca);
            } catch (GeneralSecurityException | IllegalArgumentException e) {
                // another CA of the bundle, perhaps
            }
        }
        return null;
    }

    private boolean signedByTrustedKey(byte[] bytes, byte[] signature) {
        for (PublicKey key : trusted.get()) {
            try {
                Signature verifier = Signature.getInstance(GrantAlgorithms.signatureFor(key));
                verifier.initVerify(key);
                verifier.update(bytes);
                if (verifier.verify(signature)) {
                    return true;
                }
            } catch (GeneralSecurityException | IllegalArgumentException e) {
                // A malformed signature or a key of another kind: try the next key.
            }
        }
        return false;
    }

    static Instant instant(Timestamp t) {
        return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
    }
}
