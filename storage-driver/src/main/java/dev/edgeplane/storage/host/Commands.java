package dev.edgeplane.storage.host;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Runs host tools (losetup, mkfs, mount, btrfs, ...) with a bounded wait. Output goes to a temp
 * file rather than a pipe so that a tool which forks a child holding stdout open can never hang us.
 */
public final class Commands {
    private static final Logger LOG = Logger.getLogger(Commands.class.getName());
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(2);

    /** The outcome of a command that ran to completion. */
    public record Result(List<String> command, int exitCode, String output) {
        public boolean ok() {
            return exitCode == 0;
        }
    }

    public Result run(String... command) {
        return run(DEFAULT_TIMEOUT, List.of(command));
    }

    /** Runs and throws {@link CommandException} on a non-zero exit. */
    public String check(String... command) {
        return check(DEFAULT_TIMEOUT, List.of(command));
    }

    public String check(Duration timeout, List<String> command) {
        Result result = run(timeout, command);
        if (!result.ok()) {
            throw new CommandException(result);
        }
        return result.output();
    }

    public Result run(Duration timeout, List<String> command) {
        Path out = null;
        try {
            out = Files.createTempFile("edgeplane-csi-cmd", ".out");
            ProcessBuilder pb = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(out.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            pb.environment().put("LC_ALL", "C");
            long started = System.nanoTime();
            Process process = pb.start();
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
                throw new CommandException(new Result(command, -1, "timed out after " + timeout));
            }
            String output = Files.readString(out, StandardCharsets.UTF_8).strip();
            Result result = new Result(List.copyOf(command), process.exitValue(), output);
            LOG.log(Level.FINE, () -> String.format("%s -> %d in %d ms", String.join(" ", command),
                    result.exitCode(), (System.nanoTime() - started) / 1_000_000));
            return result;
        } catch (IOException e) {
            throw new CommandException(new Result(command, -1, e.toString()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommandException(new Result(command, -1, "interrupted"));
        } finally {
            if (out != null) {
                try {
                    Files.deleteIfExists(out);
                } catch (IOException ignored) {
                    // a stray temp file is harmless
                }
            }
        }
    }
}
