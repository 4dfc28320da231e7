package dev.edgeplane.cli;

import dev.edgeplane.api.v1.CancelCaRolloverRequest;
import dev.edgeplane.api.v1.ClusterCa;
import dev.edgeplane.api.v1.FinishCaRolloverRequest;
import dev.edgeplane.api.v1.GetClusterCaRequest;
import dev.edgeplane.api.v1.StartCaRolloverRequest;
import dev.edgeplane.api.v1.SwitchCaRolloverRequest;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import java.util.function.Function;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** The cluster CA and its rollover: start, switch, finish (or cancel), each refused while a node would be cut off. */
@Command(name = "ca", description = "The cluster CA: edgectl ca get | rollover start|switch|finish|cancel",
        subcommands = {CaCommand.Get.class, CaCommand.Rollover.class, CommandLine.HelpCommand.class})
final class CaCommand implements Callable<Integer> {
    @ParentCommand Edgectl root;

    @Override
    public Integer call() {
        throw new UsageException("edgectl ca needs a subcommand: get, rollover");
    }

    static int show(Edgectl root, CommandSpec spec, Function<ApiClient, ClusterCa> call) throws InterruptedException {
        ClusterCa ca;
        try (ApiClient api = root.connect()) {
            ca = call.apply(api);
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println("phase:        " + ca.getPhase());
        out.println("signing CA:   " + ca.getSigningCaHash());
        if (!ca.getRolloverCaHash().isEmpty()) {
            out.println((ca.getPhase() == ClusterCa.Phase.PREPARED ? "incoming CA:  " : "outgoing CA:  ") + ca.getRolloverCaHash());
        }
        if (ca.getPhase() != ClusterCa.Phase.NONE) {
            out.println("pending nodes: " + ca.getPendingNodeCount()
                    + (ca.getPendingNodesCount() == 0 ? "" : " (" + String.join(", ", ca.getPendingNodesList())
                    + (ca.getPendingNodeCount() > ca.getPendingNodesCount() ? ", ..." : "") + ")"));
            out.println(ca.getPhase() == ClusterCa.Phase.PREPARED
                    ? "next: edgectl ca rollover switch, once no node is pending (connected nodes get the new CA within a heartbeat)"
                    : "next: edgectl ca rollover finish, once no node is pending (connected nodes renew onto the new CA within a heartbeat)");
        }
        return 0;
    }

    @Command(name = "get", description = "The signing CA (what edge-agent join --ca-hash pins) and any rollover under way.")
    static final class Get implements Callable<Integer> {
        @ParentCommand CaCommand parent;
        @Spec CommandSpec spec;

        @Override
        public Integer call() throws InterruptedException {
            return show(parent.root, spec, api -> api.clusterCa().getClusterCa(GetClusterCaRequest.getDefaultInstance()));
        }
    }

    @Command(name = "rollover", description = "Replace the cluster CA without cutting any node off: "
            + "start (a new CA is trusted next to the current one and every node is given it), "
            + "switch (the new CA signs; nodes renew onto it), finish (the old CA is dropped); cancel undoes a start.",
            subcommands = {Start.class, Switch.class, Finish.class, Cancel.class, CommandLine.HelpCommand.class})
    static final class Rollover implements Callable<Integer> {
        @ParentCommand CaCommand parent;

        @Override
        public Integer call() {
            throw new UsageException("edgectl ca rollover needs a step: start, switch, finish or cancel");
        }
    }

    @Command(name = "start", description = "Make a new CA, trusted next to the signing one; nodes are given it as they renew.")
    static final class Start implements Callable<Integer> {
        @ParentCommand Rollover parent;
        @Spec CommandSpec spec;

        @Override
        public Integer call() throws InterruptedException {
            return show(parent.parent.root, spec, api -> api.clusterCa().startCaRollover(StartCaRolloverRequest.getDefaultInstance()));
        }
    }

    @Command(name = "switch", description = "The new CA signs from now on (refused while a node lacks it, unless --force).")
    static final class Switch implements Callable<Integer> {
        @ParentCommand Rollover parent;
        @Spec CommandSpec spec;
        @Option(names = "--force", description = "Switch even though the nodes named are cut off (they must be reset and joined again).")
        boolean force;

        @Override
        public Integer call() throws InterruptedException {
            return show(parent.parent.root, spec, api -> api.clusterCa().switchCaRollover(SwitchCaRolloverRequest.newBuilder().setForce(force).build()));
        }
    }

    @Command(name = "finish", description = "Stop trusting the old CA (refused while a node holds its certificate, unless --force).")
    static final class Finish implements Callable<Integer> {
        @ParentCommand Rollover parent;
        @Spec CommandSpec spec;
        @Option(names = "--force", description = "Finish even though the nodes named are cut off (they must be reset and joined again).")
        boolean force;

        @Override
        public Integer call() throws InterruptedException {
            return show(parent.parent.root, spec, api -> api.clusterCa().finishCaRollover(FinishCaRolloverRequest.newBuilder().setForce(force).build()));
        }
    }

    @Command(name = "cancel", description = "Drop the new CA of a started (not yet switched) rollover.")
    static final class Cancel implements Callable<Integer> {
        @ParentCommand Rollover parent;
        @Spec CommandSpec spec;

        @Override
        public Integer call() throws InterruptedException {
            return show(parent.parent.root, spec, api -> api.clusterCa().cancelCaRollover(CancelCaRolloverRequest.getDefaultInstance()));
        }
    }
}
