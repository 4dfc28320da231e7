package dev.edgeplane.controlplane.secrets;

/**
 * A secret could not be sealed or opened. The message names the secret and the key id, never a value.
 */
public final class SealingException extends RuntimeException {
    /** Why: the API answers FAILED_PRECONDITION for the first two, DATA_LOSS for the last. */
    public enum Reason { NOT_CONFIGURED, KEY_MISSING, AUTHENTICATION_FAILED }

    private final Reason reason;

    public SealingException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
