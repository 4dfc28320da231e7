package dev.edgeplane.controlplane.sync;

import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/** The pod templates that assignments reference by hash, stored once under /edgeplane/templates/. */
@FunctionalInterface
interface TemplateLookup {
    /** The template stored for {@code namespace/app} under {@code hash}, or empty when it cannot be found (yet). */
    Optional<PodTemplate> find(String namespace, String app, String hash);

    /** No templates at all (tests of the index with inline templates only). */
    static TemplateLookup none() {
        return (namespace, app, hash) -> Optional.empty();
    }

    /**
     * From the templates informer; a template the informer has not seen yet (its watch lags the
     * assignments' one) is read from etcd, once per call, within {@code readTimeout}.
     */
    static TemplateLookup of(PrefixCache<PodTemplate> cache, EtcdStore store, Duration readTimeout) {
        Logger log = Logger.getLogger(TemplateLookup.class);
        return (namespace, app, hash) -> {
            String key = Keys.template(namespace, app, hash);
            Entry<PodTemplate> cached = cache.get(key);
            if (cached != null) {
                return Optional.of(cached.value());
            }
            try {
                var found = store.client().getKVClient().get(EtcdStore.bytes(key))
                        .get(readTimeout.toMillis(), TimeUnit.MILLISECONDS).getKvs();
                return found.isEmpty() ? Optional.empty()
                        : Optional.of(EtcdStore.decode(PodTemplate.parser(), found.get(0).getValue().getBytes()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return Optional.empty();
            } catch (Exception e) {
                log.debugf("reading template %s failed: %s", key, e.toString());
                return Optional.empty();
            }
        };
    }
}
