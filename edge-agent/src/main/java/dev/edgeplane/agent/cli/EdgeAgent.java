package dev.edgeplane.agent.cli;

import dev.edgeplane.agent.host.HostInfo;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The edge-agent command line: `join` once, then `run` (as a service). */
@Command(name = "edge-agent", mixinStandardHelpOptions = true, versionProvider = EdgeAgent.Version.class,
        description = "The Edgeplane agent: joins this host to a control plane and runs what it is told, also offline.",
        subcommands = {JoinCommand.class, RunCommand.class},
        footer = "%nEvery option can also come from the environment: EDGE_AGENT_<OPTION> (e.g. EDGE_AGENT_STATE_DIR).")
public final class EdgeAgent implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the command line and returns its exit code (tests call this in-process). */
    public static int execute(String... args) {
        return execute(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
    }

    public static int execute(PrintWriter out, PrintWriter err, String... args) {
        Logging.configure();
        // An agent holds two or three connections: one pooled-buffer arena each for heap and direct
        // memory is plenty (Netty's default is two per core). Must be set before Netty loads.
        System.setProperty("io.netty.allocator.numDirectArenas", System.getProperty("io.netty.allocator.numDirectArenas", "1"));
        System.setProperty("io.netty.allocator.numHeapArenas", System.getProperty("io.netty.allocator.numHeapArenas", "1"));
        CommandLine commandLine = new CommandLine(new EdgeAgent())
                .setDefaultValueProvider(new EnvDefaults(System.getenv()))
                .setOut(out)
                .setErr(err)
                .setParameterExceptionHandler((e, argv) -> {
                    // One clear line, not the whole help text.
                    e.getCommandLine().getErr().println("edge-agent: " + e.getMessage()
                            + " (see: " + e.getCommandLine().getCommandSpec().qualifiedName() + " --help)");
                    return CommandLine.ExitCode.USAGE;
                });
        return commandLine.execute(args);
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command: join or run");
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"edge-agent " + HostInfo.agentVersion()};
        }
    }
}
