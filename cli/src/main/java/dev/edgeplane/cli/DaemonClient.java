package dev.edgeplane.cli;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The client half of edgectl's daemon ({@link CommandDaemon}): finds the caller's daemon, hands it a command
 * and relays what it prints. Loaded on every command before picocli, gRPC or Netty, so it uses the JDK only.
 */
final class DaemonClient {
    private DaemonClient() {}

    /** Quick, non-interactive commands that read no file but edgectl's config and credentials. */
    private static final Set<String> FORWARDED = Set.of("get", "describe");
    private static final Set<String> LOCAL_ONLY_OPTIONS = Set.of("-w", "--watch");
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rwx------");

    /** Where one user's daemon for one edgectl build listens, and the files beside it. */
    record Location(Path dir, String name) {
        Path socket() {
            return dir.resolve(name + ".sock");
        }

        Path lock() {
            return dir.resolve(name + ".lock");
        }

        Path log() {
            return dir.resolve(name + ".log");
        }

        /** Written when a started daemon did not answer in time: for a while, commands run without one. */
        Path failed() {
            return dir.resolve(name + ".failed");
        }
    }

    /** How long after a daemon failed to start commands run without one rather than wait for another. */
    static final long RETRY_START_AFTER_MILLIS = 10 * 60 * 1000;

    /** Off with EDGECTL_DAEMON=off (or false, 0); `edgectl daemon ...` itself is never forwarded. */
    static boolean enabled(Map<String, String> env) {
        String setting = env.getOrDefault("EDGECTL_DAEMON", "on").trim().toLowerCase(java.util.Locale.ROOT);
        return !(setting.equals("off") || setting.equals("false") || setting.equals("0"));
    }

    static boolean forwardable(String[] args, Map<String, String> env) {
        String command = CommandNames.subcommandName(args);
        if (command == null || !enabled(env) || !FORWARDED.contains(command)) {
            return false;
        }
        for (String a : args) {
            if (LOCAL_ONLY_OPTIONS.contains(a) || a.startsWith("--watch=")) {
                return false;
            }
        }
        return true;
    }

    /**
     * The caller's daemon directory ($XDG_RUNTIME_DIR/edgectl, else edgectl-UID in the temporary directory),
     * made if missing; empty when it is not a directory of this user's that only this user can open (then
     * another user could answer in the daemon's name, so no daemon is used).
     */
    static Optional<Location> location(Map<String, String> env, String build) {
        try {
            int uid = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
            String runtime = env.get("XDG_RUNTIME_DIR");
            Path dir = runtime != null && !runtime.isBlank() && Path.of(runtime).isAbsolute()
                    ? Path.of(runtime, "edgectl")
                    : Path.of(System.getProperty("java.io.tmpdir"), "edgectl-" + uid);
            if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                try {
                    Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
                } catch (java.nio.file.FileAlreadyExistsException raced) {
                    // another edgectl made it first: checked below like any other
                }
            }
            PosixFileAttributes attributes = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            int owner = (Integer) Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS);
            if (!attributes.isDirectory() || owner != uid || !OWNER_ONLY.containsAll(attributes.permissions())) {
                return Optional.empty();
            }
            return Optional.of(new Location(dir, "daemon-" + build));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * This build of edgectl: the daemon's name, so that a rebuilt or upgraded edgectl never talks to a daemon
     * running older code (that one ends when idle). The jar's path, size and time: not the JVM, which the
     * launcher picks for the daemon and for the JVM that forwards to it by different rules.
     */
    static String build() {
        String identity;
        try {
            Path jar = Path.of(DaemonClient.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            identity = jar + "|" + Files.size(jar) + "|" + Files.getLastModifiedTime(jar).toMillis();
        } catch (Exception e) {
            identity = "unknown";
        }
        return Integer.toHexString(identity.hashCode() & 0x7fffffff);
    }

    /**
     * Runs the request in the daemon, writing what it prints: its exit code, or empty when no daemon took
     * the command, in which case nothing was written and the caller runs it itself.
     */
    static OptionalInt run(Location at, DaemonWire.Request request, OutputStream out, OutputStream err) {
        SocketChannel channel;
        try {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        } catch (IOException e) {
            return OptionalInt.empty();
        }
        try (channel) {
            try {
                channel.connect(UnixDomainSocketAddress.of(at.socket()));
                request.writeTo(new DataOutputStream(new BufferedOutputStream(Channels.newOutputStream(channel), 8192)));
            } catch (IOException noDaemon) {
                return OptionalInt.empty();
            }
            DataInputStream in = new DataInputStream(new BufferedInputStream(Channels.newInputStream(channel), 65536));
            boolean printed = false;
            byte[] buffer = new byte[DaemonWire.MAX_FRAME_BYTES];
            while (true) {
                int kind;
                try {
                    kind = in.readByte();
                } catch (EOFException ended) {
                    if (!printed) {
                        return OptionalInt.empty(); // it refused or ended before starting: ours to run
                    }
                    throw new IOException("the edgectl daemon ended during the command");
                }
                int n = in.readInt();
                if (kind == DaemonWire.EXIT) {
                    out.flush();
                    err.flush();
                    return OptionalInt.of(n);
                }
                if ((kind != DaemonWire.STDOUT && kind != DaemonWire.STDERR) || n < 0 || n > buffer.length) {
                    throw new IOException("the edgectl daemon sent a malformed frame");
                }
                in.readFully(buffer, 0, n);
                (kind == DaemonWire.STDOUT ? out : err).write(buffer, 0, n);
                printed = true;
            }
        } catch (IOException e) {
            try {
                err.write(("error: " + e.getMessage() + " (EDGECTL_DAEMON=off runs without it)\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
                err.flush();
            } catch (IOException ignored) {
                // standard error is gone too: the exit code says it
            }
            return OptionalInt.of(Edgectl.EXIT_API_ERROR);
        }
    }

    /**
     * Starts the daemon in its own session (so a Ctrl-C in this terminal does not reach it) through the
     * launcher that ran this command, with its output in the daemon's log: false when this JVM was not started
     * by the launcher, there is no setsid, or one failed to start in the last {@link #RETRY_START_AFTER_MILLIS}
     * (its log says why). A second daemon started in a race finds the first one's lock and exits.
     */
    static boolean startInBackground(Location at, String launcher) {
        File setsid = new File("/usr/bin/setsid");
        if (launcher == null || launcher.isBlank() || !setsid.canExecute() || failedRecently(at)) {
            return false;
        }
        try {
            Process started = new ProcessBuilder(List.of(setsid.getPath(), "-f", launcher, "daemon", "run"))
                    .directory(new File("/")) // as daemons do: it must not keep the caller's directory busy (an unmount)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.to(at.log().toFile()))
                    .redirectErrorStream(true)
                    .start();
            // setsid -f forks and returns at once; waiting here leaves no thread blocked in waitpid at exit
            return started.waitFor(2, TimeUnit.SECONDS) && started.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** The daemon this command started did not take it: later commands run without one for a while. */
    static void startFailed(Location at) {
        try {
            Files.writeString(at.failed(), "the edgectl daemon did not answer after it was started: see " + at.log() + "\n");
        } catch (IOException e) {
            // then the next command tries again
        }
    }

    private static boolean failedRecently(Location at) {
        try {
            return System.currentTimeMillis() - Files.getLastModifiedTime(at.failed()).toMillis() < RETRY_START_AFTER_MILLIS;
        } catch (IOException none) {
            return false;
        }
    }
}
