package dev.edgeplane.agent;

import java.time.Duration;
import java.util.function.Supplier;

/** Bounded waits that poll for a condition. */
public final class Await {
    private Await() {}

    public static void until(Duration timeout, String what, Supplier<Boolean> condition) {
        until(timeout, what, condition, () -> "");
    }

    public static void until(Duration timeout, String what, Supplier<Boolean> condition, Supplier<String> state) {
        long deadline = System.nanoTime() + timeout.toNanos();
        RuntimeException last = null;
        while (System.nanoTime() < deadline) {
            try {
                if (Boolean.TRUE.equals(condition.get())) {
                    return;
                }
                last = null;
            } catch (RuntimeException e) {
                last = e;
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what);
            }
        }
        String detail = state.get();
        throw new AssertionError("not within " + timeout + ": " + what + (detail.isEmpty() ? "" : " (" + detail + ")")
                + (last == null ? "" : " last error: " + last));
    }
}
