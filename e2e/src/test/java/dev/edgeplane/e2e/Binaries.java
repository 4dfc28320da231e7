package dev.edgeplane.e2e;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

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

    static List<String> controlPlane() {
        return List.of(java(), "-Xmx512m", "-jar", existing("control-plane/target/quarkus-app/quarkus-run.jar"));
    }

    static List<String> edgeAgent() {
        return List.of(java(), "-jar", existing("edge-agent/target/edge-agent.jar"));
    }

    static List<String> edgectl() {
        return List.of(java(), "-jar", existing("cli/target/edgectl.jar"));
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
