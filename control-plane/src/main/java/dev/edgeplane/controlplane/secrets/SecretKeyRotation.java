package dev.edgeplane.controlplane.secrets;

import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.store.StoreException;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import jakarta.interceptor.Interceptor;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.jboss.logging.Logger;

/**
 * After a key rotation (a new primary added in front, the old key kept) re-seals every Secret that is
 * not under the primary key, once, in the background at startup. Each write is a compare-and-set on
 * the secret's mod revision: a secret changed meanwhile (by the API, or by another replica doing the
 * same) is left to that writer. Writes are paced (edgeplane.secrets.reseal-per-second) and read from
 * the informer one at a time, so a big rotation neither floods etcd nor holds secrets in memory.
 * The gauge edgeplane_secrets_sealed{key_id} tells the operator when an old key is unused.
 */
@ApplicationScoped
public class SecretKeyRotation {
    private static final Logger LOG = Logger.getLogger(SecretKeyRotation.class);
    /** How long the end-of-run count waits for the informer to see our own writes. */
    private static final long CATCH_UP_MILLIS = 10_000;

    /** What one run did. */
    public record Outcome(int resealed, int failed, Map<String, Long> sealedByKey) {}

    private final EtcdStore store;
    private final PrefixCache<SealedSecret> secrets;
    private final SecretSealer sealer;
    private final long pauseNanos;
    private volatile Thread worker;

    @Inject
    public SecretKeyRotation(EtcdStore store, StateCaches caches, SecretSealer sealer, ControlPlaneConfig config) {
        this(store, caches.secrets(), sealer, config.secrets().resealPerSecond());
    }

    public SecretKeyRotation(EtcdStore store, PrefixCache<SealedSecret> secrets, SecretSealer sealer, int perSecond) {
        this.store = store;
        this.secrets = secrets;
        this.sealer = sealer;
        this.pauseNanos = TimeUnit.SECONDS.toNanos(1) / Math.max(1, perSecond);
    }

    /** After ControlPlane has started the informers (it observes at the default priority). */
    void onStart(@Observes @Priority(Interceptor.Priority.LIBRARY_AFTER + 1000) StartupEvent event, MeterRegistry registry) {
        if (!sealer.configured()) {
            LOG.warn(SecretSealer.NOT_CONFIGURED + " (until then Secret calls fail with FAILED_PRECONDITION)");
            return;
        }
        LOG.infof("secrets are sealed under key '%s'%s", sealer.primaryKeyId(), sealer.ring().ids().size() > 1
                ? "; also opening with " + String.join(", ", sealer.ring().ids().subList(1, sealer.ring().ids().size())) : "");
        registerGauges(registry);
        Thread t = new Thread(this::runLogged, "edgeplane-secret-reseal");
        t.setDaemon(true);
        worker = t;
        t.start();
    }

    void onStop(@Observes ShutdownEvent event) {
        Thread t = worker;
        if (t != null) {
            t.interrupt();
        }
    }

    /** One gauge per key id known now: the ring's and any found on a stored secret. */
    public void registerGauges(MeterRegistry registry) {
        TreeSet<String> ids = new TreeSet<>(sealer.ring().ids());
        ids.addAll(countByKey().keySet());
        for (String id : ids) {
            Gauge.builder("edgeplane.secrets.sealed", this, r -> r.countByKey().getOrDefault(id, 0L)).tag("key_id", id)
                    .description("Secrets sealed under each key-encryption key (an old key may be removed once its count is 0)")
                    .register(registry);
        }
    }

    /** Secrets by the key they are sealed under, from the informer. */
    public Map<String, Long> countByKey() {
        return secrets.all().stream().collect(Collectors.groupingBy(e -> e.value().getKeyId(), TreeMap::new, Collectors.counting()));
    }

    private void runLogged() {
        try {
            run();
        } catch (RuntimeException e) {
            LOG.error("re-sealing secrets stopped: " + e.getMessage());
        }
    }

    /** Re-seals every secret not under the primary key; returns what it did. */
    public Outcome run() {
        String primary = sealer.primaryKeyId();
        int resealed = 0;
        int failed = 0;
        long lastWrite = 0;
        for (Entry<SealedSecret> cached : secrets.all()) {
            if (Thread.currentThread().isInterrupted()) {
                LOG.info("re-sealing secrets interrupted (shutdown)");
                break;
            }
            if (!sealer.needsResealing(cached.value())) {
                continue;
            }
            try {
                OptionalLong written = reseal(cached);
                if (written.isPresent()) {
                    resealed++;
                    lastWrite = Math.max(lastWrite, written.getAsLong());
                }
            } catch (SealingException | StoreException e) {
                failed++;
                LOG.warnf("secret %s was not re-sealed: %s", Keys.suffix(cached.key(), Keys.SECRETS), e.getMessage());
            }
            pace();
        }
        Map<String, Long> counts = countAfter(lastWrite);
        String unused = sealer.ring().ids().stream().skip(1).filter(id -> !counts.containsKey(id)).collect(Collectors.joining(", "));
        String stillUsed = counts.entrySet().stream().filter(c -> !c.getKey().equals(primary))
                .map(c -> c.getKey() + " (" + c.getValue() + ")").collect(Collectors.joining(", "));
        if (resealed > 0 || failed > 0 || !unused.isEmpty()) {
            LOG.infof("%d secrets re-sealed under key '%s'%s%s%s", resealed, primary,
                    unused.isEmpty() ? "" : "; key(s) " + unused + " no longer used",
                    stillUsed.isEmpty() ? "" : "; still sealed under other keys: " + stillUsed,
                    failed == 0 ? "" : "; " + failed + " failed (see above)");
        }
        return new Outcome(resealed, failed, counts);
    }

    /**
     * Opens and re-seals one secret with a compare-and-set; on a lost race reads it again and retries
     * once if it still needs it. Empty if someone else's write made it unnecessary.
     */
    private OptionalLong reseal(Entry<SealedSecret> cached) {
        Entry<SealedSecret> current = cached;
        for (int attempt = 0; attempt < 2; attempt++) {
            Secret opened = sealer.openStored(current.key(), current.value());
            OptionalLong written = store.update(current.key(), sealer.seal(opened).toByteArray(), current.modRevision());
            if (written.isPresent()) {
                return written;
            }
            Optional<Entry<SealedSecret>> fresh = store.get(current.key(), SealedSecret.parser());
            if (fresh.isEmpty() || !sealer.needsResealing(fresh.get().value())) {
                return OptionalLong.empty();
            }
            current = fresh.get();
        }
        LOG.infof("secret %s kept changing while being re-sealed; the next start retries it", Keys.suffix(cached.key(), Keys.SECRETS));
        return OptionalLong.empty();
    }

    private void pace() {
        try {
            TimeUnit.NANOSECONDS.sleep(pauseNanos);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The counts once the informer has seen {@code revision} (bounded wait: a lagging watch only delays the log). */
    private Map<String, Long> countAfter(long revision) {
        long deadline = System.currentTimeMillis() + CATCH_UP_MILLIS;
        while (secrets.revision() < revision && System.currentTimeMillis() < deadline && !Thread.currentThread().isInterrupted()) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return countByKey();
    }
}
