package dev.edgeplane.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * A real containerd (with its CRI plugin, runc and overlayfs) as a child process with its own root,
 * state, socket and config (deploy/containerd/config.toml.template), so tests never touch the host's
 * containerd. {@link #start()} returns once the CRI plugin is up and the test images are imported
 * into namespace k8s.io; {@link #close()} kills every task, stops containerd, kills leftover shims,
 * unmounts and deletes its dirs.
 *
 * <p>Talks to containerd only through {@code ctr}, so the testkit stays free of generated CRI code.
 */
public final class Containerd implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Containerd.class.getName());
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
    /** The CRI plugin's containerd namespace. */
    public static final String CRI_NAMESPACE = "k8s.io";

    private final Path dir;
    private final Path config;
    private Process process;

    private Containerd(Path dir, Path config) {
        this.dir = dir;
        this.config = config;
    }

    /** A containerd with every {@link TestImages} image imported. */
    public static Containerd start() {
        return start(TestImages.all());
    }

    /** A containerd with these images imported (the pause image is always imported). */
    public static Containerd start(List<TestImages.Image> images) {
        Path dir;
        try {
            // Short path under /tmp: the socket path must stay well below the 108-byte sun_path limit.
            dir = Files.createTempDirectory(Paths.get("/tmp"), "ctd");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temp dir for containerd", e);
        }
        Containerd containerd = new Containerd(dir, dir.resolve("config.toml"));
        try {
            containerd.writeConfig();
            containerd.launch();
            List<TestImages.Image> toImport = new ArrayList<>(images);
            if (!toImport.contains(TestImages.PAUSE)) {
                toImport.add(0, TestImages.PAUSE);
            }
            for (TestImages.Image image : toImport) {
                containerd.importImage(image);
            }
            return containerd;
        } catch (RuntimeException | Error e) {
            containerd.close();
            throw e;
        }
    }

    /** The CRI endpoint, e.g. unix:///tmp/ctd123/c.sock. */
    public String endpoint() {
        return "unix://" + socket();
    }

    public Path socket() {
        return dir.resolve("c.sock");
    }

    /** Everything of this containerd lives under here. */
    public Path dir() {
        return dir;
    }

    /** containerd's own log. */
    public Path log() {
        return dir.resolve("containerd.log");
    }

    /**
     * Imports an image archive into namespace k8s.io under its name. Uses --base-name with the tag the
     * archive carries, so ctr makes exactly NAME and no extra import-DATE name (removing names later
     * leaves a stale name cache in the CRI plugin).
     */
    public void importImage(TestImages.Image image) {
        importArchive(image.archive(), image.repository());
    }

    /** Imports an OCI archive whose index tags its manifest (ref.name) into k8s.io as repository:tag. */
    public void importArchive(Path archive, String repository) {
        ctr("-n", CRI_NAMESPACE, "images", "import", "--base-name", repository, archive.toString());
    }

    /** Runs ctr against this containerd; returns stdout, throws on a non-zero exit. */
    public String ctr(String... args) {
        List<String> command = new ArrayList<>(List.of("ctr", "--address", socket().toString()));
        command.addAll(Arrays.asList(args));
        return Commands.run(command, Duration.ofSeconds(120));
    }

    /** IDs of the containers (CRI sandboxes and containers alike) in namespace k8s.io. */
    public List<String> containerIds() {
        return lines(ctr("-n", CRI_NAMESPACE, "containers", "ls", "-q"));
    }

    /** IDs of the running tasks in namespace k8s.io. */
    public List<String> runningTaskIds() {
        List<String> running = new ArrayList<>();
        for (String line : lines(ctr("-n", CRI_NAMESPACE, "tasks", "ls"))) {
            String[] cols = line.trim().split("\\s+");
            if (cols.length >= 3 && "RUNNING".equals(cols[2])) {
                running.add(cols[0]);
            }
        }
        return running;
    }

    /** Stops containerd (SIGTERM) and starts it again on the same dirs; containers keep running. */
    public void restart() {
        stopProcess();
        launch();
    }

    /**
     * What a host reboot does to containerd: every container process dies, containerd and its shims
     * die, mounts and the runtime state dir (tmpfs on a real host) are gone; the persistent root (images,
     * container metadata) survives. Then containerd starts again on the same dirs; the CRI plugin finds
     * its sandboxes NOTREADY and its containers EXITED, and nothing runs until someone recreates them.
     */
    public void simulateReboot() {
        try {
            for (String task : lines(ctr("-n", CRI_NAMESPACE, "tasks", "ls", "-q"))) {
                quietly(() -> ctr("-n", CRI_NAMESPACE, "tasks", "kill", "-s", "SIGKILL", task));
            }
        } catch (RuntimeException e) {
            LOG.warning("killing tasks of " + endpoint() + " failed: " + e.getMessage());
        }
        if (process != null) {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        killLeftoverShims();
        unmountAll();
        deleteTree(dir.resolve("state"));
        launch();
    }

    private void writeConfig() {
        Path template = TestImages.repoRoot().resolve("deploy/containerd/config.toml.template");
        try {
            String text = Files.readString(template, StandardCharsets.UTF_8)
                    .replace("@ROOT@", dir.resolve("root").toString())
                    .replace("@STATE@", dir.resolve("state").toString())
                    .replace("@ADDRESS@", socket().toString())
                    .replace("@SANDBOX_IMAGE@", TestImages.PAUSE.name());
            Files.writeString(config, text, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + config + " from " + template, e);
        }
    }

    private void launch() {
        long servedBefore = criServedCount();
        try {
            process = new ProcessBuilder("containerd", "--config", config.toString(),
                    "--root", dir.resolve("root").toString(), "--state", dir.resolve("state").toString(),
                    "--address", socket().toString())
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log().toFile()))
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start containerd (apt-get install containerd runc)", e);
        }
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("containerd exited with " + process.exitValue() + ": " + tail(log()));
            }
            if (criServedCount() > servedBefore && criReady()) {
                LOG.info(() -> "containerd ready at " + endpoint());
                return;
            }
            sleep(100);
        }
        throw new IllegalStateException("containerd's CRI plugin not ready within " + START_TIMEOUT + ": " + tail(log()));
    }

    /**
     * How often the log says the CRI service finished starting. The CRI plugin reports "ok" and the
     * socket serves before the service has recovered its state; until then every CRI call fails with
     * "server is not initialized yet". Its last start-up line comes right before it accepts calls.
     */
    private long criServedCount() {
        try {
            if (!Files.exists(log())) {
                return 0;
            }
            try (Stream<String> lines = Files.lines(log(), StandardCharsets.UTF_8)) {
                return lines.filter(line -> line.contains("msg=\"Start streaming server\"")).count();
            }
        } catch (IOException | UncheckedIOException e) {
            return 0;
        }
    }

    private boolean criReady() {
        if (!Files.exists(socket())) {
            return false;
        }
        try {
            return lines(ctr("plugins", "ls")).stream()
                    .map(line -> line.trim().split("\\s+"))
                    .anyMatch(cols -> cols.length >= 4 && "io.containerd.grpc.v1".equals(cols[0])
                            && "cri".equals(cols[1]) && "ok".equals(cols[cols.length - 1]));
        } catch (RuntimeException notYet) {
            return false;
        }
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            removeAllContainers();
        }
        stopProcess();
        killLeftoverShims();
        unmountAll();
        deleteTree(dir);
    }

    private void removeAllContainers() {
        try {
            for (String namespace : lines(ctr("namespaces", "ls", "-q"))) {
                for (String task : lines(ctr("-n", namespace, "tasks", "ls", "-q"))) {
                    quietly(() -> ctr("-n", namespace, "tasks", "delete", "--force", task));
                }
                for (String container : lines(ctr("-n", namespace, "containers", "ls", "-q"))) {
                    quietly(() -> ctr("-n", namespace, "containers", "delete", container));
                }
            }
        } catch (RuntimeException e) {
            LOG.warning("removing containers of " + endpoint() + " failed: " + e.getMessage());
        }
    }

    private void stopProcess() {
        if (process == null) {
            return;
        }
        process.destroy();
        try {
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    /** Shims outlive containerd by design; the ones started for this socket must go too. */
    private void killLeftoverShims() {
        String address = socket().toString();
        ProcessHandle.allProcesses()
                .filter(p -> p.info().command().map(c -> c.contains("containerd-shim")).orElse(false))
                .filter(p -> cmdline(p.pid()).contains(address))
                .forEach(p -> {
                    LOG.warning("killing leftover shim " + p.pid() + " of " + address);
                    p.destroyForcibly();
                });
    }

    private static String cmdline(long pid) {
        try {
            return new String(Files.readAllBytes(Paths.get("/proc", Long.toString(pid), "cmdline")),
                    StandardCharsets.UTF_8).replace('\0', ' ');
        } catch (IOException gone) {
            return "";
        }
    }

    private void unmountAll() {
        String prefix = dir.toString() + "/";
        List<String> mountPoints = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(Paths.get("/proc/self/mountinfo"))) {
                String[] fields = line.split(" ");
                String mountPoint = fields[4].replace("\\040", " ");
                if (mountPoint.startsWith(prefix)) {
                    mountPoints.add(mountPoint);
                }
            }
        } catch (IOException e) {
            LOG.warning("cannot read /proc/self/mountinfo: " + e.getMessage());
        }
        mountPoints.sort(Comparator.comparingInt(String::length).reversed());
        for (String mountPoint : mountPoints) {
            try {
                Commands.run(List.of("umount", mountPoint), Duration.ofSeconds(10));
            } catch (RuntimeException e) {
                quietly(() -> Commands.run(List.of("umount", "-l", mountPoint), Duration.ofSeconds(10)));
            }
        }
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> {
                try {
                    Files.deleteIfExists(path);
                } catch (IOException e) {
                    LOG.fine(() -> "cannot delete " + path + ": " + e.getMessage());
                }
            });
        } catch (IOException | UncheckedIOException e) {
            LOG.warning("cannot delete " + root + ": " + e.getMessage());
        }
    }

    private static List<String> lines(String text) {
        return text.lines().map(String::trim).filter(l -> !l.isEmpty()).toList();
    }

    private static String tail(Path file) {
        try {
            List<String> lines = Files.readAllLines(file);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private static void quietly(Runnable action) {
        try {
            action.run();
        } catch (RuntimeException ignored) {
            // best effort during cleanup
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
