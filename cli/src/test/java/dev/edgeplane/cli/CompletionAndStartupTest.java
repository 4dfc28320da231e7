package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Completion scripts, that only the command being run is built, and that an IP address is dialled directly (start-up itself is measured by deploy/bench.sh edgectl). */
class CompletionAndStartupTest {

    private static String run(int exit, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(exit, Edgectl.run(args, Map.of("EDGECTL_CONFIG", "/nonexistent"), new PrintWriter(out), new PrintWriter(err)), err.toString());
        return out + err.toString();
    }

    @Test
    void bashCompletionHasCommandsOptionsAndResourceKinds() {
        String bash = run(0, "completion", "bash");
        assertTrue(bash.startsWith("#!/usr/bin/env bash"), bash.substring(0, 40));
        for (String word : List.of("label", "taint", "get-contexts", "--watch", "--context", "nodes", "apps", "volumesnapshotpolicies",
                "storageclasses", "prefetches")) {
            assertTrue(bash.contains(word), word);
        }
        String zsh = run(0, "completion", "zsh");
        assertTrue(zsh.contains("bashcompinit") && zsh.contains("complete -F"), "zsh runs the bash script");
        assertTrue(run(Edgectl.EXIT_USAGE, "completion", "fish").contains("bash or zsh"));
    }

    @Test
    void everyKindsPluralParsesBackToIt() {
        List<String> names = new java.util.ArrayList<>();
        new CompletionCommand.ResourceKinds().forEach(names::add);
        assertEquals(ResourceKind.values().length, names.size(), names.toString());
        assertEquals("volumesnapshotpolicies", CompletionCommand.ResourceKinds.plural("volumesnapshotpolicy"));
        assertEquals("prefetches", CompletionCommand.ResourceKinds.plural("prefetch"));
        assertEquals("storageclasses", CompletionCommand.ResourceKinds.plural("storageclass"));
    }

    @Test
    void onlyTheCommandRunIsBuilt() {
        assertEquals("get", CommandNames.subcommandName(new String[] {"--server", "x:1", "--insecure", "--context", "c", "get", "nodes"}));
        assertNull(CommandNames.subcommandName(new String[] {"--token", "t"}));
        CommandLine get = Edgectl.commandLine(new Edgectl(Map.of(), Path.of("")), new String[] {"--server", "x:1", "get", "nodes"});
        assertEquals(List.of("get"), List.copyOf(get.getSubcommands().keySet()));
        CommandLine help = Edgectl.commandLine(new Edgectl(Map.of(), Path.of("")), new String[] {"help"});
        assertEquals(Edgectl.SUBCOMMANDS.size(), help.getSubcommands().size());
        // an unknown command gets picocli's suggestions, which need all of them
        assertTrue(run(Edgectl.EXIT_USAGE, "lable", "edge-1", "a=b").contains("Did you mean"));
        assertTrue(run(0, "--help").contains("taint"));
        assertTrue(run(0, "--version").startsWith("edgectl "));
        assertEquals(0, Edgectl.commandLine(new Edgectl(Map.of(), Path.of("")), new String[] {"--version"}).getSubcommands().size());
    }

    @Test
    void anIpLiteralIsDialledWithoutNameResolution() {
        assertEquals(java.util.Optional.of(new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 8443)), ApiClient.ipLiteral("127.0.0.1:8443"));
        assertEquals(8443, ApiClient.ipLiteral("[::1]:8443").orElseThrow().getPort());
        assertTrue(ApiClient.ipLiteral("[::1]:8443").orElseThrow().getAddress() instanceof java.net.Inet6Address);
        // names, targets in gRPC's URI forms and addresses without a port stay with gRPC's resolvers
        for (String target : List.of("localhost:8443", "cp.example.com:443", "dns:///cp.example.com:443", "127.0.0.1", "not a target")) {
            assertTrue(ApiClient.ipLiteral(target).isEmpty(), target);
        }
    }
}
