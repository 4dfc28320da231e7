package dev.edgeplane.cli;

import dev.edgeplane.api.v1.CreateImagePrefetchRequest;
import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ImagePrefetchSpec;
import dev.edgeplane.api.v1.LocalObjectReference;
import dev.edgeplane.api.v1.ObjectMeta;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "prefetch", description = "Pull images to nodes ahead of need (ImagePrefetch).",
        subcommands = PrefetchCommand.Create.class)
final class PrefetchCommand {
    @ParentCommand Edgectl root;

    @Command(name = "create", description = "Pull images to the nodes a selector matches and/or named nodes: "
            + "edgectl prefetch create NAME --image I [--image I2] [--selector k=v] [--node N] [--pull-secret S]. "
            + "The nodes are resolved now; follow progress with edgectl describe prefetch NAME.")
    static final class Create implements Callable<Integer> {
        @ParentCommand PrefetchCommand prefetch;
        @Spec CommandSpec spec;

        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Option(names = {"-n", "--namespace"}, defaultValue = "default")
        String namespace;

        @Option(names = "--image", required = true, paramLabel = "IMAGE", description = "An image to pull (repeatable, at most 16).")
        List<String> images = new ArrayList<>();

        @Option(names = {"-l", "--selector"}, paramLabel = "KEY=VALUE", description = "Nodes with this label (repeatable: all must match).")
        Map<String, String> selector = new LinkedHashMap<>();

        @Option(names = "--node", paramLabel = "NODE", description = "A node by name (repeatable).")
        List<String> nodes = new ArrayList<>();

        @Option(names = "--pull-secret", paramLabel = "SECRET", description = "A registry-credentials Secret of the namespace (repeatable).")
        List<String> pullSecrets = new ArrayList<>();

        @Option(names = "--deadline", paramLabel = "SECONDS", description = "Nodes not done by then are failed (default: 600).")
        long deadlineSeconds;

        @Override
        public Integer call() throws Exception {
            ImagePrefetchSpec.Builder s = ImagePrefetchSpec.newBuilder().addAllImages(images).putAllNodeSelector(selector)
                    .addAllNodes(nodes).setDeadlineSeconds(deadlineSeconds);
            pullSecrets.forEach(p -> s.addImagePullSecrets(LocalObjectReference.newBuilder().setName(p)));
            try (ApiClient api = prefetch.root.connect()) {
                ImagePrefetch created = api.imagePrefetches().createImagePrefetch(CreateImagePrefetchRequest.newBuilder()
                        .setImagePrefetch(ImagePrefetch.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name).setNamespace(namespace))
                                .setSpec(s)).build());
                spec.commandLine().getOut().println("imageprefetch/" + namespace + "/" + name + " created ("
                        + created.getStatus().getNodesTotal() + " nodes)");
            }
            return 0;
        }
    }
}
