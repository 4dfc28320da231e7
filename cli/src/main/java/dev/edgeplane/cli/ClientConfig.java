package dev.edgeplane.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
  * Where edgectl finds the control plane and its credentials. Each setting comes from the first
  * of: the flag, the environment, the config file ({@code ~/.config/edgectl/config.yaml} or
  * {@code $EDGECTL_CONFIG}), the default.
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
        JsonNode file = readConfigFile(env);
        String server = first(serverFlag, env.get("EDGECTL_SERVER"), text(file, "server"), DEFAULT_SERVER);
        String token = first(tokenFlag, env.get("EDGECTL_TOKEN"), text(file, "token"), null);
        if (token == null) {
            String tokenFile = first(
                    tokenFileFlag == null ? null : tokenFileFlag.toString(),
                    env.get("EDGECTL_TOKEN_FILE"), text(file, "tokenFile"), null);
            if (tokenFile != null) {
                token = readToken(Path.of(tokenFile));
            }
        }
        String caFile = first(caFileFlag == null ? null : caFileFlag.toString(), env.get("EDGECTL_CA_FILE"), text(file, "caFile"), null);
        boolean insecure = insecureFlag || "true".equalsIgnoreCase(env.get("EDGECTL_INSECURE"))
                || "true".equalsIgnoreCase(text(file, "insecure"));
        if (insecure && caFile != null) {
            throw new UsageException("--insecure and --ca-file (or EDGECTL_INSECURE and EDGECTL_CA_FILE) exclude each other");
        }
        return new ClientConfig(server, token, java.util.Optional.ofNullable(caFile).map(Path::of), insecure);
    }

    private static String readToken(Path file) {
        try {
            return Files.readString(file).trim();
        } catch (IOException e) {
            throw new UsageException("cannot read token file " + file + ": " + e.getMessage());
        }
    }

    private static JsonNode readConfigFile(Map<String, String> env) {
        Path path = env.containsKey("EDGECTL_CONFIG")
                ? Path.of(env.get("EDGECTL_CONFIG"))
                : Path.of(System.getProperty("user.home"), ".config", "edgectl", "config.yaml");
        if (!Files.isRegularFile(path)) {
            return null;
        }
        try {
            return new ObjectMapper(new YAMLFactory()).readTree(path.toFile());
        } catch (IOException e) {
            throw new UsageException("cannot read config file " + path + ": " + e.getMessage());
        }
    }

    private static String text(JsonNode node, String field) {
        return node != null && node.hasNonNull(field) ? node.get(field).asText() : null;
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
