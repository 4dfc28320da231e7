package dev.edgeplane.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The launcher's entry point (no lambdas on the forwarding path: each is a class spun at first use). A quick
 * command (get, describe) goes to the caller's edgectl daemon, started first if none runs; without one (it is
 * off, cannot start, or its socket directory is not private) it runs here, as everything else does.
 * Uses only the JDK until it runs a command itself: the forwarding path must not load picocli, gRPC or Netty.
 */
public final class Main {
    private Main() {}

    /** How long a command waits for the daemon it started to take it; past that it runs here. */
    private static final long DAEMON_START_MILLIS = 10_000;

    public static void main(String[] args) {
        Map<String, String> env = System.getenv();
        if (!DaemonClient.forwardable(args, env)) {
            System.exit(Edgectl.runHere(args));
        }
        Optional<DaemonClient.Location> daemon = DaemonClient.location(env, DaemonClient.build());
        if (daemon.isPresent()) {
            DaemonClient.Location at = daemon.get();
            DaemonWire.Request request = new DaemonWire.Request(Path.of("").toAbsolutePath().toString(), List.of(args), env);
            OptionalInt answered = DaemonClient.run(at, request, System.out, System.err);
            // none runs: start one and hand it this command (the launcher started this JVM without the big
            // start-up archive, expecting a daemon, so running the command here would be the slow way)
            if (answered.isEmpty() && DaemonClient.startInBackground(at, System.getProperty("edgectl.launcher"))) {
                long deadline = System.nanoTime() + DAEMON_START_MILLIS * 1_000_000;
                while (answered.isEmpty() && System.nanoTime() < deadline) {
                    sleep(20);
                    answered = DaemonClient.run(at, request, System.out, System.err);
                }
                if (answered.isEmpty()) {
                    DaemonClient.startFailed(at);
                }
            }
            if (answered.isPresent()) {
                System.exit(answered.getAsInt());
            }
        }
        System.exit(Edgectl.runHere(args));
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
