package dev.edgeplane.cli;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * A completion script, picocli's: commands, options, and resource kinds where a command takes one.
 * zsh runs the bash script through bashcompinit.
 */
@Command(name = "completion", description = "Print a shell completion script: source <(edgectl completion bash), "
        + "or for zsh: source <(edgectl completion zsh).")
final class CompletionCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Parameters(paramLabel = "SHELL", description = "bash or zsh")
    String shell;

    @Override
    public Integer call() {
        CommandLine root = spec.commandLine().getParent();
        String script = AutoComplete.bash("edgectl", root);
        var out = spec.commandLine().getOut();
        switch (shell.toLowerCase(Locale.ROOT)) {
            case "bash" -> out.print(script);
            case "zsh" -> {
                out.println("#compdef edgectl");
                out.println("autoload -U +X compinit && compinit");
                out.println("autoload -U +X bashcompinit && bashcompinit");
                out.print(script);
            }
            default -> throw new UsageException("no completion for shell '" + shell + "' (bash or zsh)");
        }
        out.flush();
        return 0;
    }

    /**
     * The plural of each resource kind (what `get` lists), derived from {@link ResourceKind} so a new
     * kind completes without a change here; a derived name its parser rejects is left out.
     */
    static final class ResourceKinds implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            List<String> names = new ArrayList<>();
            for (ResourceKind kind : ResourceKind.values()) {
                String name = plural(kind.name().toLowerCase(Locale.ROOT));
                try {
                    if (ResourceKind.parse(name) == kind) {
                        names.add(name);
                    }
                } catch (UsageException ignored) {
                    // not a name the parser takes: not offered
                }
            }
            return names.iterator();
        }

        static String plural(String name) {
            if (name.endsWith("y")) {
                return name.substring(0, name.length() - 1) + "ies";
            }
            return name.endsWith("s") || name.endsWith("ch") ? name + "es" : name + "s";
        }
    }
}
