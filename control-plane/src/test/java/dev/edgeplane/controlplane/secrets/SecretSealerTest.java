package dev.edgeplane.controlplane.secrets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.api.v1.Secret;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Envelope encryption of Secrets, rotation between keys, and the key file's format. */
class SecretSealerTest {
    static final String K1 = "k1:" + randomKey();
    static final String K2 = "k2:" + randomKey();

    static String randomKey() {
        byte[] key = new byte[32];
        new SecureRandom().nextBytes(key);
        return Base64.getEncoder().encodeToString(key);
    }

    static SecretSealer sealer(String lines) {
        return new SecretSealer(KeyRing.parse(lines, "test"));
    }

    static Secret secret(String ns, String name, String key, String value) {
        return Secret.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName(name).putLabels("tier", "web"))
                .setType(Secret.Type.OPAQUE).putData(key, ByteString.copyFromUtf8(value)).build();
    }

    private static SealedSecret flipLastByte(SealedSecret sealed, boolean wrappedKey) {
        byte[] bytes = (wrappedKey ? sealed.getWrappedDataKey() : sealed.getSealedData()).toByteArray();
        bytes[bytes.length - 1] ^= 1;
        return wrappedKey ? sealed.toBuilder().setWrappedDataKey(ByteString.copyFrom(bytes)).build()
                : sealed.toBuilder().setSealedData(ByteString.copyFrom(bytes)).build();
    }

    @Test
    void sealsAndOpensWithTheLayoutOfSealedSecret() {
        SecretSealer sealer = sealer(K1);
        Secret secret = secret("default", "db", "password", "hunter2-very-secret");
        SealedSecret sealed = sealer.seal(secret);
        assertEquals("k1", sealed.getKeyId());
        assertEquals(secret.getMetadata(), sealed.getMetadata());
        assertEquals(Secret.Type.OPAQUE, sealed.getType());
        assertEquals(12 + 32 + 16, sealed.getWrappedDataKey().size(), "nonce, AES-256 key, GCM tag");
        assertFalse(sealed.toByteString().toStringUtf8().contains("hunter2"), "the value is not in the sealed form");
        assertEquals(secret, sealer.open(sealed));
        assertNotEquals(sealed.getSealedData(), sealer.seal(secret).getSealedData(), "a fresh data key and nonce per seal");
        assertFalse(sealer.needsResealing(sealed));
    }

    @Test
    void aTamperedSealedValueOrWrappedKeyFailsNamingTheSecretAndKey() {
        SecretSealer sealer = sealer(K1);
        SealedSecret sealed = sealer.seal(secret("default", "db", "password", "hunter2"));
        for (boolean wrappedKey : new boolean[] {true, false}) {
            SealingException e = assertThrows(SealingException.class, () -> sealer.open(flipLastByte(sealed, wrappedKey)));
            assertEquals(SealingException.Reason.AUTHENTICATION_FAILED, e.reason());
            assertTrue(e.getMessage().contains("default/db") && e.getMessage().contains("'k1'"), e.getMessage());
            assertFalse(e.getMessage().contains("hunter2"));
        }
        SealedSecret truncated = sealed.toBuilder().setSealedData(ByteString.copyFrom(new byte[5])).build();
        assertEquals(SealingException.Reason.AUTHENTICATION_FAILED, assertThrows(SealingException.class, () -> sealer.open(truncated)).reason());
    }

    @Test
    void aSealedValueMovedToAnotherNameDoesNotOpen() {
        SecretSealer sealer = sealer(K1);
        SealedSecret sealed = sealer.seal(secret("default", "db", "password", "hunter2"));
        SealedSecret renamed = sealed.toBuilder().setMetadata(sealed.getMetadata().toBuilder().setName("web")).build();
        assertThrows(SealingException.class, () -> sealer.open(renamed));
        SealedSecret otherNamespace = sealed.toBuilder().setMetadata(sealed.getMetadata().toBuilder().setNamespace("prod")).build();
        assertThrows(SealingException.class, () -> sealer.open(otherNamespace));
        // Read from another etcd key: bound to that key's name, whatever the value carries.
        assertThrows(SealingException.class, () -> sealer.openStored("/edgeplane/secrets/default/web", sealed));
        assertEquals("hunter2", sealer.openStored("/edgeplane/secrets/default/db", sealed).getDataOrThrow("password").toStringUtf8());
        // The wrapped key of one secret with the data of another: each is bound to its own name.
        SealedSecret other = sealer.seal(secret("default", "web", "password", "x"));
        assertThrows(SealingException.class, () -> sealer.open(other.toBuilder().setSealedData(sealed.getSealedData()).build()));
    }

    @Test
    void afterARotationTheOldKeyStillOpensAndTheSecretNeedsResealing() {
        SealedSecret underK1 = sealer(K1).seal(secret("default", "db", "password", "hunter2"));
        SecretSealer rotated = sealer(K2 + "\n" + K1);
        assertEquals("k2", rotated.primaryKeyId());
        assertTrue(rotated.needsResealing(underK1));
        assertEquals("hunter2", rotated.open(underK1).getDataOrThrow("password").toStringUtf8());
        SealedSecret underK2 = rotated.seal(rotated.open(underK1));
        assertEquals("k2", underK2.getKeyId());
        assertFalse(rotated.needsResealing(underK2));

        SealingException missing = assertThrows(SealingException.class, () -> sealer(K2).open(underK1));
        assertEquals(SealingException.Reason.KEY_MISSING, missing.reason());
        assertEquals("secret default/db is sealed under key 'k1', which is not configured", missing.getMessage());
    }

    @Test
    void withoutAKeyEverySealingCallFailsSayingWhatToSet() {
        SecretSealer none = new SecretSealer(KeyRing.empty());
        assertFalse(none.configured());
        SealingException e = assertThrows(SealingException.class, () -> none.seal(secret("default", "db", "k", "v")));
        assertEquals(SealingException.Reason.NOT_CONFIGURED, e.reason());
        assertEquals("secrets need a key-encryption key: set edgeplane.secrets.key-file", e.getMessage());
        assertThrows(SealingException.class, none::requireConfigured);
    }

    @Test
    void keyLinesAllowCommentsBlankLinesAndSemicolons() {
        KeyRing ring = KeyRing.parse("# rotated 2026-12\n\n" + K2 + "\n  " + K1 + "  \n", "test");
        assertEquals(java.util.List.of("k2", "k1"), ring.ids());
        assertEquals(java.util.List.of("k2", "k1"), KeyRing.parse(K2 + ";" + K1, "test").ids());
        assertFalse(ring.toString().contains(K1.substring(3)), "key material is never printed");
        assertFalse(ring.primary().orElseThrow().toString().contains(K2.substring(3)));
        assertTrue(KeyRing.load(Optional.empty(), Optional.empty()).isEmpty());
    }

    @Test
    void badKeyLinesFailNamingTheLineAndTheProblem() {
        assertParseError("k1\n", "test line 1: expected <id>:<base64 of 32 bytes>");
        assertParseError("# c\nK_1:" + randomKey(), "test line 2: key id \"K_1\" must be 1-32 of a-z, 0-9 and '-'");
        assertParseError(K1 + "\nk2:not*base64", "test line 2: key 'k2' is not base64");
        assertParseError("k3:" + Base64.getEncoder().encodeToString(new byte[16]),
                "test line 1: key 'k3' is 16 bytes, must be exactly 32 (head -c 32 /dev/urandom | base64)");
        assertParseError(K1 + ";k1:" + randomKey(), "test line 2: key id 'k1' appears twice");
        IllegalArgumentException both = assertThrows(IllegalArgumentException.class,
                () -> KeyRing.load(Optional.of("/nonexistent"), Optional.of(K1)));
        assertTrue(both.getMessage().contains("not both"), both.getMessage());
    }

    private static void assertParseError(String text, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KeyRing.parse(text, "test"));
        assertEquals(message, e.getMessage());
    }

    @Test
    void loadsAKeyFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("keys");
        Files.writeString(file, "# primary first\n" + K2 + "\n" + K1 + "\n", StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        assertEquals(java.util.List.of("k2", "k1"), KeyRing.load(Optional.of(file.toString()), Optional.empty()).ids());
        IllegalArgumentException unreadable = assertThrows(IllegalArgumentException.class,
                () -> KeyRing.load(Optional.of(dir.resolve("missing").toString()), Optional.empty()));
        assertTrue(unreadable.getMessage().startsWith("edgeplane.secrets.key-file " + dir.resolve("missing") + ": cannot be read"),
                unreadable.getMessage());
        Files.writeString(file, "k1:abc\n");
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> KeyRing.load(Optional.of(file.toString()), Optional.empty()));
        assertTrue(bad.getMessage().startsWith("edgeplane.secrets.key-file " + file + " line 1: key 'k1' is"), bad.getMessage());
    }
}
