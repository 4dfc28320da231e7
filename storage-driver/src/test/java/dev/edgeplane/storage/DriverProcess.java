package dev.edgeplane.storage;

import dev.edgeplane.csi.v1.ProbeRequest;
import dev.edgeplane.storage.cli.StorageDriverMain;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** The driver as its own OS process (java -cp ... StorageDriverMain), so a test can kill -9 it. */
final class DriverProcess implements AutoCloseable {
    private final Process process;
    final CsiClient client;
    final Path log;

    private DriverProcess(Process process, CsiClient client, Path log) {
        this.process = process;
        this.client = client;
        this.log = log;
    }

    static DriverProcess start(Path dir, Path socket, List<String> flags, Map<String, String> env)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                StorageDriverMain.class.getName(), "--endpoint", "unix://" + socket));
        cmd.addAll(flags);
        Path log = Files.createTempFile(dir, "driver-", ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        CsiClient client = null;
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new IllegalStateException("driver exited with " + p.exitValue() + ":\n" + Files.readString(log));
            }
            if (Files.exists(socket)) {
                try {
                    client = client == null ? new CsiClient(socket) : client;
                    client.identity.withDeadlineAfter(2, TimeUnit.SECONDS).probe(ProbeRequest.getDefaultInstance());
                    return new DriverProcess(p, client, log);
                } catch (RuntimeException notYet) {
                    // socket file exists before the server accepts: poll again
                }
            }
            Thread.sleep(50);
        }
        p.destroyForcibly().waitFor();
        throw new IllegalStateException("driver did not serve within 60 s:\n" + Files.readString(log));
    }

    /** SIGKILL: no shutdown hook, no finally block runs. */
    void kill9() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("driver survived SIGKILL");
        }
        try {
            client.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws Exception {
        if (process.isAlive()) {
            process.destroy(); // SIGTERM: the clean shutdown path
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        }
        client.close();
    }
}
