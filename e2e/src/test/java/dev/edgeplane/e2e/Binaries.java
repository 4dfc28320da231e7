package dev.edgeplane.e2e;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Where the packaged binaries are: the reactor builds them before this module's tests run. */
final class Binaries {
    private Binaries() {}

    static Path repoRoot() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("deploy"))) {
            dir = dir.getParent();
        }
        if (dir == null) {
            throw new IllegalStateException("cannot find the repository root above "
                    + Path.of("").toAbsolutePath());
        }
        return dir;
    }

    /** The control plane's launcher as deployed (its JVM defaults), on the given maximum heap. */
    record Launch(List<String> command, Map<String, String> env) {}

    /**
     * The launcher with a given maximum heap (e.g. "2g" for a fleet), on this JVM's java or the one
     * {@code -Dcp.java} names, with the JVM options {@code -Dcp.javaOptions} adds after the launcher's
     * defaults (a benchmark comparing JDKs or JIT settings for the control plane).
     */
    static Launch controlPlane(String maxHeap) {
        return new Launch(List.of(existing("control-plane/target/bin/control-plane")),
                Map.of("JAVA", System.getProperty("cp.java", java()),
                        "CONTROL_PLANE_JAVA_OPTS", ("-Xmx" + maxHeap + " " + System.getProperty("cp.javaOptions", "")).strip()));
    }

    /** The fleet simulator's runnable jar (its libraries beside it in lib/). */
    static Path fleetJar() {
        return Path.of(existing("fleet/target/fleet.jar"));
    }

    /** The launcher as deployed, with its own JVM flags, so memory figures are the real ones. */
    static List<String> edgeAgent() {
        existing("edge-agent/target/edge-agent.jar");
        return List.of(existing("edge-agent/target/bin/edge-agent"));
    }

    /**
     * Without edgectl's daemon: each test's first get would leave a background JVM behind it for its idle
     * period. {@link #edgectlWithDaemon} is the launcher as an operator runs it.
     */
    static List<String> edgectl() {
        return List.of("/usr/bin/env", "EDGECTL_DAEMON=off", edgectlWithDaemon());
    }

    static String edgectlWithDaemon() {
        existing("cli/target/edgectl.jar");
        return existing("cli/target/bin/edgectl");
    }

    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    private static String existing(String relative) {
        Path p = repoRoot().resolve(relative);
        if (!Files.isRegularFile(p)) {
            throw new IllegalStateException(p + " is missing: build the reactor first (mvn package)");
        }
        return p.toString();
    }
}
