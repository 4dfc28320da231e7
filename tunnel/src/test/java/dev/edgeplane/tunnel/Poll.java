package dev.edgeplane.tunnel;

import java.util.function.BooleanSupplier;

/** Bounded waits that poll for a condition. */
final class Poll {
    private Poll() {}

    static void until(BooleanSupplier condition, String what) {
        until(condition, what, 15_000);
    }

    static void until(BooleanSupplier condition, String what, long timeoutMs) {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (!condition.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what);
            }
        }
    }
}
