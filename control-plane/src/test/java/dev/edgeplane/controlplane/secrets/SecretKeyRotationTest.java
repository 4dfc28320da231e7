package dev.edgeplane.controlplane.secrets;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.EtcdStoreExtension;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Re-sealing after a key rotation, against a real etcd: every secret ends under the new primary, data unchanged. */
class SecretKeyRotationTest {
    @RegisterExtension
    static final EtcdStoreExtension etcd = new EtcdStoreExtension();
    static ScheduledExecutorService retries;

    @BeforeAll
    static void start() {
        retries = Executors.newSingleThreadScheduledExecutor();
    }

    @AfterAll
    static void stop() {
        retries.shutdownNow();
    }

    private static PrefixCache<SealedSecret> informer(EtcdStore store) {
        PrefixCache<SealedSecret> cache = new PrefixCache<>(store, Keys.SECRETS, b -> EtcdStore.decode(SealedSecret.parser(), b), retries);
        cache.start();
        return cache;
    }

    private static List<Secret> seedUnderK1(EtcdStore store, String ns, int count) {
        SecretSealer k1 = SecretSealerTest.sealer(SecretSealerTest.K1);
        List<Secret> secrets = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Secret secret = SecretSealerTest.secret(ns, "s-" + i, "token", "value-" + i);
            store.put(Keys.secret(ns, "s-" + i), k1.seal(secret).toByteArray());
            secrets.add(secret);
        }
        return secrets;
    }

    private static SealedSecret raw(EtcdStore store, Secret secret) {
        return store.get(Keys.secret(secret.getMetadata().getNamespace(), secret.getMetadata().getName()), SealedSecret.parser())
                .orElseThrow().value();
    }

    @Test
    void reSealsEverySecretUnderTheNewPrimaryAndTheOldKeyCanGo() {
        EtcdStore store = etcd.store();
        List<Secret> secrets = seedUnderK1(store, "rotate", 12);
        SecretSealer rotated = SecretSealerTest.sealer(SecretSealerTest.K2 + "\n" + SecretSealerTest.K1);
        try (PrefixCache<SealedSecret> cache = informer(store)) {
            SecretKeyRotation rotation = new SecretKeyRotation(store, cache, rotated, 1000);
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            rotation.registerGauges(registry);
            assertEquals(12.0, registry.get("edgeplane.secrets.sealed").tag("key_id", "k1").gauge().value());
            assertEquals(0.0, registry.get("edgeplane.secrets.sealed").tag("key_id", "k2").gauge().value());

            SecretKeyRotation.Outcome outcome = rotation.run();
            assertEquals(12, outcome.resealed());
            assertEquals(0, outcome.failed());
            assertEquals(Map.of("k2", 12L), outcome.sealedByKey());
            assertEquals(0.0, registry.get("edgeplane.secrets.sealed").tag("key_id", "k1").gauge().value());
            assertEquals(12.0, registry.get("edgeplane.secrets.sealed").tag("key_id", "k2").gauge().value());

            SecretSealer k2Only = SecretSealerTest.sealer(SecretSealerTest.K2);
            for (Secret secret : secrets) {
                SealedSecret sealed = raw(store, secret);
                assertEquals("k2", sealed.getKeyId());
                assertEquals(secret, k2Only.open(sealed), "data and metadata unchanged");
            }
            assertEquals(0, rotation.run().resealed(), "a second run has nothing to do");
        }
    }

    @Test
    void twoReplicasRotatingAtOnceEachSecretIsWrittenOnceAndAllEndUnderThePrimary() throws Exception {
        EtcdStore store = etcd.store();
        List<Secret> secrets = seedUnderK1(store, "race", 30);
        SecretSealer rotated = SecretSealerTest.sealer(SecretSealerTest.K2 + "\n" + SecretSealerTest.K1);
        try (PrefixCache<SealedSecret> a = informer(store); PrefixCache<SealedSecret> b = informer(store)) {
            CompletableFuture<SecretKeyRotation.Outcome> first = CompletableFuture.supplyAsync(() -> new SecretKeyRotation(store, a, rotated, 500).run());
            CompletableFuture<SecretKeyRotation.Outcome> second = CompletableFuture.supplyAsync(() -> new SecretKeyRotation(store, b, rotated, 500).run());
            int resealed = first.get().resealed() + second.get().resealed();
            assertEquals(30, resealed, "each secret written by one of them: the other's compare-and-set lost");
            assertEquals(0, first.get().failed() + second.get().failed(), "a lost compare-and-set is not a failure");
            for (Secret secret : secrets) {
                SealedSecret sealed = raw(store, secret);
                assertEquals("k2", sealed.getKeyId());
                assertEquals(secret, SecretSealerTest.sealer(SecretSealerTest.K2).open(sealed));
            }
        }
    }
}
