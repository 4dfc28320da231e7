package dev.edgeplane.e2e;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Bounded waits that poll for a condition: the only kind of waiting the tests do. */
final class Await {
    private static final Duration POLL = Duration.ofMillis(250);

    private Await() {}

    static void until(String what, Duration timeout, Supplier<String> diagnostics, BooleanSupplier condition) {
        until(what, timeout, POLL, diagnostics, condition);
    }

    /** The same, polling every {@code poll}: for a condition that costs the system under test to evaluate. */
    static void until(String what, Duration timeout, Duration poll, Supplier<String> diagnostics, BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        RuntimeException last = null;
        while (System.nanoTime() < deadline) {
            try {
                if (condition.getAsBoolean()) {
                    return;
                }
                last = null;
            } catch (RuntimeException e) {
                last = e; // e.g. UNAVAILABLE while a process starts: poll again
            }
            try {
                Thread.sleep(poll.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what);
            }
        }
        AssertionError failure = new AssertionError(
                "timed out after " + timeout + " waiting for " + what + "\n" + diagnostics.get());
        if (last != null) {
            failure.initCause(last);
        }
        throw failure;
    }
}
