package dev.edgeplane.cli;

import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.UpdateNodeRequest;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** cordon/uncordon: the node's spec.unschedulable, through UpdateNode (with its resource version). */
final class CordonCommand {
    private CordonCommand() {}

    static int set(Edgectl root, CommandSpec spec, String name, boolean unschedulable) throws InterruptedException {
        try (ApiClient api = root.connect()) {
            Node node = api.nodes().getNode(GetNodeRequest.newBuilder().setName(name).build());
            if (node.getSpec().getUnschedulable() != unschedulable) {
                api.nodes().updateNode(UpdateNodeRequest.newBuilder()
                        .setNode(node.toBuilder().setSpec(node.getSpec().toBuilder().setUnschedulable(unschedulable))).build());
            }
            spec.commandLine().getOut().println("node/" + name + (unschedulable ? " cordoned" : " uncordoned"));
        }
        return 0;
    }

    @Command(name = "cordon", description = "Mark a node unschedulable: no new replicas are placed on it.")
    static final class Cordon implements Callable<Integer> {
        @ParentCommand Edgectl root;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NODE") String name;

        @Override
        public Integer call() throws InterruptedException {
            return set(root, spec, name, true);
        }
    }

    @Command(name = "uncordon", description = "Mark a node schedulable again.")
    static final class Uncordon implements Callable<Integer> {
        @ParentCommand Edgectl root;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NODE") String name;

        @Override
        public Integer call() throws InterruptedException {
            return set(root, spec, name, false);
        }
    }
}
