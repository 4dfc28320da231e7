package dev.edgeplane.controlplane.api;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import dev.edgeplane.api.ConfigRefs;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import io.grpc.Status;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.UUID;
import org.jboss.logging.Logger;

/**
 * What ConfigMapApi and SecretApi share: metadata and data-key rules, the 1 MiB bound, and a delete
 * that is refused while an App of the namespace uses the object.
 */
final class ConfigObjects {
    private static final Logger LOG = Logger.getLogger(ConfigObjects.class);
    /** Keys and values of one ConfigMap or Secret together (Kubernetes' bound: one etcd value). */
    static final int MAX_DATA_BYTES = 1024 * 1024;
    /** Users named in a refused delete; the rest are counted. */
    private static final int MAX_USERS_NAMED = 5;

    private ConfigObjects() {}

    /** A validation of name, namespace, labels and annotations as every resource checks them; {@code field} is e.g. "secret". */
    static Validation meta(String field, ObjectMeta meta, ApiLimits limits) {
        Validation v = new Validation();
        v.dnsLabel(field + ".metadata.name", meta.getName());
        v.dnsLabel(field + ".metadata.namespace", meta.getNamespace());
        v.labels(field + ".metadata.labels", meta.getLabelsMap(), limits.maxLabels());
        v.annotations(field + ".metadata.annotations", meta.getAnnotationsMap(), limits.maxAnnotationsBytes());
        return v;
    }

    /** Checks every key of {@code data} (String or ByteString values); returns the bytes of keys and values. */
    static long data(Validation v, String field, Map<String, ?> data) {
        long bytes = 0;
        for (Map.Entry<String, ?> e : data.entrySet()) {
            key(v, field, e.getKey());
            bytes += utf8Length(e.getKey()) + (e.getValue() instanceof ByteString b ? b.size() : utf8Length((String) e.getValue()));
        }
        return bytes;
    }

    /** A data key is a file name: [-._a-zA-Z0-9]+, at most 253 bytes, not "." or "..", not starting with "..". */
    static void key(Validation v, String field, String key) {
        v.configKey(field + "[\"" + key + "\"]", key);
    }

    /** UTF-8 length without encoding (values may be near 1 MiB). */
    private static long utf8Length(String s) {
        long bytes = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                bytes += 1;
            } else if (c < 0x800) {
                bytes += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                bytes += 4;
                i++;
            } else {
                bytes += 3;
            }
        }
        return bytes;
    }

    /** Adds a violation on {@code field} when keys and values are over 1 MiB together. */
    static void total(Validation v, String field, long bytes) {
        if (bytes > MAX_DATA_BYTES) {
            v.add(field, "keys and values are " + bytes + " bytes, over the limit of " + MAX_DATA_BYTES + " bytes (1 MiB)");
        }
    }

    /** Metadata of a new object: a uid, the create time, generation 1. */
    static ObjectMeta created(ObjectMeta meta) {
        return meta.toBuilder().setUid(UUID.randomUUID().toString()).setCreateTime(Joiner.timestamp(Instant.now()))
                .setGeneration(1).setResourceVersion(0).build();
    }

    /** {@code old} with the labels and annotations of {@code given}, one generation on if the content changed. */
    static ObjectMeta updated(ObjectMeta old, ObjectMeta given, boolean contentChanged) {
        return old.toBuilder()
                .clearLabels().putAllLabels(given.getLabelsMap())
                .clearAnnotations().putAllAnnotations(given.getAnnotationsMap())
                .setGeneration(old.getGeneration() + (contentChanged ? 1 : 0)).setResourceVersion(0).build();
    }

    /** The stored object at {@code key} for an update carrying {@code given} (0: any); NOT_FOUND or ABORTED if stale. */
    static <T extends Message> Entry<T> current(EtcdStore store, String key, Parser<T> parser, long given, String what) {
        Entry<T> current = store.get(key, parser).orElseThrow(() -> Calls.notFound(what));
        if (given != 0 && given != current.modRevision()) {
            throw Calls.stale(what, given, current.modRevision());
        }
        return current;
    }

    /** The revision of a compare-and-set update, or ABORTED if another write came first. */
    static long written(OptionalLong revision, long given, String what) {
        if (revision.isEmpty()) {
            throw given != 0 ? Calls.stale(what, given, -1) : Calls.conflict(what);
        }
        LOG.infof("updated %s", what);
        return revision.getAsLong();
    }

    static ObjectMeta shown(ObjectMeta meta, long modRevision) {
        return meta.toBuilder().setResourceVersion(modRevision).build();
    }

    /**
     * Deletes {@code key} (conditionally if {@code given} is not 0), refused with FAILED_PRECONDITION
     * while an App of {@code ns} uses {@code ref}; {@code what} names the object in errors.
     */
    static DeleteResponse delete(EtcdStore store, PrefixCache<App> apps, String ns, ConfigRefs.Name ref, String key, long given,
                                 String what) {
        Entry<byte[]> current = store.get(key).orElseThrow(() -> Calls.notFound(what));
        refuseWhileUsed(apps, ns, ref);
        if (given != 0 && given != current.modRevision()) {
            throw Calls.stale(what, given, current.modRevision());
        }
        if (!store.delete(key, current.modRevision())) {
            throw given != 0 ? Calls.stale(what, given, -1) : Calls.conflict(what);
        }
        LOG.infof("deleted %s", what);
        return DeleteResponse.getDefaultInstance();
    }

    /** FAILED_PRECONDITION naming up to five Apps of {@code ns} whose template uses {@code ref}. */
    static void refuseWhileUsed(PrefixCache<App> apps, String ns, ConfigRefs.Name ref) {
        List<String> users = apps.list(Keys.APPS + ns + "/").stream()
                .filter(e -> ConfigRefs.of(e.value().getSpec().getTemplate()).contains(ref))
                .map(e -> "app \"" + ns + "/" + e.value().getMetadata().getName() + "\"")
                .toList();
        if (users.isEmpty()) {
            return;
        }
        int named = Math.min(users.size(), MAX_USERS_NAMED);
        String more = users.size() > named ? " (and " + (users.size() - named) + " more)" : "";
        throw Status.FAILED_PRECONDITION.withDescription(ref.describe() + " is used by " + String.join(", ", users.subList(0, named))
                + more + ": remove it from their templates (or delete them) first").asRuntimeException();
    }
}
