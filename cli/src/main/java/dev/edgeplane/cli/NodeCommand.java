package dev.edgeplane.cli;

import dev.edgeplane.api.v1.ResetNodeIdentityRequest;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** Node identity: what only an admin may do to a node's key. */
@Command(name = "node", description = "Node identity: edgectl node reset-identity NODE",
        subcommands = {NodeCommand.ResetIdentity.class, CommandLine.HelpCommand.class})
final class NodeCommand implements Callable<Integer> {
    @ParentCommand Edgectl root;

    @Override
    public Integer call() {
        throw new UsageException("edgectl node needs a subcommand: reset-identity NODE");
    }

    @Command(name = "reset-identity", description = "Revoke a node's certificate now (its streams end) and let the next "
            + "join of its name, with a valid token, give it a new key: for a host that lost its state dir or its key. "
            + "Without it a join never re-keys an existing node.")
    static final class ResetIdentity implements Callable<Integer> {
        @ParentCommand NodeCommand parent;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NODE") String name;

        @Override
        public Integer call() throws InterruptedException {
            int exit = CordonCommand.change(parent.root, spec, name, "identity reset: its certificate is revoked",
                    api -> api.nodes().resetNodeIdentity(ResetNodeIdentityRequest.newBuilder().setName(name).build()));
            spec.commandLine().getOut().println("join it again with a token: edge-agent join --name " + name + " ...");
            return exit;
        }
    }
}
