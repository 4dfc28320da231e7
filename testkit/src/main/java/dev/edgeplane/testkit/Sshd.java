package dev.edgeplane.testkit;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real OpenSSH sshd on a loopback port, with its own host key and one authorised client key, in
 * a temp dir: what an edge host runs. Stopped (and its children with it) by close().
 */
public final class Sshd implements AutoCloseable {
    public final Path dir;
    public final Path clientKey;
    public final int port;
    private final Process process;

    public Sshd() throws IOException, InterruptedException {
        dir = Files.createTempDirectory("sshd-");
        Files.createDirectories(Path.of("/run/sshd")); // privilege separation dir that sshd requires
        Path hostKey = dir.resolve("host_ed25519");
        clientKey = dir.resolve("client_ed25519");
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey.toString());
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", clientKey.toString());
        Path authorized = dir.resolve("authorized_keys");
        Files.copy(Path.of(clientKey + ".pub"), authorized);
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        Path config = dir.resolve("sshd_config");
        Files.writeString(config, String.join("\n",
                "Port " + port,
                "ListenAddress 127.0.0.1",
                "HostKey " + hostKey,
                "AuthorizedKeysFile " + authorized,
                "PidFile none",
                "StrictModes no",
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "LogLevel ERROR",
                ""));
        process = new ProcessBuilder("/usr/sbin/sshd", "-D", "-e", "-f", config.toString())
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("sshd.log").toFile())
                .start();
        long deadline = System.currentTimeMillis() + 10_000;
        while (true) {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                break;
            } catch (IOException e) {
                if (!process.isAlive() || System.currentTimeMillis() > deadline) {
                    throw new IOException("sshd did not start: " + Files.readString(dir.resolve("sshd.log")));
                }
                Thread.sleep(50);
            }
        }
    }

    /** ssh's arguments to run {@code command} as the current user through a local port. */
    public List<String> sshCommand(int localPort, String command) {
        return List.of("ssh", "-i", clientKey.toString(), "-p", String.valueOf(localPort),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                "-o", "LogLevel=ERROR", System.getProperty("user.name") + "@127.0.0.1", command);
    }

    private static void run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", command) + " failed: " + out);
        }
    }

    @Override
    public void close() throws IOException, InterruptedException {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroy();
        if (!process.waitFor(5, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        try (var files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
