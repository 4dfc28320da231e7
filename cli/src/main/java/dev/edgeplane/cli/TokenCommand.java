package dev.edgeplane.cli;

import com.google.protobuf.Duration;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "token", description = "Bootstrap tokens for joining edge hosts.",
        subcommands = TokenCommand.Create.class)
final class TokenCommand {
    @ParentCommand Edgectl root;

    @Command(name = "create",
            description = "Create a join token and print the command that joins a host with it.")
    static final class Create implements Callable<Integer> {
        @ParentCommand TokenCommand token;
        @Spec CommandSpec spec;

        @Option(names = "--ttl", defaultValue = "24h", description = "Lifetime (default 24h).")
        String ttl;

        @Option(names = "--max-uses", defaultValue = "1", description = "Joins allowed (default 1).")
        int maxUses;

        @Option(names = "--node-label", paramLabel = "KEY=VALUE",
                description = "Label given to every node that joins with the token.")
        Map<String, String> nodeLabels = new LinkedHashMap<>();

        @Option(names = "--description")
        String description = "";

        @Option(names = "--node", paramLabel = "NAME", description = "Only a node of this name may join with the token.")
        String node = "";

        @Option(names = "--pool", paramLabel = "POOL", description = "Every node that joins with the token is in this pool "
                + "(label edgeplane.dev/pool), whatever else asks.")
        String pool = "";

        @Option(names = {"-o", "--output"}, description = "command (default: the join command), json or yaml")
        String format = "command";

        @Override
        public Integer call() throws Exception {
            JoinTokenSpec.Builder s = JoinTokenSpec.newBuilder()
                    .setTtl(Duration.newBuilder().setSeconds(Durations.parse(ttl).toSeconds()))
                    .setMaxUses(maxUses).putAllNodeLabels(nodeLabels).setDescription(description).setNodeName(node).setPool(pool);
            JoinToken created;
            try (ApiClient api = token.root.connect()) {
                created = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder()
                        .setToken(JoinToken.newBuilder().setSpec(s)).build());
            }
            var out = spec.commandLine().getOut();
            switch (format) {
                case "json" -> out.println(Output.json(created));
                case "yaml" -> out.print(Output.yaml(created));
                default -> out.println(created.getStatus().getJoinCommand());
            }
            return 0;
        }
    }

}
