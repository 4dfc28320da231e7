package dev.edgeplane.storage.host;

/** A host tool failed; the message carries the command line, exit code and its output. */
public final class CommandException extends RuntimeException {
    private final transient Commands.Result result;

    public CommandException(Commands.Result result) {
        super(String.join(" ", result.command()) + " failed (exit " + result.exitCode() + "): " + result.output());
        this.result = result;
    }

    public Commands.Result result() {
        return result;
    }
}
