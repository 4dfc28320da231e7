package dev.edgeplane.controlplane.sync;

import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import io.netty.handler.ssl.OpenSslSessionTicketKey;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The agent endpoint's TLS session ticket keys, the same in every control-plane process: derived from
 * one secret kept in etcd and the clock, so an agent's ticket from before a restart (or from another
 * replica) resumes its session without a full handshake. A resumed TLS 1.3 handshake makes no
 * signature on either side; after a restart under 19,000 agents, full handshakes were most of the
 * endpoint's TLS work.
 *
 * <p>Keys rotate every {@code rotation}: the current epoch's key encrypts new tickets, the previous
 * ones still decrypt theirs for as long as BoringSSL honours a TLS 1.3 ticket (two days). No write
 * rotates anything: every process computes the same keys from the secret, each epoch.
 *
 * <p>The secret lets its holder mint tickets, so it is as sensitive as the CA's key, which etcd holds
 * next to it. A resumed session is checked again all the same ({@code NodeCertificateTrust}
 * re-checks its certificate, and every call checks that certificate against its Node).
 */
final class SessionTickets {
    /** How long BoringSSL accepts a TLS 1.3 ticket (its default PSK lifetime): older keys decrypt nothing. */
    static final Duration TICKET_LIFETIME = Duration.ofDays(2);
    static final int SECRET_BYTES = 32;
    private static final byte[] LABEL = "edgeplane agent endpoint session ticket key".getBytes(StandardCharsets.US_ASCII);

    private SessionTickets() {}

    /**
     * The keys in force at {@code now}, newest first (the one that encrypts): the current epoch's and
     * enough previous ones to decrypt any ticket still within {@link #TICKET_LIFETIME}.
     */
    static OpenSslSessionTicketKey[] keysAt(byte[] secret, Instant now, Duration rotation) {
        long epoch = epoch(now, rotation);
        long previous = (TICKET_LIFETIME.toSeconds() + rotation.toSeconds() - 1) / rotation.toSeconds();
        List<OpenSslSessionTicketKey> keys = new ArrayList<>();
        for (long e = epoch; e >= epoch - previous; e--) {
            keys.add(keyOf(secret, e));
        }
        return keys.toArray(OpenSslSessionTicketKey[]::new);
    }

    /** When the keys next change: the start of the next epoch. */
    static Instant nextRotation(Instant now, Duration rotation) {
        return Instant.ofEpochSecond((epoch(now, rotation) + 1) * rotation.toSeconds());
    }

    private static long epoch(Instant now, Duration rotation) {
        // BoringSSL looks a ticket's key up among all of them: at most 49 (a rotation each hour).
        if (rotation.compareTo(Duration.ofHours(1)) < 0) {
            throw new IllegalArgumentException("edgeplane.agent.session-ticket-rotation must be at least 1h: " + rotation);
        }
        return Math.floorDiv(now.getEpochSecond(), rotation.toSeconds());
    }

    /** Name, HMAC key and AES key of one epoch: HMAC-SHA256(secret, label | epoch | block), two blocks. */
    private static OpenSslSessionTicketKey keyOf(byte[] secret, long epoch) {
        byte[] material = new byte[64];
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            for (byte block = 1; block <= 2; block++) {
                mac.update(LABEL);
                mac.update(ByteBuffer.allocate(Long.BYTES).putLong(epoch).array());
                mac.update(block);
                mac.doFinal(material, (block - 1) * 32);
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this JVM", e);
        }
        int name = OpenSslSessionTicketKey.NAME_SIZE;
        int hmac = OpenSslSessionTicketKey.HMAC_KEY_SIZE;
        return new OpenSslSessionTicketKey(Arrays.copyOfRange(material, 0, name),
                Arrays.copyOfRange(material, name, name + hmac),
                Arrays.copyOfRange(material, name + hmac, name + hmac + OpenSslSessionTicketKey.AES_KEY_SIZE));
    }

    /** The cluster's secret: read from etcd, or made and stored by the first process that needs it. */
    static byte[] secret(EtcdStore store) {
        for (int attempt = 0; attempt < 3; attempt++) {
            var stored = store.get(Keys.SESSION_TICKET_SECRET);
            if (stored.isPresent()) {
                byte[] secret = stored.get().value();
                if (secret.length != SECRET_BYTES) {
                    throw new IllegalStateException(Keys.SESSION_TICKET_SECRET + " holds " + secret.length + " bytes, not "
                            + SECRET_BYTES + "; delete it and restart to make a new one (agents then make one full handshake)");
                }
                return secret;
            }
            byte[] made = new byte[SECRET_BYTES];
            new SecureRandom().nextBytes(made);
            if (store.create(Keys.SESSION_TICKET_SECRET, made).isPresent()) {
                return made;
            }
            // another process made it first: read theirs
        }
        throw new IllegalStateException("cannot read or create " + Keys.SESSION_TICKET_SECRET);
    }
}
