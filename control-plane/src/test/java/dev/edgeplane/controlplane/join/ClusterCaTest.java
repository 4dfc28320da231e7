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

    @Test
    void aRolloverTrustsBothCasThenSwitchesTheSignerThenDropsTheOldOneAndAnotherReplicaFollows() throws Exception {
        EtcdStore store = etcd.store();
        store.delete(Keys.CA);
        store.delete(Keys.CA_ROLLOVER);
        String k1 = key("k1");
        ClusterCa ca = new ClusterCa(store, sealer(k1));
        ClusterCa replica = new ClusterCa(store, sealer(k1));
        CertificateAuthority old = ca.load();
        replica.load();
        assertEquals(java.util.List.of(old.hash()), ca.trusted().stream().map(CertificateAuthority::hash).toList());
        assertEquals(old.certificatePem(), ca.bundlePem());

        var notStarted = assertThrows(io.grpc.StatusRuntimeException.class, ca::switchSigner);
        assertEquals(io.grpc.Status.Code.FAILED_PRECONDITION, notStarted.getStatus().getCode());

        ca.startRollover();
        CertificateAuthority incoming = ca.rollover().orElseThrow().other();
        assertEquals(ClusterCa.ClusterCaPhase.PREPARED, ca.rollover().orElseThrow().phase());
        assertEquals(old.hash(), ca.get().hash(), "the old CA still signs");
        assertEquals(old.certificatePem() + incoming.certificatePem(), ca.bundlePem());
        assertFalse(new String(store.get(Keys.CA_ROLLOVER).orElseThrow().value(), StandardCharsets.ISO_8859_1).contains("PRIVATE KEY"),
                "the incoming CA's key is sealed like the CA's");
        assertEquals(io.grpc.Status.Code.FAILED_PRECONDITION,
                assertThrows(io.grpc.StatusRuntimeException.class, ca::startRollover).getStatus().getCode(), "one rollover at a time");

        // A node certificate of either CA is trusted at the agent endpoint during the rollover.
        var trust = ca.nodeTrustManager(node -> null);
        ca.switchSigner();
        assertEquals(incoming.hash(), ca.get().hash(), "the new CA signs");
        assertEquals(old.hash(), ca.rollover().orElseThrow().other().hash());
        assertEquals(ClusterCa.ClusterCaPhase.SWITCHED, ca.rollover().orElseThrow().phase());
        var ofOld = new java.security.cert.X509Certificate[] {NodeCertificateTrustTest.joined(old, "n-old")};
        var ofNew = new java.security.cert.X509Certificate[] {NodeCertificateTrustTest.joined(incoming, "n-new")};
        trust.checkClientTrusted(ofOld, "ECDHE_ECDSA");
        trust.checkClientTrusted(ofNew, "ECDHE_ECDSA");
        var foreign = new java.security.cert.X509Certificate[] {NodeCertificateTrustTest.joined(CertificateAuthority.generate(), "n-foreign")};
        assertThrows(java.security.cert.CertificateException.class, () -> trust.checkClientTrusted(foreign, "ECDHE_ECDSA"));

        replica.refresh();
        assertEquals(incoming.hash(), replica.get().hash(), "another replica follows from etcd");
        assertEquals(ca.bundleHash(), replica.bundleHash());

        ca.endRollover(ClusterCa.ClusterCaPhase.SWITCHED);
        assertTrue(ca.rollover().isEmpty());
        assertEquals(java.util.List.of(incoming.hash()), ca.trusted().stream().map(CertificateAuthority::hash).toList());
        assertThrows(java.security.cert.CertificateException.class, () -> trust.checkClientTrusted(ofOld, "ECDHE_ECDSA"),
                "the old CA's node certificates are no longer trusted");
        trust.checkClientTrusted(ofNew, "ECDHE_ECDSA");
        assertEquals(incoming.hash(), new ClusterCa(store, sealer(k1)).load().hash(), "a restart loads the new CA");

        // A started rollover can be cancelled: the signing CA is untouched.
        ca.startRollover();
        ca.endRollover(ClusterCa.ClusterCaPhase.PREPARED);
        assertEquals(incoming.hash(), ca.get().hash());
        assertEquals(1, ca.trusted().size());
    }
}
