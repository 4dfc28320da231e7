package dev.edgeplane.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** edgectl: the operator's command line for Edgeplane. */
@Command(
        name = "edgectl",
        mixinStandardHelpOptions = true,
        // -h/--help (and -V) on every command, as kubectl's --help
        scope = ScopeType.INHERIT,
        versionProvider = Edgectl.Version.class,
        description = "Operate an Edgeplane fleet through the control plane's API.")
public final class Edgectl {

    /**
     * The subcommands, registered in {@link #commandLine}: picocli builds a command's model by
     * reflection when it is added, so only the one being run is (plus all of them for help and
     * completion), a tenth of the start-up of a plain get.
     */
    static final List<Class<?>> SUBCOMMANDS = List.of(
            GetCommand.class, DescribeCommand.class, ApplyCommand.class, CreateCommand.class, DeleteCommand.class, TokenCommand.class,
            WaitCommand.class, LogsCommand.class, ExecCommand.class, PortForwardCommand.class, SshCommand.class,
            CordonCommand.Cordon.class, CordonCommand.Uncordon.class, CordonCommand.Drain.class,
            LabelCommand.Label.class, LabelCommand.Taint.class, ConfigCommand.class, CompletionCommand.class,
            TopCommand.class, MetricsCommand.class, NodeCommand.class, AuditCommand.class, CaCommand.class,
            ApiTokenCommand.class, RoleBindingCommand.class, RolloutCommand.class, PrefetchCommand.class, DaemonCommand.class,
            CommandLine.HelpCommand.class);

    // grpc-java logs transport details at INFO; a CLI shows only its own output and errors. Held
    // here because java.util.logging keeps loggers weakly and would forget the level.
    private static final java.util.logging.Logger GRPC_LOGGER = java.util.logging.Logger.getLogger("io.grpc");

    static {
        GRPC_LOGGER.setLevel(java.util.logging.Level.WARNING);
    }

    static final int EXIT_API_ERROR = 1;
    static final int EXIT_USAGE = 2;

    @Option(names = "--server", scope = ScopeType.INHERIT, paramLabel = "HOST:PORT",
            description = "Control plane API address (env EDGECTL_SERVER, default "
                    + ClientConfig.DEFAULT_SERVER + ").")
    String server;

    @Option(names = "--token", scope = ScopeType.INHERIT,
            description = "Bearer token (env EDGECTL_TOKEN).")
    String token;

    @Option(names = "--token-file", scope = ScopeType.INHERIT,
            description = "File holding the bearer token (env EDGECTL_TOKEN_FILE).")
    Path tokenFile;

    @Option(names = "--ca-file", scope = ScopeType.INHERIT, paramLabel = "FILE",
            description = "PEM CA certificate(s) the API's TLS certificate must chain to (env EDGECTL_CA_FILE; "
                    + "default: the system's trusted CAs).")
    Path caFile;

    @Option(names = "--context", scope = ScopeType.INHERIT, paramLabel = "NAME",
            description = "Context of the config file to use instead of its current-context (env EDGECTL_CONTEXT).")
    String context;

    @Option(names = "--insecure", scope = ScopeType.INHERIT,
            description = "Plaintext, no TLS: the token travels in the clear (env EDGECTL_INSECURE=true; "
                    + "for a control plane without TLS on loopback or in tests).")
    boolean insecure;

    private final Map<String, String> env;
    /** Where relative paths (flags, environment, config) point from: the caller's, when the daemon runs it. */
    private final Path workingDir;

    Edgectl(Map<String, String> env, Path workingDir) {
        this.env = env;
        this.workingDir = workingDir;
    }

    Map<String, String> env() {
        return env;
    }

    ApiClient connect() {
        return new ApiClient(ClientConfig.resolve(server, token, tokenFile, caFile, insecure, context, env, workingDir));
    }

    /** Runs the command in this JVM (without the daemon); {@link Main} is the launcher's entry point. */
    public static void main(String[] args) {
        System.exit(runHere(args));
    }

    static int runHere(String[] args) {
        return run(args, System.getenv(), Path.of("").toAbsolutePath(), new PrintWriter(System.out, true),
                new PrintWriter(System.err, true));
    }

    static int run(String[] args, Map<String, String> env, PrintWriter out, PrintWriter err) {
        return run(args, env, Path.of("").toAbsolutePath(), out, err);
    }

    static int run(String[] args, Map<String, String> env, Path workingDir, PrintWriter out, PrintWriter err) {
        CommandLine cli = commandLine(new Edgectl(env, workingDir), args);
        cli.setOut(out);
        cli.setErr(err);
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (e instanceof StatusRuntimeException status) {
                err.println(describe(status));
                return EXIT_API_ERROR;
            }
            if (e instanceof UsageException) {
                err.println("error: " + e.getMessage());
                return EXIT_USAGE;
            }
            throw e;
        });
        return cli.execute(args);
    }

    /** The root with the subcommand that args name, or with all of them when none is named or known (or help, completion). */
    static CommandLine commandLine(Edgectl root, String[] args) {
        String named = CommandNames.subcommandName(args);
        CommandLine cli = new CommandLine(root);
        if (named == null && (Arrays.asList(args).contains("--version") || Arrays.asList(args).contains("-V"))) {
            return cli;
        }
        if (named != null && !named.equals("help") && !named.equals("completion")) {
            // reading a class's annotation costs too (a proxy each): stop at the one named
            for (Class<?> c : SUBCOMMANDS) {
                Command command = c.getAnnotation(Command.class);
                if (command.name().equals(named) || Arrays.asList(command.aliases()).contains(named)) {
                    cli.addSubcommand(c);
                    return cli;
                }
            }
        }
        // help, completion, no command or an unknown one (picocli's suggestions need them all)
        for (Class<?> c : SUBCOMMANDS) {
            cli.addSubcommand(c);
        }
        return cli;
    }

    /** A TLS failure says what to do about it: the usual causes are a private CA or a plaintext server. */
    private static String tlsHint(StatusRuntimeException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof javax.net.ssl.SSLException || t instanceof io.netty.handler.ssl.NotSslRecordException) {
                return "; TLS failed: " + t.getMessage() + ". A private CA: --ca-file FILE; a plaintext server: --insecure";
            }
        }
        return "";
    }

    /** "error: INVALID_ARGUMENT: ..." plus one line per field violation. */
    static String describe(StatusRuntimeException e) {
        StringBuilder sb = new StringBuilder("error: ").append(e.getStatus().getCode()).append(": ")
                .append(e.getStatus().getCode() == io.grpc.Status.Code.UNAVAILABLE
                        ? "cannot reach the control plane (" + e.getStatus().getDescription() + tlsHint(e) + ")"
                        : e.getStatus().getDescription());
        com.google.rpc.Status detail = StatusProto.fromThrowable(e);
        if (detail != null) {
            for (var any : detail.getDetailsList()) {
                if (any.is(BadRequest.class)) {
                    try {
                        for (var v : any.unpack(BadRequest.class).getFieldViolationsList()) {
                            sb.append("\n  ").append(v.getField()).append(": ").append(v.getDescription());
                        }
                    } catch (InvalidProtocolBufferException ignored) {
                        // A detail we cannot read adds nothing to the message.
                    }
                }
            }
        }
        return sb.toString();
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Edgectl.class.getPackage().getImplementationVersion();
            return new String[] {"edgectl " + (v == null ? "dev" : v)};
        }
    }
}
