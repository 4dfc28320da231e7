package dev.edgeplane.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
  * Where edgectl finds the control plane and its credentials. Each setting comes from the first
  * of: the flag, the environment, the config file's context, its top level ({@link ConfigFile}),
  * the default.
  */
record ClientConfig(String server, String token, java.util.Optional<Path> caFile, boolean insecure) {

    static final String DEFAULT_SERVER = "127.0.0.1:8080";

    /** TLS trusting the system's CAs. */
    ClientConfig(String server, String token) {
        this(server, token, java.util.Optional.empty(), false);
    }

    /** Without TLS settings (tests of what resolves from where). */
    static ClientConfig resolve(String serverFlag, String tokenFlag, Path tokenFileFlag, Map<String, String> env) {
        return resolve(serverFlag, tokenFlag, tokenFileFlag, null, false, env);
    }

    static ClientConfig resolve(String serverFlag, String tokenFlag, Path tokenFileFlag, Path caFileFlag, boolean insecureFlag,
                                Map<String, String> env) {
        return resolve(serverFlag, tokenFlag, tokenFileFlag, caFileFlag, insecureFlag, null, env);
    }

    /**
     * contextFlag (else EDGECTL_CONTEXT, else the file's current-context) picks the file's context,
     * whose settings then replace the file's top-level ones (as a kubeconfig context is whole).
     */
    static ClientConfig resolve(String serverFlag, String tokenFlag, Path tokenFileFlag, Path caFileFlag, boolean insecureFlag,
                                String contextFlag, Map<String, String> env) {
        return resolve(serverFlag, tokenFlag, tokenFileFlag, caFileFlag, insecureFlag, contextFlag, env, Path.of("").toAbsolutePath());
    }

    /** Relative paths (in flags, the environment or the config file) from workingDir. */
    static ClientConfig resolve(String serverFlag, String tokenFlag, Path tokenFileFlag, Path caFileFlag, boolean insecureFlag,
                                String contextFlag, Map<String, String> env, Path workingDir) {
        ConfigFile file = ConfigFile.read(workingDir.resolve(ConfigFile.path(env)));
        String contextName = first(contextFlag, env.get("EDGECTL_CONTEXT"), file.currentContext());
        Map<String, Object> settings = contextName == null ? file.topLevel() : file.context(contextName).orElseThrow(() -> new UsageException(
                "no context \"" + contextName + "\" in " + file.path() + " (edgectl config get-contexts)"));
        String server = first(serverFlag, env.get("EDGECTL_SERVER"), ConfigFile.text(settings, "server"), DEFAULT_SERVER);
        // A token and a token file from the same place: the token; from different places: the nearer.
        String token;
        if (tokenFlag != null || tokenFileFlag != null) {
            token = tokenFlag != null ? tokenFlag : readToken(workingDir.resolve(tokenFileFlag));
        } else if (first(env.get("EDGECTL_TOKEN"), env.get("EDGECTL_TOKEN_FILE")) != null) {
            token = first(env.get("EDGECTL_TOKEN")) != null ? env.get("EDGECTL_TOKEN") : readToken(workingDir.resolve(env.get("EDGECTL_TOKEN_FILE")));
        } else {
            String tokenFile = first(ConfigFile.text(settings, "tokenFile"));
            token = first(ConfigFile.text(settings, "token"));
            if (token == null && tokenFile != null) {
                token = readToken(workingDir.resolve(tokenFile));
            }
        }
        String caFile = first(caFileFlag == null ? null : caFileFlag.toString(), env.get("EDGECTL_CA_FILE"),
                ConfigFile.text(settings, "caFile"), null);
        boolean insecure = insecureFlag || "true".equalsIgnoreCase(env.get("EDGECTL_INSECURE"))
                || "true".equalsIgnoreCase(ConfigFile.text(settings, "insecure"));
        if (insecure && caFile != null) {
            throw new UsageException("--insecure and --ca-file (or EDGECTL_INSECURE and EDGECTL_CA_FILE) exclude each other");
        }
        return new ClientConfig(server, token, java.util.Optional.ofNullable(caFile).map(workingDir::resolve), insecure);
    }

    private static String readToken(Path file) {
        try {
            return Files.readString(file).trim();
        } catch (IOException e) {
            throw new UsageException("cannot read token file " + file + ": " + e.getMessage());
        }
    }

    private static String first(String... candidates) {
        for (String c : candidates) {
            if (c != null && !c.isBlank()) {
                return c;
            }
        }
        return null;
    }
}
