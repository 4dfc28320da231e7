package dev.edgeplane.agent.join;

/** Why a join failed, with the CLI exit code for each reason. */
public final class JoinFailure extends Exception {
    public enum Reason {
        OTHER(1), TOKEN_REFUSED(3), CA_MISMATCH(4), UNREACHABLE(5);

        private final int exitCode;

        Reason(int exitCode) {
            this.exitCode = exitCode;
        }

        public int exitCode() {
            return exitCode;
        }
    }

    private final Reason reason;

    public JoinFailure(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public JoinFailure(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
