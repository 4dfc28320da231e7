package dev.edgeplane.controlplane.sync;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.controlplane.secrets.SecretSealer;
import dev.edgeplane.controlplane.store.Entry;
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
import java.util.Optional;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.jboss.logging.Logger;

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
 * <p>The secret lets its holder mint tickets naming any certificate, so it is kept like the CA's key:
 * sealed under the key-encryption key when one is configured. A resumed session's certificate is
 * checked again all the same ({@link PeerCertificates} at the connection's first call, and every call
 * against its Node), but a minted ticket can name a node's real certificate.
 */
final class SessionTickets {
    /** How long BoringSSL accepts a TLS 1.3 ticket (its default PSK lifetime): older keys decrypt nothing. */
    static final Duration TICKET_LIFETIME = Duration.ofDays(2);
    static final int SECRET_BYTES = 32;
    private static final Logger LOG = Logger.getLogger(SessionTickets.class);
    static final ObjectMeta SEALED_AS = ObjectMeta.newBuilder().setNamespace("edgeplane-system").setName("agent-session-ticket-secret").build();
    private static final String DATA_KEY = "secret";
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

    /**
     * The cluster's secret: read from etcd, or made and stored by the first process that needs it.
     * Sealed under the key-encryption key when one is configured, as the CA's key is: whoever holds the
     * secret can mint a ticket naming any node's certificate, so etcd's readers must not. The secret is
     * disposable (a new one costs each agent one full handshake), so one the configured keys cannot
     * open is replaced rather than stopping the start.
     */
    static byte[] secret(EtcdStore store, SecretSealer sealer) {
        for (int attempt = 0; attempt < 5; attempt++) {
            Optional<Entry<byte[]>> stored = store.get(Keys.SESSION_TICKET_SECRET);
            if (stored.isEmpty()) {
                byte[] made = newSecret();
                if (store.create(Keys.SESSION_TICKET_SECRET, stored(made, sealer)).isPresent()) {
                    return made;
                }
                continue; // another process made it first: read theirs
            }
            long revision = stored.get().modRevision();
            byte[] secret = open(stored.get().value(), sealer);
            if (secret == null) {
                if (store.update(Keys.SESSION_TICKET_SECRET, stored(newSecret(), sealer), revision).isPresent()) {
                    LOG.warnf("replaced %s, which this process cannot open: agents make one full TLS handshake",
                            Keys.SESSION_TICKET_SECRET);
                }
                continue; // read what is there now
            }
            boolean clear = stored.get().value().length == SECRET_BYTES;
            if (sealer.configured() && (clear || sealer.needsResealing(sealedOf(stored.get().value())))
                    && store.update(Keys.SESSION_TICKET_SECRET, stored(secret, sealer), revision).isPresent()) {
                LOG.infof("sealed %s under key '%s'", Keys.SESSION_TICKET_SECRET, sealer.primaryKeyId());
            }
            return secret;
        }
        throw new IllegalStateException(Keys.SESSION_TICKET_SECRET + " kept changing while it was read; start again");
    }

    private static byte[] newSecret() {
        byte[] made = new byte[SECRET_BYTES];
        new SecureRandom().nextBytes(made);
        return made;
    }

    /** The secret in the clear (its 32 bytes) or sealed (a SealedSecret, always longer). */
    private static byte[] stored(byte[] secret, SecretSealer sealer) {
        if (!sealer.configured()) {
            return secret.clone();
        }
        return sealer.seal(Secret.newBuilder().setMetadata(SEALED_AS).setType(Secret.Type.OPAQUE)
                .putData(DATA_KEY, ByteString.copyFrom(secret)).build()).toByteArray();
    }

    /** The secret {@code raw} holds, or null if it holds none this process can open. */
    private static byte[] open(byte[] raw, SecretSealer sealer) {
        if (raw.length == SECRET_BYTES) {
            return raw;
        }
        SealedSecret sealed;
        try {
            sealed = sealedOf(raw);
        } catch (RuntimeException e) {
            LOG.warnf("%s holds neither a secret nor a sealed one: %s", Keys.SESSION_TICKET_SECRET, e.getMessage());
            return null;
        }
        if (!sealer.configured()) {
            // As the CA's key: a process without the key-encryption key must not put a secret in the clear.
            throw new IllegalStateException(Keys.SESSION_TICKET_SECRET + " is sealed under key '" + sealed.getKeyId()
                    + "': start the control plane with its key-encryption key (edgeplane.secrets.key-file)");
        }
        try {
            // Opened under this key's name whatever name it carries: a seal copied from elsewhere fails.
            byte[] secret = sealer.open(sealed.toBuilder().setMetadata(sealed.getMetadata().toBuilder()
                    .setNamespace(SEALED_AS.getNamespace()).setName(SEALED_AS.getName())).build()).getDataOrThrow(DATA_KEY).toByteArray();
            return secret.length == SECRET_BYTES ? secret : null;
        } catch (RuntimeException e) {
            LOG.warnf("cannot open %s: %s", Keys.SESSION_TICKET_SECRET, e.getMessage());
            return null;
        }
    }

    private static SealedSecret sealedOf(byte[] raw) {
        return EtcdStore.decode(SealedSecret.parser(), raw);
    }
}
