package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.controlplane.secrets.KeyRing;
import dev.edgeplane.controlplane.secrets.SecretSealer;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.EtcdStoreExtension;
import dev.edgeplane.controlplane.store.Keys;
import io.netty.handler.ssl.OpenSslSessionTicketKey;
import java.security.SecureRandom;
import java.util.Base64;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The ticket keys' derivation (pure), and their secret at rest against a real etcd. */
class SessionTicketsTest {
    @RegisterExtension
    static final EtcdStoreExtension etcd = new EtcdStoreExtension();
    private static final byte[] SECRET = filled(7);
    private static final Duration DAY = Duration.ofHours(24);
    private static final Instant NOON = Instant.parse("2026-12-07T12:00:00Z");

    private static byte[] filled(int value) {
        byte[] secret = new byte[SessionTickets.SECRET_BYTES];
        Arrays.fill(secret, (byte) value);
        return secret;
    }

    private static void assertSameKey(OpenSslSessionTicketKey expected, OpenSslSessionTicketKey actual) {
        assertArrayEquals(expected.name(), actual.name());
        assertArrayEquals(expected.hmacKey(), actual.hmacKey());
        assertArrayEquals(expected.aesKey(), actual.aesKey());
    }

    @Test
    void everyProcessWithTheSecretDerivesTheSameKeysWithinAnEpoch() {
        OpenSslSessionTicketKey[] morning = SessionTickets.keysAt(SECRET, Instant.parse("2026-12-07T00:00:01Z"), DAY);
        OpenSslSessionTicketKey[] evening = SessionTickets.keysAt(SECRET.clone(), Instant.parse("2026-12-07T23:59:59Z"), DAY);
        assertEquals(morning.length, evening.length);
        for (int i = 0; i < morning.length; i++) {
            assertSameKey(morning[i], evening[i]);
        }
    }

    @Test
    void aRotationMakesANewEncryptingKeyAndKeepsTheOldOnesForDecrypting() {
        OpenSslSessionTicketKey[] today = SessionTickets.keysAt(SECRET, NOON, DAY);
        OpenSslSessionTicketKey[] tomorrow = SessionTickets.keysAt(SECRET, NOON.plus(DAY), DAY);
        assertFalse(Arrays.equals(today[0].name(), tomorrow[0].name()));
        assertFalse(Arrays.equals(today[0].aesKey(), tomorrow[0].aesKey()));
        assertSameKey(today[0], tomorrow[1]);
        assertSameKey(today[1], tomorrow[2]);
    }

    @Test
    void theKeysDecryptEveryTicketStillWithinItsLifetime() {
        // current + two days of previous epochs
        assertEquals(3, SessionTickets.keysAt(SECRET, NOON, DAY).length);
        assertEquals(1 + 7, SessionTickets.keysAt(SECRET, NOON, Duration.ofHours(7)).length);
        assertEquals(1 + 48, SessionTickets.keysAt(SECRET, NOON, Duration.ofHours(1)).length);
    }

    @Test
    void anotherSecretGivesOtherKeys() {
        OpenSslSessionTicketKey[] ours = SessionTickets.keysAt(SECRET, NOON, DAY);
        OpenSslSessionTicketKey[] theirs = SessionTickets.keysAt(filled(8), NOON, DAY);
        for (int i = 0; i < ours.length; i++) {
            assertFalse(Arrays.equals(ours[i].name(), theirs[i].name()));
            assertFalse(Arrays.equals(ours[i].hmacKey(), theirs[i].hmacKey()));
        }
    }

    @Test
    void theKeysChangeAtTheNextEpochsStart() {
        assertEquals(Instant.parse("2026-12-08T00:00:00Z"), SessionTickets.nextRotation(NOON, DAY));
        assertEquals(Instant.parse("2026-12-07T13:00:00Z"), SessionTickets.nextRotation(NOON, Duration.ofHours(1)));
    }

    @Test
    void aRotationUnderAnHourIsRefusedNamingTheSetting() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SessionTickets.keysAt(SECRET, NOON, Duration.ofMinutes(59)));
        assertEquals(true, e.getMessage().contains("edgeplane.agent.session-ticket-rotation"));
    }

    @BeforeEach
    void noSecretYet() {
        EtcdStore store = etcd.store();
        store.get(Keys.SESSION_TICKET_SECRET).ifPresent(e -> store.delete(Keys.SESSION_TICKET_SECRET, e.modRevision()));
    }

    private static SecretSealer sealer(String lines) {
        return new SecretSealer(lines.isEmpty() ? KeyRing.empty() : KeyRing.parse(lines, "test"));
    }

    private static String kek(String id) {
        byte[] bytes = new byte[32];
        new SecureRandom().nextBytes(bytes);
        return id + ":" + Base64.getEncoder().encodeToString(bytes);
    }

    private static byte[] raw() {
        return etcd.store().get(Keys.SESSION_TICKET_SECRET).orElseThrow().value();
    }

    @Test
    void theSecretIsMadeOnceAndSealedOnceAKeyIsConfigured() {
        EtcdStore store = etcd.store();
        byte[] made = SessionTickets.secret(store, sealer(""));
        assertEquals(SessionTickets.SECRET_BYTES, made.length);
        assertArrayEquals(made, SessionTickets.secret(store, sealer("")), "every process reads the one made first");
        assertArrayEquals(made, raw(), "in the clear without a key-encryption key");

        String k1 = kek("k1");
        assertArrayEquals(made, SessionTickets.secret(store, sealer(k1)), "the same secret");
        assertEquals("k1", EtcdStore.decode(SealedSecret.parser(), raw()).getKeyId(), "sealed at rest");
        assertArrayEquals(made, SessionTickets.secret(store, sealer(k1)));
        IllegalStateException without = assertThrows(IllegalStateException.class, () -> SessionTickets.secret(store, sealer("")));
        assertEquals(true, without.getMessage().contains("edgeplane.secrets.key-file"), without.getMessage());
        assertEquals("k1", EtcdStore.decode(SealedSecret.parser(), raw()).getKeyId(), "not put back in the clear");
    }

    @Test
    void aSecretTheConfiguredKeysCannotOpenIsReplacedSealed() {
        EtcdStore store = etcd.store();
        byte[] first = SessionTickets.secret(store, sealer(kek("k1")));
        byte[] replaced = SessionTickets.secret(store, sealer(kek("k2")));
        assertFalse(Arrays.equals(first, replaced), "a new secret: agents make one full handshake");
        assertEquals("k2", EtcdStore.decode(SealedSecret.parser(), raw()).getKeyId());
    }
}
