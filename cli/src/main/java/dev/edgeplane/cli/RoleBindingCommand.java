package dev.edgeplane.cli;

import dev.edgeplane.api.v1.CreateRoleBindingRequest;
import dev.edgeplane.api.v1.DeleteRoleBindingRequest;
import dev.edgeplane.api.v1.ListRoleBindingsRequest;
import dev.edgeplane.api.v1.ListRoleBindingsResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Role;
import dev.edgeplane.api.v1.RoleBinding;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** Who may do what where: a role for a subject, in one namespace or cluster-wide. */
@Command(name = "rolebinding", description = "Role bindings: edgectl rolebinding create NAME --role viewer --subject token:ci "
        + "[--namespace NS] | list | delete NAME",
        subcommands = {RoleBindingCommand.Create.class, RoleBindingCommand.ListBindings.class, RoleBindingCommand.Delete.class,
                CommandLine.HelpCommand.class})
final class RoleBindingCommand implements Callable<Integer> {
    static final List<String> HEADER = List.of("NAME", "ROLE", "SUBJECT", "NAMESPACE", "AGE");
    static final List<String> ROLES = List.of("viewer", "deployer", "operator", "admin");

    @ParentCommand Edgectl root;

    @Override
    public Integer call() {
        throw new UsageException("edgectl rolebinding needs a subcommand: create, list or delete");
    }

    static Role role(String text) {
        String name = text.toLowerCase(Locale.ROOT);
        if (!ROLES.contains(name)) {
            throw new UsageException("unknown role '" + text + "' (" + String.join(", ", ROLES) + ")");
        }
        return Role.valueOf(name.toUpperCase(Locale.ROOT));
    }

    static List<String> row(RoleBinding b, Instant now) {
        return List.of(b.getMetadata().getName(), b.getRole().name().toLowerCase(Locale.ROOT), b.getSubject(),
                b.getNamespace().isEmpty() ? "*" : b.getNamespace(), Durations.age(b.getMetadata().getCreateTime(), now));
    }

    @Command(name = "create", description = "Grant ROLE to SUBJECT (token:<name>, oidc:<user> or group:<group>) in a namespace, "
            + "or cluster-wide without --namespace.")
    static final class Create implements Callable<Integer> {
        @ParentCommand RoleBindingCommand parent;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NAME") String name;

        @Option(names = "--role", required = true, description = "viewer, deployer, operator or admin")
        String role;

        @Option(names = "--subject", required = true, description = "token:<name>, oidc:<user> or group:<group>")
        String subject;

        @Option(names = {"-n", "--namespace"}, defaultValue = "", description = "Where the role applies (default: cluster-wide).")
        String namespace;

        @Override
        public Integer call() throws Exception {
            RoleBinding created;
            try (ApiClient api = parent.root.connect()) {
                created = api.access().createRoleBinding(CreateRoleBindingRequest.newBuilder().setRoleBinding(RoleBinding.newBuilder()
                        .setMetadata(ObjectMeta.newBuilder().setName(name)).setRole(role(role)).setSubject(subject)
                        .setNamespace(namespace)).build());
            }
            spec.commandLine().getOut().println("rolebinding/" + name + " created: " + created.getSubject() + " is "
                    + created.getRole().name().toLowerCase(Locale.ROOT) + " "
                    + (created.getNamespace().isEmpty() ? "cluster-wide" : "in namespace " + created.getNamespace()));
            return 0;
        }
    }

    @Command(name = "list", description = "List role bindings (NAMESPACE * is cluster-wide).")
    static final class ListBindings implements Callable<Integer> {
        @ParentCommand RoleBindingCommand parent;
        @Spec CommandSpec spec;

        @Option(names = {"-o", "--output"}, description = "table (default), json or yaml")
        Output.Format format = Output.Format.table;

        @Override
        public Integer call() throws Exception {
            List<RoleBinding> bindings = new ArrayList<>();
            try (ApiClient api = parent.root.connect()) {
                String page = "";
                do {
                    ListRoleBindingsResponse r = api.access().listRoleBindings(ListRoleBindingsRequest.newBuilder()
                            .setPageSize(1000).setPageToken(page).build());
                    bindings.addAll(r.getRoleBindingsList());
                    page = r.getNextPageToken();
                } while (!page.isEmpty());
            }
            Instant now = Instant.now();
            Output.print(spec.commandLine().getOut(), format, bindings, HEADER, m -> row((RoleBinding) m, now));
            return 0;
        }
    }

    @Command(name = "delete", description = "Remove a role binding; its subject loses the role within seconds.")
    static final class Delete implements Callable<Integer> {
        @ParentCommand RoleBindingCommand parent;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NAME") String name;

        @Override
        public Integer call() throws Exception {
            try (ApiClient api = parent.root.connect()) {
                api.access().deleteRoleBinding(DeleteRoleBindingRequest.newBuilder().setName(name).build());
            }
            spec.commandLine().getOut().println("rolebinding/" + name + " deleted");
            return 0;
        }
    }
}
