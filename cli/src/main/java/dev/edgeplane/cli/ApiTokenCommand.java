package dev.edgeplane.cli;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.ApiToken;
import dev.edgeplane.api.v1.CreateApiTokenRequest;
import dev.edgeplane.api.v1.CreateApiTokenResponse;
import dev.edgeplane.api.v1.GetApiTokenRequest;
import dev.edgeplane.api.v1.ListApiTokensRequest;
import dev.edgeplane.api.v1.ListApiTokensResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.RevokeApiTokenRequest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** Named API tokens for people and pipelines: the secret is printed once, at create. */
@Command(name = "apitoken", description = "Named API tokens: edgectl apitoken create|list|get|revoke|delete NAME",
        subcommands = {ApiTokenCommand.Create.class, ApiTokenCommand.ListTokens.class, ApiTokenCommand.Get.class,
                ApiTokenCommand.Revoke.class, ApiTokenCommand.Delete.class, CommandLine.HelpCommand.class})
final class ApiTokenCommand implements Callable<Integer> {
    static final List<String> HEADER = List.of("NAME", "STATUS", "EXPIRES", "AGE", "DESCRIPTION");

    @ParentCommand Edgectl root;

    @Override
    public Integer call() {
        throw new UsageException("edgectl apitoken needs a subcommand: create, list, get, revoke or delete");
    }

    static List<String> row(ApiToken t, Instant now) {
        String status = t.hasRevokeTime() ? "Revoked"
                : Instant.ofEpochSecond(t.getExpireTime().getSeconds()).isAfter(now) ? "Active" : "Expired";
        String description = t.getDescription().replaceAll("\\p{Cntrl}", " ");
        return List.of(t.getMetadata().getName(), status, Instant.ofEpochSecond(t.getExpireTime().getSeconds()).toString(),
                Durations.age(t.getMetadata().getCreateTime(), now), description.length() > 60 ? description.substring(0, 57) + "..." : description);
    }

    @Command(name = "create", description = "Create a token and print its secret: the only time it is shown. "
            + "Bind it to a role with edgectl rolebinding create.")
    static final class Create implements Callable<Integer> {
        @ParentCommand ApiTokenCommand parent;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NAME") String name;

        @Option(names = "--expires-in", paramLabel = "DURATION",
                description = "Lifetime, e.g. 720h or 30d (default: the control plane's, 90 days; at most a year).")
        String expiresIn;

        @Option(names = "--description", defaultValue = "")
        String description;

        @Option(names = {"-o", "--output"}, description = "secret (default: the secret alone), json or yaml")
        String format = "secret";

        @Override
        public Integer call() throws Exception {
            ApiToken.Builder token = ApiToken.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name)).setDescription(description);
            if (expiresIn != null) {
                Instant at = Instant.now().plus(Durations.parse(expiresIn));
                token.setExpireTime(Timestamp.newBuilder().setSeconds(at.getEpochSecond()).setNanos(at.getNano()));
            }
            CreateApiTokenResponse created;
            try (ApiClient api = parent.root.connect()) {
                created = api.access().createApiToken(CreateApiTokenRequest.newBuilder().setApiToken(token).build());
            }
            var out = spec.commandLine().getOut();
            switch (format) {
                case "json" -> out.println(Output.json(created));
                case "yaml" -> out.print(Output.yaml(created));
                default -> {
                    out.println(created.getSecret());
                    spec.commandLine().getErr().println("apitoken/" + name + " created, expires "
                            + Instant.ofEpochSecond(created.getApiToken().getExpireTime().getSeconds())
                            + ". The secret above is shown only now: store it.");
                }
            }
            out.flush();
            return 0;
        }
    }

    @Command(name = "list", description = "List tokens (never their secrets).")
    static final class ListTokens implements Callable<Integer> {
        @ParentCommand ApiTokenCommand parent;
        @Spec CommandSpec spec;

        @Option(names = {"-o", "--output"}, description = "table (default), json or yaml")
        Output.Format format = Output.Format.table;

        @Override
        public Integer call() throws Exception {
            List<ApiToken> tokens = new ArrayList<>();
            try (ApiClient api = parent.root.connect()) {
                String page = "";
                do {
                    ListApiTokensResponse r = api.access().listApiTokens(ListApiTokensRequest.newBuilder()
                            .setPageSize(1000).setPageToken(page).build());
                    tokens.addAll(r.getApiTokensList());
                    page = r.getNextPageToken();
                } while (!page.isEmpty());
            }
            Instant now = Instant.now();
            Output.print(spec.commandLine().getOut(), format, tokens, HEADER, m -> row((ApiToken) m, now));
            return 0;
        }
    }

    @Command(name = "get", description = "Show one token (never its secret).")
    static final class Get implements Callable<Integer> {
        @ParentCommand ApiTokenCommand parent;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NAME") String name;

        @Option(names = {"-o", "--output"}, description = "table (default), json or yaml")
        Output.Format format = Output.Format.table;

        @Override
        public Integer call() throws Exception {
            ApiToken token;
            try (ApiClient api = parent.root.connect()) {
                token = api.access().getApiToken(GetApiTokenRequest.newBuilder().setName(name).build());
            }
            Instant now = Instant.now();
            Output.print(spec.commandLine().getOut(), format, List.of(token), HEADER, m -> row((ApiToken) m, now));
            return 0;
        }
    }

    @Command(name = "revoke", description = "Revoke a token: its next call is refused, on every control plane replica "
            + "within seconds. The record stays (edgectl apitoken list) until edgectl apitoken delete NAME.")
    static final class Revoke implements Callable<Integer> {
        @ParentCommand ApiTokenCommand parent;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NAME") String name;

        @Override
        public Integer call() throws Exception {
            try (ApiClient api = parent.root.connect()) {
                api.access().revokeApiToken(RevokeApiTokenRequest.newBuilder().setName(name).build());
            }
            spec.commandLine().getOut().println("apitoken/" + name + " revoked");
            return 0;
        }
    }

    @Command(name = "delete", description = "Forget a token: it stops working as a revoked one does, and leaves the list.")
    static final class Delete implements Callable<Integer> {
        @ParentCommand ApiTokenCommand parent;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NAME") String name;

        @Override
        public Integer call() throws Exception {
            try (ApiClient api = parent.root.connect()) {
                api.access().deleteApiToken(dev.edgeplane.api.v1.DeleteApiTokenRequest.newBuilder().setName(name).build());
            }
            spec.commandLine().getOut().println("apitoken/" + name + " deleted");
            return 0;
        }
    }
}
