package dev.edgeplane.agent.cli;

import java.util.Locale;
import java.util.Map;
import picocli.CommandLine;

/** Option defaults from the environment: --state-dir <- EDGE_AGENT_STATE_DIR, and so on. */
final class EnvDefaults implements CommandLine.IDefaultValueProvider {
    private final Map<String, String> env;

    EnvDefaults(Map<String, String> env) {
        this.env = Map.copyOf(env);
    }

    static String variable(String longName) {
        return "EDGE_AGENT_" + longName.replaceFirst("^-+", "").replace('-', '_').toUpperCase(Locale.ROOT);
    }

    @Override
    public String defaultValue(CommandLine.Model.ArgSpec argSpec) {
        if (argSpec instanceof CommandLine.Model.OptionSpec option) {
            String value = env.get(variable(option.longestName()));
            if (value != null && !value.isEmpty()) {
                return value;
            }
        }
        return argSpec.defaultValue();
    }
}
