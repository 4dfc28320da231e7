package dev.edgeplane.controlplane.auth;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.secrets.KeyRing;
import dev.edgeplane.controlplane.secrets.SecretSealer;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.EtcdStoreExtension;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.TestStores;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The admin token's hash at rest, against a real etcd: sealed under the key-encryption key, so writing etcd does not make one admin. */
class AdminTokensTest {
    @RegisterExtension
    static final EtcdStoreExtension etcd = new EtcdStoreExtension();

    @TempDir
    Path tmp;

    private static SecretSealer sealer() {
        byte[] key = new byte[32];
        new SecureRandom().nextBytes(key);
        return new SecretSealer(KeyRing.parse("k1:" + Base64.getEncoder().encodeToString(key), "test"));
    }

    private AdminTokens tokens(EtcdStore store, SecretSealer sealer) {
        return new AdminTokens(store, TestStores.config(ControlPlaneConfig.class, Map.of("adminTokenFile", tmp.resolve("admin-token").toString())),
                sealer);
    }

    private static byte[] clearHash(String token) {
        return HexFormat.of().formatHex(AdminTokens.sha256(token)).getBytes(StandardCharsets.US_ASCII);
    }

    @Test
    void aHashWrittenToEtcdInTheClearDoesNotMakeItsTokenAdmin() throws Exception {
        EtcdStore store = etcd.store();
        store.delete(Keys.ADMIN_TOKEN_HASH);
        SecretSealer sealer = sealer();
        AdminTokens tokens = tokens(store, sealer);
        tokens.bootstrap();
        String admin = Files.readString(tmp.resolve("admin-token")).trim();
        assertTrue(tokens.isValid(admin));
        String stored = new String(store.get(Keys.ADMIN_TOKEN_HASH).orElseThrow().value(), StandardCharsets.ISO_8859_1);
        assertFalse(stored.contains(new String(clearHash(admin), StandardCharsets.US_ASCII)), "sealed, not the hex hash");

        // Whoever can write etcd puts the hash of a token of their own there.
        store.put(Keys.ADMIN_TOKEN_HASH, clearHash("attacker-token-0123456789abcdef0123456789"));
        long deadline = System.nanoTime() + 7_000_000_000L; // past the 5 s refresh
        while (System.nanoTime() < deadline) {
            assertFalse(tokens.isValid("attacker-token-0123456789abcdef0123456789"));
            Thread.sleep(500);
        }
        assertTrue(tokens.isValid(admin), "the sealed hash read before stays in force");
        AdminTokens restarted = tokens(store, sealer);
        restarted.bootstrap();
        assertFalse(restarted.isValid("attacker-token-0123456789abcdef0123456789"), "nor after a restart");
    }

    @Test
    void aClearHashOfTheOperatorsOwnTokenIsSealedAtTheFirstStartWithAKey() throws Exception {
        EtcdStore store = etcd.store();
        store.delete(Keys.ADMIN_TOKEN_HASH);
        AdminTokens before = tokens(store, new SecretSealer(KeyRing.empty()));
        before.bootstrap();
        String admin = Files.readString(tmp.resolve("admin-token")).trim();
        assertTrue(new String(store.get(Keys.ADMIN_TOKEN_HASH).orElseThrow().value(), StandardCharsets.US_ASCII)
                .contains(new String(clearHash(admin), StandardCharsets.US_ASCII)), "no key: hex in the clear, as before");

        AdminTokens sealed = tokens(store, sealer());
        sealed.bootstrap();
        assertTrue(sealed.isValid(admin));
        assertFalse(new String(store.get(Keys.ADMIN_TOKEN_HASH).orElseThrow().value(), StandardCharsets.ISO_8859_1)
                .contains(new String(clearHash(admin), StandardCharsets.US_ASCII)), "sealed now");
    }
}
