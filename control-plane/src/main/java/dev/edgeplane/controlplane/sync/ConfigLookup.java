package dev.edgeplane.controlplane.sync;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigMap;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.function.Function;
import org.jboss.logging.Logger;

/** The contents of the ConfigMaps and Secrets that assignments use (Assignment.configs), for the Sync stream. */
@FunctionalInterface
interface ConfigLookup {
    /**
     * The object {@code ref} names in {@code namespace} at {@code ref.version} or newer (missing when it
     * does not exist), or empty while this process has not seen that version yet (try again shortly).
     */
    Optional<ConfigData> find(String namespace, ConfigRef ref);

    /** No objects at all (tests of the index that use none). */
    static ConfigLookup none() {
        return (namespace, ref) -> Optional.of(missing(namespace, ref));
    }

    /**
     * From the informers. A Secret is opened here, as it leaves for a node that runs a pod using it: the
     * only place a value leaves the control plane besides GetSecret. One that cannot be opened (its key
     * is not configured) goes as missing, so the pod waits with a clear status instead of the whole stream.
     */
    static ConfigLookup of(PrefixCache<ConfigMap> configMaps, PrefixCache<SealedSecret> secrets,
                           Function<Entry<SealedSecret>, Secret> opener) {
        Logger log = Logger.getLogger(ConfigLookup.class);
        return (namespace, ref) -> {
            if (ref.getKind() == ConfigRef.Kind.SECRET) {
                Seen<SealedSecret> seen = Seen.of(secrets, Keys.secret(namespace, ref.getName()), ref.getVersion());
                if (seen.behind()) {
                    return Optional.empty();
                }
                if (seen.entry() == null) {
                    return Optional.of(missing(namespace, ref));
                }
                Secret secret;
                try {
                    secret = opener.apply(seen.entry());
                } catch (RuntimeException e) {
                    log.errorf("secret %s/%s cannot be opened for a node (%s); sending it as missing", namespace, ref.getName(), e.getMessage());
                    return Optional.of(missing(namespace, ref));
                }
                return Optional.of(ConfigData.newBuilder().setNamespace(namespace)
                        .setRef(ref.toBuilder().setVersion(seen.entry().modRevision()))
                        .setSecretType(secret.getType()).putAllData(secret.getDataMap()).build());
            }
            Seen<ConfigMap> seen = Seen.of(configMaps, Keys.configMap(namespace, ref.getName()), ref.getVersion());
            if (seen.behind()) {
                return Optional.empty();
            }
            if (seen.entry() == null) {
                return Optional.of(missing(namespace, ref));
            }
            ConfigData.Builder data = ConfigData.newBuilder().setNamespace(namespace)
                    .setRef(ref.toBuilder().setVersion(seen.entry().modRevision()));
            seen.entry().value().getDataMap().forEach((k, v) -> data.putData(k, ByteString.copyFrom(v, StandardCharsets.UTF_8)));
            data.putAllData(seen.entry().value().getBinaryDataMap());
            return Optional.of(data.build());
        };
    }

    /**
     * What the informer shows of one object wanted at a version: the entry at that version or newer, no
     * entry (it does not exist), or behind (this process has not seen that version yet).
     */
    record Seen<T>(boolean behind, Entry<T> entry) {
        static <T> Seen<T> of(PrefixCache<T> cache, String key, long version) {
            Entry<T> entry = cache.get(key);
            if (entry != null && entry.modRevision() >= version) {
                return new Seen<>(false, entry);
            }
            return new Seen<>(entry != null || cache.revision() < version, null);
        }
    }

    private static ConfigData missing(String namespace, ConfigRef ref) {
        return ConfigData.newBuilder().setNamespace(namespace).setRef(ref).setMissing(true).build();
    }
}
