package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ImagePrefetchSpec;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.controllers.prefetch.PrefetchStatuses;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import org.jboss.logging.Logger;

/**
 * ImagePrefetches as the API and the control plane's own code create, read and delete them (a rollout
 * creates one through {@link #create} and reads its status with {@link #get}): validated, the target
 * nodes resolved once from the node informer (node_selector ∪ nodes; nodes that join or match later
 * are not included) and stored as the status's per-node entries. The controller
 * (controllers/prefetch) does the rest. Errors are the API's: INVALID_ARGUMENT naming the field,
 * ABORTED for a name taken or a stale resource_version, NOT_FOUND.
 */
@ApplicationScoped
public class ImagePrefetches {
    private static final Logger LOG = Logger.getLogger(ImagePrefetches.class);
    public static final int MAX_IMAGES = 16;
    public static final int MAX_NODES = 10_000;
    public static final long MAX_DEADLINE_SECONDS = 86_400;

    private final EtcdStore store;
    private final StateCaches caches;
    private final ApiLimits limits;

    public ImagePrefetches(EtcdStore store, StateCaches caches, ControlPlaneConfig config) {
        this.store = store;
        this.caches = caches;
        this.limits = ApiLimits.of(config.limits());
    }

    static String describe(String namespace, String name) {
        return "image prefetch \"" + namespace + "/" + name + "\"";
    }

    /** Everything but the existence of the named nodes (that needs the node informer). */
    static Validation validate(ImagePrefetch prefetch, ApiLimits limits) {
        Validation v = ConfigObjects.meta("image_prefetch", prefetch.getMetadata(), limits);
        ImagePrefetchSpec spec = prefetch.getSpec();
        String field = "image_prefetch.spec";
        if (spec.getImagesCount() == 0) {
            v.add(field + ".images", "must name at least one image");
        }
        if (spec.getImagesCount() > MAX_IMAGES) {
            v.add(field + ".images", "has " + spec.getImagesCount() + " entries, over the limit of " + MAX_IMAGES);
        }
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < Math.min(spec.getImagesCount(), MAX_IMAGES); i++) {
            String image = spec.getImages(i);
            v.imageReference(field + ".images[" + i + "]", image);
            if (!seen.add(image)) {
                v.add(field + ".images[" + i + "]", "\"" + image + "\" is named twice");
            }
        }
        v.labels(field + ".node_selector", spec.getNodeSelectorMap(), limits.maxLabels());
        if (spec.getNodesCount() > MAX_NODES) {
            v.add(field + ".nodes", "has " + spec.getNodesCount() + " entries, over the limit of " + MAX_NODES);
        }
        if (spec.getNodesCount() <= MAX_NODES) {
            for (int i = 0; i < spec.getNodesCount(); i++) {
                v.dnsLabel(field + ".nodes[" + i + "]", spec.getNodes(i));
            }
        }
        if (spec.getNodeSelectorCount() == 0 && spec.getNodesCount() == 0) {
            v.add(field + ".node_selector", "give node_selector or nodes (or both): which nodes should pull the images?");
        }
        v.atMost(field + ".image_pull_secrets", spec.getImagePullSecretsCount(), limits.maxListItems(), "max-list-items");
        if (spec.getImagePullSecretsCount() <= limits.maxListItems()) {
            for (int i = 0; i < spec.getImagePullSecretsCount(); i++) {
                v.dnsLabel(field + ".image_pull_secrets[" + i + "].name", spec.getImagePullSecrets(i).getName());
            }
        }
        if (spec.getDeadlineSeconds() < 0 || spec.getDeadlineSeconds() > MAX_DEADLINE_SECONDS) {
            v.add(field + ".deadline_seconds", "must be 0 (600) to " + MAX_DEADLINE_SECONDS + ", got " + spec.getDeadlineSeconds());
        }
        return v;
    }

    /** Validates, resolves the target nodes and stores it; the stored prefetch (resource_version set). */
    public ImagePrefetch create(ImagePrefetch request) {
        ImagePrefetch prefetch = request.toBuilder().clearStatus().setMetadata(request.getMetadata().toBuilder()
                .setNamespace(Calls.orDefault(request.getMetadata().getNamespace()))).build();
        Validation v = validate(prefetch, limits);
        v.throwIfInvalid();
        ImagePrefetchSpec spec = prefetch.getSpec();
        Set<String> targets = new TreeSet<>();
        for (int i = 0; i < spec.getNodesCount(); i++) {
            if (caches.nodes().get(Keys.node(spec.getNodes(i))) == null) {
                v.add("image_prefetch.spec.nodes[" + i + "]", "no node \"" + spec.getNodes(i) + "\"");
            }
            targets.add(spec.getNodes(i));
        }
        v.throwIfInvalid();
        if (spec.getNodeSelectorCount() > 0) {
            for (Entry<Node> node : caches.nodes().all()) {
                if (matches(spec.getNodeSelectorMap(), node.value().getMetadata().getLabelsMap())) {
                    targets.add(node.value().getMetadata().getName());
                }
            }
        }
        if (targets.size() > MAX_NODES) {
            throw Validation.exhausted("image prefetch nodes", "node_selector and nodes name " + targets.size()
                    + " nodes, over the limit of " + MAX_NODES + ": split it into several prefetches");
        }
        Instant now = Instant.now();
        ImagePrefetch stored = prefetch.toBuilder().setMetadata(ConfigObjects.created(prefetch.getMetadata()))
                .setStatus(PrefetchStatuses.initial(targets, now)).build();
        String ns = stored.getMetadata().getNamespace();
        String name = stored.getMetadata().getName();
        OptionalLong revision = store.create(Keys.imagePrefetch(ns, name), stored.toByteArray());
        if (revision.isEmpty()) {
            throw Calls.exists(describe(ns, name));
        }
        LOG.infof("created %s: %d images to %d nodes", describe(ns, name), spec.getImagesCount(), targets.size());
        return stored.toBuilder().setMetadata(ConfigObjects.shown(stored.getMetadata(), revision.getAsLong())).build();
    }

    private static boolean matches(Map<String, String> selector, Map<String, String> labels) {
        for (Map.Entry<String, String> e : selector.entrySet()) {
            if (!e.getValue().equals(labels.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    /** As etcd holds it now (resource_version set), with its per-node entries. */
    public Optional<ImagePrefetch> get(String namespace, String name) {
        return store.get(Keys.imagePrefetch(Calls.orDefault(namespace), name), ImagePrefetch.parser())
                .map(e -> e.value().toBuilder().setMetadata(ConfigObjects.shown(e.value().getMetadata(), e.modRevision())).build());
    }

    /** Deletes it (conditionally if {@code given} is not 0); the controller removes its nodes' entries. */
    public DeleteResponse delete(String namespace, String name, long given) {
        String ns = Calls.orDefault(namespace);
        String key = Keys.imagePrefetch(ns, name);
        Entry<byte[]> current = store.get(key).orElseThrow(() -> Calls.notFound(describe(ns, name)));
        if (given != 0 && given != current.modRevision()) {
            throw Calls.stale(describe(ns, name), given, current.modRevision());
        }
        if (!store.delete(key, current.modRevision())) {
            throw given != 0 ? Calls.stale(describe(ns, name), given, -1) : Calls.conflict(describe(ns, name));
        }
        LOG.infof("deleted %s", describe(ns, name));
        return DeleteResponse.getDefaultInstance();
    }

    ApiLimits limits() {
        return limits;
    }
}
