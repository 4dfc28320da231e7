package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.testkit.Commands;
import dev.edgeplane.testkit.EtcdServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * edgectl as an operator runs it (bin/edgectl, daemon on) against the real control plane and etcd: the first
 * get starts the user's daemon in the background (and is answered by it), the next get too, with what a JVM of
 * its own prints, and `edgectl daemon stop` (or SIGTERM) ends it, leaving no process and no socket file.
 */
class EdgectlDaemonE2ETest {
    static final Pattern PID = Pattern.compile("edgectl daemon (\\d+) running");
    static final Pattern SERVED = Pattern.compile("(\\d+) commands served");

    @TempDir static Path dir;
    static EtcdServer etcd;
    static ControlPlane cloud;
    static Map<String, String> env;

    @BeforeAll
    static void startCloud() throws Exception {
        etcd = EtcdServer.start();
        cloud = ControlPlane.start(etcd.endpoint(), dir.resolve("cp"));
        Path runtime = Files.createDirectory(dir.resolve("run"));
        env = Map.of("XDG_RUNTIME_DIR", runtime.toString(), "EDGECTL_SERVER", cloud.apiAddress(), "EDGECTL_INSECURE", "true",
                "EDGECTL_TOKEN_FILE", cloud.adminTokenFile().toString(), "EDGECTL_CONFIG", dir.resolve("no-config.yaml").toString());
    }

    @AfterAll
    static void stopCloud() throws Exception {
        if (env != null) {
            edgectl("daemon", "stop"); // whatever a failed test left running
        }
        if (cloud != null) {
            cloud.close();
        }
        if (etcd != null) {
            etcd.close();
        }
    }

    static Commands.Result edgectl(String... args) {
        List<String> cmd = new ArrayList<>(List.of(Binaries.edgectlWithDaemon()));
        cmd.addAll(List.of(args));
        return Commands.exec(cmd, env, Duration.ofSeconds(60));
    }

    static long served() {
        Matcher m = SERVED.matcher(edgectl("daemon", "status").output());
        assertTrue(m.find(), "status says how many commands it served");
        return Long.parseLong(m.group(1));
    }

    static Optional<Long> daemonPid() {
        Commands.Result status = edgectl("daemon", "status");
        assertEquals(0, status.exitCode(), status.output());
        Matcher m = PID.matcher(status.output());
        return m.find() ? Optional.of(Long.parseLong(m.group(1))) : Optional.empty();
    }

    @Test
    void theFirstGetStartsTheDaemonWhichAnswersTheNextAsAJvmOfItsOwnWouldAndStopOrSigtermEndIt() {
        String tokenId = cloud.createJoinToken(Duration.ofMinutes(10), 1).getMetadata().getName();
        assertTrue(daemonPid().isEmpty(), "no daemon before the first command");

        Commands.Result first = edgectl("get", "tokens", "-o", "yaml");
        assertEquals(0, first.exitCode(), first.output());
        assertTrue(first.output().contains(tokenId), first.output());
        // it answered the first get; on a loaded machine its start may outlast the command's wait (then the
        // command ran in its own JVM), so the count is compared from here
        Await.until("the first get started the daemon", Duration.ofSeconds(60), () -> edgectl("daemon", "status").output(),
                () -> daemonPid().isPresent());
        long pid = daemonPid().orElseThrow();
        long served = served();

        Commands.Result second = edgectl("get", "tokens", "-o", "yaml");
        assertEquals(0, second.exitCode(), second.output());
        assertEquals(first.output(), second.output());
        Commands.Result own = Commands.exec(List.of("/usr/bin/env", "EDGECTL_DAEMON=off", Binaries.edgectlWithDaemon(), "get", "tokens",
                "-o", "yaml"), env, Duration.ofSeconds(60));
        assertEquals(first.output(), own.output(), "the daemon prints what a JVM of its own prints");
        assertEquals(served + 1, served(), "the second get was the daemon's, the one with EDGECTL_DAEMON=off not");

        Commands.Result unknown = edgectl("get", "tokens", "nonexistent-token-id", "-o", "yaml");
        assertEquals(1, unknown.exitCode(), "an API error keeps its exit code through the daemon: " + unknown.output());

        assertEquals(0, edgectl("daemon", "stop").exitCode());
        Await.until("daemon " + pid + " ended", Duration.ofSeconds(30), () -> "still alive",
                () -> ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true));
        assertTrue(daemonPid().isEmpty(), "stopped");

        // the next get starts another; SIGTERM ends it as cleanly (no socket file left behind)
        assertEquals(0, edgectl("get", "tokens").exitCode());
        Await.until("a get after stop started another daemon", Duration.ofSeconds(60), () -> "none",
                () -> daemonPid().isPresent());
        long next = daemonPid().orElseThrow();
        assertTrue(next != pid);
        ProcessHandle.of(next).ifPresent(ProcessHandle::destroy);
        Await.until("daemon " + next + " ended on SIGTERM", Duration.ofSeconds(30), () -> "still alive",
                () -> ProcessHandle.of(next).map(p -> !p.isAlive()).orElse(true));
        try (var files = Files.list(Path.of(env.get("XDG_RUNTIME_DIR"), "edgectl"))) {
            assertTrue(files.noneMatch(f -> f.toString().endsWith(".sock")), "the socket file was removed");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
