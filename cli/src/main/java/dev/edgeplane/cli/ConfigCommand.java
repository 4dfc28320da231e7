package dev.edgeplane.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Contexts of the config file, like kubectl config: one per control plane, the current one used unless
 * --context or EDGECTL_CONTEXT says otherwise. set-context stores the --server, --ca-file, --token-file
 * and --insecure given with it.
 */
@Command(name = "config", description = "Contexts (control planes) in the config file: get-contexts, current-context, "
        + "use-context NAME, set-context NAME [--server HOST:PORT] [--ca-file FILE] [--token-file FILE] [--insecure], delete-context NAME.",
        subcommands = {ConfigCommand.GetContexts.class, ConfigCommand.CurrentContext.class, ConfigCommand.UseContext.class,
                ConfigCommand.SetContext.class, ConfigCommand.DeleteContext.class})
final class ConfigCommand {
    @ParentCommand Edgectl root;

    ConfigFile file() {
        return ConfigFile.read(ConfigFile.path(root.env()));
    }

    @Command(name = "get-contexts", description = "List the contexts; * marks the current one.")
    static final class GetContexts implements Callable<Integer> {
        @ParentCommand ConfigCommand config;
        @Spec CommandSpec spec;

        @Override
        public Integer call() {
            ConfigFile file = config.file();
            List<List<String>> rows = new ArrayList<>();
            for (Map<String, Object> c : file.contexts()) {
                String name = ConfigFile.text(c, "name");
                rows.add(List.of(name.equals(file.currentContext()) ? "*" : "", name, orDash(ConfigFile.text(c, "server")),
                        orDash(ConfigFile.text(c, "caFile")), orDash(ConfigFile.text(c, "tokenFile"))));
            }
            Output.table(spec.commandLine().getOut(), List.of("CURRENT", "NAME", "SERVER", "CA-FILE", "TOKEN-FILE"), rows);
            return 0;
        }

        private static String orDash(String s) {
            return s == null ? "-" : s;
        }
    }

    @Command(name = "current-context", description = "Print the current context's name.")
    static final class CurrentContext implements Callable<Integer> {
        @ParentCommand ConfigCommand config;
        @Spec CommandSpec spec;

        @Override
        public Integer call() {
            String current = config.file().currentContext();
            if (current == null) {
                throw new UsageException("current-context is not set");
            }
            spec.commandLine().getOut().println(current);
            return 0;
        }
    }

    @Command(name = "use-context", description = "Make NAME the current context.")
    static final class UseContext implements Callable<Integer> {
        @ParentCommand ConfigCommand config;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NAME") String name;

        @Override
        public Integer call() {
            ConfigFile file = config.file();
            file.useContext(name);
            file.write();
            spec.commandLine().getOut().println("Switched to context \"" + name + "\".");
            return 0;
        }
    }

    @Command(name = "set-context", description = "Create context NAME or change the settings given: --server, --ca-file, --token-file, --insecure.")
    static final class SetContext implements Callable<Integer> {
        @ParentCommand ConfigCommand config;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NAME") String name;

        @Override
        public Integer call() {
            Edgectl root = config.root;
            if (root.token != null) {
                throw new UsageException("set-context stores a --token-file, not a --token: the file's contents stay out of the config");
            }
            if (root.insecure && root.caFile != null) {
                throw new UsageException("--insecure and --ca-file exclude each other");
            }
            Map<String, Object> settings = new LinkedHashMap<>();
            settings.put("server", root.server);
            settings.put("caFile", root.caFile == null ? null : root.caFile.toAbsolutePath().toString());
            settings.put("tokenFile", root.tokenFile == null ? null : root.tokenFile.toAbsolutePath().toString());
            settings.put("insecure", root.insecure ? Boolean.TRUE : null);
            ConfigFile file = config.file();
            boolean exists = file.context(name).isPresent();
            file.setContext(name, settings);
            file.write();
            spec.commandLine().getOut().println("Context \"" + name + "\" " + (exists ? "modified." : "created."));
            return 0;
        }
    }

    @Command(name = "delete-context", description = "Remove context NAME (and current-context if it is NAME).")
    static final class DeleteContext implements Callable<Integer> {
        @ParentCommand ConfigCommand config;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "NAME") String name;

        @Override
        public Integer call() {
            ConfigFile file = config.file();
            file.deleteContext(name);
            file.write();
            spec.commandLine().getOut().println("Deleted context " + name + ".");
            return 0;
        }
    }
}
