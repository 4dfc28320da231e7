package dev.edgeplane.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs a command to completion within a bounded time: the one way tests run a short command. */
public final class Commands {
    private Commands() {}

    /** Exit code and combined stdout + stderr. */
    public record Result(int exitCode, String output) {}

    /** Runs the command and returns its exit code and output; fails only on a timeout. */
    public static Result exec(List<String> command, Map<String, String> env, Duration timeout) {
        try {
            Path out = Files.createTempFile("cmd", ".out");
            try {
                ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                        .redirectOutput(out.toFile());
                pb.environment().putAll(env);
                Process p = pb.start();
                if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    p.destroyForcibly().waitFor();
                    throw new IllegalStateException(String.join(" ", command) + ": no answer within " + timeout
                            + "\n" + Files.readString(out, StandardCharsets.UTF_8));
                }
                return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + command.get(0), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + command.get(0), e);
        }
    }

    /** Runs the command and returns its output; a non-zero exit fails with that output. */
    public static String run(List<String> command, Duration timeout) {
        Result r = exec(command, Map.of(), timeout);
        if (r.exitCode() != 0) {
            throw new IllegalStateException(String.join(" ", command) + " failed (" + r.exitCode() + "): "
                    + r.output().trim());
        }
        return r.output();
    }
}
