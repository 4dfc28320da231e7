package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Contexts in the config file: which one applies, what overrides it, and the config commands that edit them. */
class ConfigContextsTest {

    private static int run(Map<String, String> env, StringWriter out, StringWriter err, String... args) {
        return Edgectl.run(args, env, new PrintWriter(out), new PrintWriter(err));
    }

    @Test
    void theCurrentContextAppliesUnlessFlagOrEnvironmentNameAnother(@TempDir Path dir) throws Exception {
        Path config = dir.resolve("config.yaml");
        Files.writeString(dir.resolve("prod-token"), "prod-secret\n");
        Files.writeString(config, """
                server: top:1
                token: top-token
                current-context: prod
                contexts:
                  - name: prod
                    server: prod:8443
                    caFile: /etc/prod-ca.crt
                    tokenFile: %s
                  - name: lab
                    server: lab:8080
                    insecure: true
                    token: lab-token
                """.formatted(dir.resolve("prod-token")));
        Map<String, String> env = Map.of("EDGECTL_CONFIG", config.toString());
        assertEquals(new ClientConfig("prod:8443", "prod-secret", Optional.of(Path.of("/etc/prod-ca.crt")), false),
                ClientConfig.resolve(null, null, null, null, false, null, env));
        // a context is whole: the top level's token does not leak into it
        assertEquals(new ClientConfig("lab:8080", "lab-token", Optional.empty(), true),
                ClientConfig.resolve(null, null, null, null, false, "lab", env));
        assertEquals(new ClientConfig("lab:8080", "lab-token", Optional.empty(), true),
                ClientConfig.resolve(null, null, null, null, false, null, Map.of("EDGECTL_CONFIG", config.toString(), "EDGECTL_CONTEXT", "lab")));
        // flags and the environment still beat the context's settings
        assertEquals(new ClientConfig("flag:1", "env-token", Optional.of(Path.of("/etc/prod-ca.crt")), false),
                ClientConfig.resolve("flag:1", null, null, null, false, null, Map.of("EDGECTL_CONFIG", config.toString(), "EDGECTL_TOKEN", "env-token")));
        UsageException unknown = assertThrows(UsageException.class, () -> ClientConfig.resolve(null, null, null, null, false, "nope", env));
        assertTrue(unknown.getMessage().contains("no context \"nope\""), unknown.getMessage());
    }

    @Test
    void configCommandsWriteContextsAndTheCurrentOne(@TempDir Path dir) throws Exception {
        Path config = dir.resolve("sub/config.yaml");
        Map<String, String> env = Map.of("EDGECTL_CONFIG", config.toString());
        Path token = Files.writeString(dir.resolve("prod-token"), "prod-secret\n");
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(0, run(env, out, err, "config", "set-context", "prod", "--server", "prod:8443", "--ca-file", "/etc/prod-ca.crt",
                "--token-file", token.toString()), err.toString());
        assertEquals(0, run(env, out, err, "config", "set-context", "lab", "--server", "lab:8080", "--insecure"), err.toString());
        assertEquals(0, run(env, out, err, "config", "use-context", "lab"), err.toString());
        assertEquals(new ClientConfig("lab:8080", null, Optional.empty(), true),
                ClientConfig.resolve(null, null, null, null, false, null, env));
        // set-context on an existing context changes only what is given
        assertEquals(0, run(env, out, err, "config", "set-context", "prod", "--server", "prod2:8443"), err.toString());
        assertEquals(Optional.of(Path.of("/etc/prod-ca.crt")), ClientConfig.resolve(null, null, null, null, false, "prod", env).caFile());
        assertEquals("prod2:8443", ClientConfig.resolve(null, null, null, null, false, "prod", env).server());
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(config)));

        StringWriter list = new StringWriter();
        assertEquals(0, run(env, list, err, "config", "get-contexts"));
        assertTrue(list.toString().lines().anyMatch(l -> l.startsWith("*") && l.contains("lab") && l.contains("lab:8080")), list.toString());
        assertTrue(list.toString().lines().anyMatch(l -> !l.startsWith("*") && l.contains("prod2:8443")), list.toString());
        StringWriter current = new StringWriter();
        assertEquals(0, run(env, current, err, "config", "current-context"));
        assertEquals("lab\n", current.toString());

        StringWriter bad = new StringWriter();
        assertEquals(Edgectl.EXIT_USAGE, run(env, out, bad, "config", "use-context", "nope"));
        assertTrue(bad.toString().contains("no context \"nope\""), bad.toString());
        assertEquals(0, run(env, out, err, "config", "delete-context", "lab"));
        assertEquals(Edgectl.EXIT_USAGE, run(env, out, new StringWriter(), "config", "current-context"));
    }
}
