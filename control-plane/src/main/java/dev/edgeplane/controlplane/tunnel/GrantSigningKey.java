package dev.edgeplane.controlplane.tunnel;

import dev.edgeplane.api.SwappableKeyManager;
import dev.edgeplane.controlplane.join.CertificateAuthority;
import dev.edgeplane.controlplane.join.ClusterCa;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import org.jboss.logging.Logger;

/**
 * This replica's key for signing ops-tunnel grants, separate from the CA's: made in memory at first
 * use (never stored anywhere), certified by the signing CA for grant signing only, for a week. A new key
 * and certificate are made when the certificate has less than a day left or the signing CA changed (a
 * rollover's switch): agents trust whatever a CA of their bundle certified.
 */
final class GrantSigningKey {
    private static final Logger LOG = Logger.getLogger(GrantSigningKey.class);
    static final Duration VALIDITY = Duration.ofDays(7);
    private static final Duration RENEW_BEFORE = Duration.ofDays(1);

    private final ClusterCa ca;
    private final Clock clock;
    private SwappableKeyManager.Identity current;
    private String issuer;

    GrantSigningKey(ClusterCa ca, Clock clock) {
        this.ca = ca;
        this.clock = clock;
    }

    /** The key and its certificate to sign a grant with now. */
    synchronized SwappableKeyManager.Identity current() {
        CertificateAuthority signing = ca.get();
        Instant now = clock.instant();
        if (current == null || !signing.hash().equals(issuer)
                || current.certificate().getNotAfter().toInstant().isBefore(now.plus(RENEW_BEFORE))) {
            KeyPair keys = CertificateAuthority.newSigningKeyPair();
            X509Certificate certificate = signing.issueGrantSigner(keys.getPublic(), now, VALIDITY);
            current = new SwappableKeyManager.Identity(keys.getPrivate(), new X509Certificate[] {certificate});
            issuer = signing.hash();
            LOG.infof("made the grant-signing key of this replica, certified by %s until %s", issuer, certificate.getNotAfter().toInstant());
        }
        return current;
    }
}
