package dev.edgeplane.controlplane.controllers.app;

import dev.edgeplane.api.RolloutStrategies;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ImagePrefetchSpec;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.Set;

/** The ImagePrefetch a rollout with strategy.prefetch_images makes of its new images, on the App's nodes. */
final class RolloutPrefetch {
    /** Which App's rollout made it: the App controller wakes that App when it moves, and removes it when the rollout ends. */
    static final String APP_LABEL = "edgeplane.dev/rollout-of";
    private static final int MAX_APP_PART = 50;

    private RolloutPrefetch() {}

    /** "&lt;app&gt;-r&lt;revision&gt;", the App's part cut so the name stays a DNS label. */
    static String name(String app, long revision) {
        String part = app.length() > MAX_APP_PART ? app.substring(0, MAX_APP_PART) : app;
        while (part.endsWith("-")) {
            part = part.substring(0, part.length() - 1);
        }
        return part + "-r" + revision;
    }

    static ImagePrefetch of(App app, long revision, Collection<String> nodes) {
        PodTemplate template = app.getSpec().getTemplate();
        Set<String> images = new LinkedHashSet<>();
        for (Container c : template.getInitContainersList()) {
            images.add(c.getImage());
        }
        for (Container c : template.getContainersList()) {
            images.add(c.getImage());
        }
        return ImagePrefetch.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(app.getMetadata().getNamespace())
                        .setName(name(app.getMetadata().getName(), revision)).putLabels(APP_LABEL, app.getMetadata().getName()))
                .setSpec(ImagePrefetchSpec.newBuilder().addAllImages(images.stream().limit(16).toList()).addAllNodes(nodes)
                        .addAllImagePullSecrets(template.getImagePullSecretsList())
                        .setDeadlineSeconds(RolloutStrategies.progressDeadlineSeconds(app.getSpec())))
                .build();
    }
}
