package dev.edgeplane.agent.cli;

import dev.edgeplane.agent.host.HostInfo;
import dev.edgeplane.agent.identity.CaPin;
import dev.edgeplane.agent.identity.StateDir;
import dev.edgeplane.agent.join.JoinFailure;
import dev.edgeplane.agent.join.Joiner;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "join", mixinStandardHelpOptions = true,
        description = "Join this host to a control plane: make the node key, get a certificate with the bootstrap token, "
                + "trusting only the CA whose hash is pinned.",
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:joined", "1:other error (for example already joined: use --force)", "2:usage",
                "3:token refused (unknown, expired or used up)", "4:CA hash mismatch", "5:server unreachable"})
final class JoinCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--server", required = true, description = "The control plane's agent endpoint, HOST:PORT.")
    String server;

    @Option(names = "--token", required = true, description = "The bootstrap token, ID.SECRET.")
    String token;

    @Option(names = "--ca-hash", required = true, description = "sha256:HEX of the control plane's CA certificate (DER).")
    String caHash;

    @Option(names = "--name", description = "The node name (default: the host name as a DNS-1123 label).")
    String name;

    @Option(names = "--label", split = ",", description = "A label for the node, k=v (repeatable); only keys under agent.edgeplane.dev/ (scheduling labels come from the token).")
    Map<String, String> labels = new LinkedHashMap<>();

    @Option(names = "--state-dir", defaultValue = StateDir.DEFAULT, description = "Where the identity and journal live (default: ${DEFAULT-VALUE}).")
    Path stateDir;

    @Option(names = "--force", description = "Join again over an existing identity (the journal is reset).")
    boolean force;

    @Option(names = "--connect-timeout", defaultValue = "10s", converter = DurationConverter.class,
            description = "How long to try to reach the server (default: ${DEFAULT-VALUE}).")
    Duration connectTimeout;

    @Override
    public Integer call() {
        CaPin pin;
        Joiner.Request request;
        try {
            pin = CaPin.parse(caHash);
            request = new Joiner.Request(server, token, pin, name == null || name.isBlank() ? HostInfo.defaultNodeName() : name,
                    labels, new StateDir(stateDir), force, connectTimeout);
            Joiner.validate(request);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        try {
            Joiner.Result result = new Joiner().join(request);
            spec.commandLine().getOut().printf("joined as node %s; sync endpoint %s; state in %s%n",
                    result.nodeName(), result.syncEndpoint(), result.stateDir());
            return 0;
        } catch (JoinFailure e) {
            spec.commandLine().getErr().println("edge-agent join: " + e.getMessage());
            return e.reason().exitCode();
        }
    }
}
