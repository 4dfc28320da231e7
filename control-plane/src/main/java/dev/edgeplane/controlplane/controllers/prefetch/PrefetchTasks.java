package dev.edgeplane.controlplane.controllers.prefetch;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ImagePullTask;
import dev.edgeplane.controlplane.store.Keys;
import java.util.List;

/**
 * A target node's order to pull an ImagePrefetch's images: an Assignment carrying an {@link ImagePullTask}
 * at /edgeplane/assignments/&lt;node&gt;/&lt;ns&gt;/prefetch.&lt;name&gt; (the precedent of volume tasks). It
 * travels, is journalled and acked like a replica; its {@code configs} name the image pull Secrets so
 * the Sync stream sends them to this node only, as it does a pod's. Deleted with the ImagePrefetch.
 */
public final class PrefetchTasks {
    /** Replica names are DNS labels (no dots): this prefix can never collide with one. */
    public static final String REPLICA_PREFIX = "prefetch.";

    private PrefetchTasks() {}

    public static String key(String node, String namespace, String prefetch) {
        return Keys.assignment(node, namespace, REPLICA_PREFIX + prefetch);
    }

    /** "namespace/name" of the prefetch an assignment key belongs to, or null when it is not a prefetch task's. */
    public static String prefetchOf(Assignment assignment) {
        return assignment.hasImagePull() ? assignment.getNamespace() + "/" + assignment.getImagePull().getName() : null;
    }

    /** The node's task; {@code secrets}: the pull Secrets at the versions the informer holds (0: missing). */
    public static Assignment task(ImagePrefetch prefetch, String node, List<ConfigRef> secrets) {
        return Assignment.newBuilder()
                .setNode(node)
                .setNamespace(prefetch.getMetadata().getNamespace())
                .setReplica(REPLICA_PREFIX + prefetch.getMetadata().getName())
                .setImagePull(ImagePullTask.newBuilder()
                        .setName(prefetch.getMetadata().getName())
                        .setUid(prefetch.getMetadata().getUid())
                        .addAllImages(prefetch.getSpec().getImagesList())
                        .addAllImagePullSecrets(prefetch.getSpec().getImagePullSecretsList()))
                .addAllConfigs(secrets)
                .build();
    }
}
