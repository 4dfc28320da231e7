package dev.edgeplane.cli;

import dev.edgeplane.api.v1.CreateImagePrefetchRequest;
import dev.edgeplane.api.v1.DeleteImagePrefetchRequest;
import dev.edgeplane.api.v1.GetImagePrefetchRequest;
import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ListImagePrefetchesRequest;
import dev.edgeplane.api.v1.ListImagePrefetchesResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** edgectl's ImagePrefetch view: get (progress), describe (per node), apply (create only: no Update), delete. */
final class Prefetches {
    static final List<String> HEADER = List.of("NAMESPACE", "NAME", "IMAGES", "PHASE", "DONE", "FAILED", "AGE");

    private Prefetches() {}

    static ImagePrefetch get(ApiClient api, String namespace, String name) {
        return api.imagePrefetches().getImagePrefetch(GetImagePrefetchRequest.newBuilder()
                .setNamespace(namespace == null ? "default" : namespace).setName(name).build());
    }

    static void print(ApiClient api, PrintWriter out, Output.Format format, String namespace, String name, String selector, Instant now) {
        List<ImagePrefetch> items = new ArrayList<>();
        if (name != null) {
            items.add(get(api, namespace, name));
        } else {
            String page = "";
            do {
                ListImagePrefetchesResponse r = api.imagePrefetches().listImagePrefetches(ListImagePrefetchesRequest.newBuilder()
                        .setNamespace(namespace == null ? "" : namespace).setLabelSelector(selector).setPageToken(page).build());
                items.addAll(r.getImagePrefetchesList());
                page = r.getNextPageToken();
            } while (!page.isEmpty());
        }
        Output.print(out, format, items, HEADER, m -> row((ImagePrefetch) m, now));
    }

    static List<String> row(ImagePrefetch p, Instant now) {
        var s = p.getStatus();
        return List.of(p.getMetadata().getNamespace(), p.getMetadata().getName(), Integer.toString(p.getSpec().getImagesCount()),
                s.getPhase().name().replace("PHASE_UNSPECIFIED", "PENDING"), s.getNodesDone() + "/" + s.getNodesTotal(),
                Integer.toString(s.getNodesFailed()), Durations.age(p.getMetadata().getCreateTime(), now));
    }

    static void describe(PrintWriter out, ImagePrefetch p, Instant now) {
        var m = p.getMetadata();
        var s = p.getStatus();
        out.println("Name:        " + m.getName());
        out.println("Namespace:   " + m.getNamespace());
        out.println("Labels:      " + m.getLabelsMap());
        out.println("Created:     " + Durations.age(m.getCreateTime(), now) + " ago");
        out.println("Images:      " + String.join(", ", p.getSpec().getImagesList()));
        out.println("Selector:    " + p.getSpec().getNodeSelectorMap() + (p.getSpec().getNodesCount() == 0 ? ""
                : "  nodes: " + String.join(", ", p.getSpec().getNodesList())));
        if (p.getSpec().getImagePullSecretsCount() > 0) {
            out.println("Pull secrets: " + String.join(", ", p.getSpec().getImagePullSecretsList().stream().map(r -> r.getName()).toList()));
        }
        out.println("Deadline:    " + (p.getSpec().getDeadlineSeconds() == 0 ? 600 : p.getSpec().getDeadlineSeconds()) + "s");
        out.println("Phase:       " + s.getPhase() + (s.getMessage().isEmpty() ? "" : " (" + s.getMessage() + ")"));
        out.println("Nodes:       " + s.getNodesDone() + " done, " + s.getNodesFailed() + " failed, of " + s.getNodesTotal()
                + (s.hasCompletionTime() ? "; finished " + Durations.age(s.getCompletionTime(), now) + " ago" : ""));
        out.println();
        Output.table(out, List.of("NODE", "PHASE", "IMAGES", "UPDATED", "MESSAGE"), s.getNodesList().stream()
                .map(n -> List.of(n.getNode(), n.getPhase().name(), n.getImagesDone() + "/" + p.getSpec().getImagesCount(),
                        n.hasUpdateTime() ? Durations.age(n.getUpdateTime(), now) : "-", n.getMessage())).toList());
    }

    /** Create if absent; an existing one with the same spec is unchanged; another spec needs a delete first (no Update). */
    static String apply(ApiClient api, ImagePrefetch prefetch) {
        String ns = prefetch.getMetadata().getNamespace().isEmpty() ? "default" : prefetch.getMetadata().getNamespace();
        String id = "imageprefetch/" + ns + "/" + prefetch.getMetadata().getName();
        ImagePrefetch current;
        try {
            current = get(api, ns, prefetch.getMetadata().getName());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
            api.imagePrefetches().createImagePrefetch(CreateImagePrefetchRequest.newBuilder().setImagePrefetch(prefetch).build());
            return id + " created";
        }
        if (current.getSpec().equals(prefetch.getSpec())) {
            return id + " unchanged";
        }
        throw new UsageException(id + " exists with another spec; an image prefetch cannot be changed: delete it and apply again");
    }

    static void delete(ApiClient api, String namespace, String name) {
        api.imagePrefetches().deleteImagePrefetch(DeleteImagePrefetchRequest.newBuilder().setNamespace(namespace).setName(name).build());
    }
}
