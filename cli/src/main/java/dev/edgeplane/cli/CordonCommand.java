package dev.edgeplane.cli;

import dev.edgeplane.api.v1.CordonNodeRequest;
import dev.edgeplane.api.v1.DrainNodeRequest;
import dev.edgeplane.api.v1.UncordonNodeRequest;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** cordon, uncordon and drain: NodeService's own calls, so the server does the read-modify-write. */
final class CordonCommand {
    private CordonCommand() {}

    static int change(Edgectl root, CommandSpec spec, String name, String done,
            java.util.function.Consumer<ApiClient> call) throws InterruptedException {
        try (ApiClient api = root.connect()) {
            call.accept(api);
        }
        spec.commandLine().getOut().println("node/" + name + " " + done);
        return 0;
    }

    @Command(name = "cordon", description = "Mark a node unschedulable: no new replicas are placed on it.")
    static final class Cordon implements Callable<Integer> {
        @ParentCommand Edgectl root;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NODE") String name;

        @Override
        public Integer call() throws InterruptedException {
            return change(root, spec, name, "cordoned",
                    api -> api.nodes().cordonNode(CordonNodeRequest.newBuilder().setName(name).build()));
        }
    }

    @Command(name = "uncordon", description = "Mark a node schedulable again (also ends a drain).")
    static final class Uncordon implements Callable<Integer> {
        @ParentCommand Edgectl root;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NODE") String name;

        @Override
        public Integer call() throws InterruptedException {
            return change(root, spec, name, "uncordoned",
                    api -> api.nodes().uncordonNode(UncordonNodeRequest.newBuilder().setName(name).build()));
        }
    }

    @Command(name = "drain", description = "Cordon a node and move its replicas to other nodes "
            + "(EVERY_NODE apps stay).")
    static final class Drain implements Callable<Integer> {
        @ParentCommand Edgectl root;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NODE") String name;

        @Override
        public Integer call() throws InterruptedException {
            return change(root, spec, name, "drained",
                    api -> api.nodes().drainNode(DrainNodeRequest.newBuilder().setName(name).build()));
        }
    }
}
