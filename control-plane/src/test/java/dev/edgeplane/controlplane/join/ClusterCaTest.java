package dev.edgeplane.controlplane.join;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.controlplane.secrets.KeyRing;
import dev.edgeplane.controlplane.secrets.SecretSealer;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.EtcdStoreExtension;
import dev.edgeplane.controlplane.store.Keys;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The cluster CA's key at rest, against a real etcd: sealed when a key is configured, and through a key rotation. */
class ClusterCaTest {
    @RegisterExtension
    static final EtcdStoreExtension etcd = new EtcdStoreExtension();

    private static String key(String id) {
        byte[] bytes = new byte[32];
        new SecureRandom().nextBytes(bytes);
        return id + ":" + Base64.getEncoder().encodeToString(bytes);
    }

    private static SecretSealer sealer(String lines) {
        return new SecretSealer(lines.isEmpty() ? KeyRing.empty() : KeyRing.parse(lines, "test"));
    }

    private static String raw(EtcdStore store) {
        return new String(store.get(Keys.CA).orElseThrow().value(), StandardCharsets.ISO_8859_1);
    }

    @Test
    void theCaKeyIsSealedOnceAKeyIsConfiguredAndFollowsARotation() {
        EtcdStore store = etcd.store();
        store.delete(Keys.CA);
        String clearHash = new ClusterCa(store, sealer("")).load().hash();
        assertTrue(raw(store).contains("PRIVATE KEY"), "no key configured: in the clear (with a warning)");

        String k1 = key("k1");
        assertEquals(clearHash, new ClusterCa(store, sealer(k1)).load().hash(), "the same CA");
        assertFalse(raw(store).contains("PRIVATE KEY"), "sealed at the first start with a key");
        assertEquals("k1", EtcdStore.decode(SealedSecret.parser(), store.get(Keys.CA).orElseThrow().value()).getKeyId());

        String k2 = key("k2");
        assertEquals(clearHash, new ClusterCa(store, sealer(k2 + "\n" + k1)).load().hash());
        assertEquals("k2", EtcdStore.decode(SealedSecret.parser(), store.get(Keys.CA).orElseThrow().value()).getKeyId(),
                "sealed again under the new primary");
        assertEquals(clearHash, new ClusterCa(store, sealer(k2)).load().hash(), "the old key can go");

        IllegalStateException without = assertThrows(IllegalStateException.class, () -> new ClusterCa(store, sealer("")).load());
        assertTrue(without.getMessage().contains("sealed under key 'k2'"), without.getMessage());
        assertThrows(RuntimeException.class, () -> new ClusterCa(store, sealer(key("k2"))).load(), "another key of the same id does not open it");
    }
}
