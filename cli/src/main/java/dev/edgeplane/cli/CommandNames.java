package dev.edgeplane.cli;

import java.util.Set;

/** Which command an edgectl argument list names, read without picocli (the daemon client decides before it loads). */
final class CommandNames {
    private CommandNames() {}

    /** Root options that take a value: what follows them is not the subcommand's name. */
    private static final Set<String> VALUE_OPTIONS = Set.of("--server", "--token", "--token-file", "--ca-file", "--context");

    /** The first argument that is neither a root option nor its value. */
    static String subcommandName(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (VALUE_OPTIONS.contains(a)) {
                i++;
            } else if (!a.startsWith("-")) {
                return a;
            }
        }
        return null;
    }
}
