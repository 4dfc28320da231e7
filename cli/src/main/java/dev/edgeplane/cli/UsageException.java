package dev.edgeplane.cli;

/** A mistake in how edgectl was called or configured: printed as one line, exit code 2. */
final class UsageException extends RuntimeException {
    UsageException(String message) {
        super(message);
    }
}
