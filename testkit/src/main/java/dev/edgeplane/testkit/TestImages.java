package dev.edgeplane.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The project's two local images as OCI archives, built by deploy/images/build-images.sh (umoci +
 * busybox-static + catatonit, no internet) once per JVM into a shared cache dir, so every test and
 * every module reuses the same files. The script itself is idempotent and locks its output dir.
 */
public final class TestImages {
    /** The pod sandbox image (catatonit -P); containerd's sandbox_image. */
    public static final Image PAUSE = new Image("localhost/edgeplane/pause:1", "pause.tar");
    /** busybox with /bin/sh, sleep, nc, httpd, wget... */
    public static final Image BUSYBOX = new Image("localhost/edgeplane/busybox:1", "busybox.tar");

    /** An image's full name and its archive's file name in the cache dir. */
    public record Image(String name, String fileName) {
        /** The name without its tag, e.g. localhost/edgeplane/busybox. */
        public String repository() {
            return name.substring(0, name.lastIndexOf(':'));
        }

        public String tag() {
            return name.substring(name.lastIndexOf(':') + 1);
        }

        /** The OCI archive, built on first use. */
        public Path archive() {
            return Built.DIR.resolve(fileName);
        }
    }

    private TestImages() {}

    /** Every image this class knows. */
    public static List<Image> all() {
        return List.of(PAUSE, BUSYBOX);
    }

    /** The cache dir holding the archives, built on first use. */
    public static Path dir() {
        return Built.DIR;
    }

    /** The repository root: edgeplane.repo.root, or the nearest ancestor of the working dir with deploy/images. */
    public static Path repoRoot() {
        String configured = System.getProperty("edgeplane.repo.root");
        if (configured != null && Files.isDirectory(Paths.get(configured, "deploy", "images"))) {
            return Paths.get(configured).toAbsolutePath();
        }
        for (Path dir = Paths.get("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isDirectory(dir.resolve("deploy").resolve("images"))) {
                return dir;
            }
        }
        throw new IllegalStateException("no deploy/images above " + Paths.get("").toAbsolutePath()
                + ": run from inside the repository or set -Dedgeplane.repo.root");
    }

    // Lazy holder: built once per JVM on first use, immutable afterwards.
    private static final class Built {
        static final Path DIR = build();

        private static Path build() {
            Path script = repoRoot().resolve("deploy/images/build-images.sh");
            try {
                // One cache dir per version of the script: checkouts with different versions (a CI copy,
                // a colleague's tree) must not rebuild each other's images under each other's feet.
                String version = java.util.HexFormat.of().formatHex(
                        java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(script)), 0, 6);
                Path out = Paths.get(System.getProperty("edgeplane.images.dir",
                        System.getProperty("java.io.tmpdir") + "/edgeplane-test-images-" + version));
                Path log = Files.createTempFile("build-images", ".log");
                Process process = new ProcessBuilder(script.toString(), out.toString())
                        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
                if (!process.waitFor(180, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    throw new IllegalStateException("build-images.sh did not finish in 180 s");
                }
                String output = Files.readString(log, StandardCharsets.UTF_8);
                Files.deleteIfExists(log);
                if (process.exitValue() != 0) {
                    throw new IllegalStateException("build-images.sh failed (" + process.exitValue() + "): " + output);
                }
                return out;
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot run " + script, e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted building test images", e);
            }
        }
    }
}
