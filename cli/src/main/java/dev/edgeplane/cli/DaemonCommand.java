package dev.edgeplane.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** edgectl daemon run|status|stop: the background JVM that makes quick commands quick ({@link CommandDaemon}). */
@Command(name = "daemon", description = "The per-user background edgectl that runs get and describe without a JVM start each "
        + "(started by the first such command, ends after 30 minutes idle; EDGECTL_DAEMON=off to not use it).",
        subcommands = DaemonCommand.Run.class)
final class DaemonCommand {
    @ParentCommand Edgectl root;
    @Spec CommandSpec spec;

    DaemonClient.Location location() {
        return DaemonClient.location(root.env(), DaemonClient.build()).orElseThrow(() -> new UsageException(
                "no private directory for the daemon's socket ($XDG_RUNTIME_DIR/edgectl or edgectl-UID in "
                        + System.getProperty("java.io.tmpdir") + " must be a directory of this user's with mode 0700)"));
    }

    /** Asks the running daemon: its answer, or that none runs. */
    static int ask(DaemonClient.Location at, String verb, CommandSpec spec) {
        OptionalInt code = DaemonClient.run(at, new DaemonWire.Request(Path.of("").toAbsolutePath().toString(), List.of("daemon", verb),
                java.util.Map.of()), System.out, System.err);
        if (code.isEmpty()) {
            spec.commandLine().getOut().println("no edgectl daemon runs for this build (socket " + at.socket() + ")");
            return 0;
        }
        return code.getAsInt();
    }

    @Command(name = "run", description = "Serve in the foreground (what the first command starts in the background).")
    static final class Run implements Callable<Integer> {
        @ParentCommand DaemonCommand daemon;

        @Option(names = "--idle", paramLabel = "DURATION", description = "End after this long without a command (default 30m).")
        String idle;

        @Override
        public Integer call() throws IOException {
            Duration idleFor = idle == null ? CommandDaemon.DEFAULT_IDLE : Durations.parse(idle);
            try (CommandDaemon server = new CommandDaemon(daemon.location(), idleFor, System.err)) {
                if (!server.bind()) {
                    System.err.println("another edgectl daemon of this build serves already");
                    return 0;
                }
                Thread terminate = new Thread(server::terminate, "edgectl-daemon-terminate");
                Runtime.getRuntime().addShutdownHook(terminate);
                server.serve();
                Runtime.getRuntime().removeShutdownHook(terminate);
            }
            return 0;
        }
    }

    @Command(name = "status", description = "Whether the daemon runs, since when, and how many commands it served.")
    int status() {
        return ask(location(), "status", spec);
    }

    @Command(name = "stop", description = "Stop the daemon (the next command starts another).")
    int stop() {
        return ask(location(), "stop", spec);
    }
}
