package dev.edgeplane.controlplane.sync;

import dev.edgeplane.controlplane.stream.Sender;
import java.time.Duration;

/** Writes at once on the calling thread, so tests of the index's logic see what was sent right away. */
final class InlineSender implements Sender {
    @Override
    public void execute(Runnable task) {
        task.run();
    }

    @Override
    public void schedule(Runnable task, Duration delay) {
        throw new AssertionError("nothing is retried later in these tests (a template was missing?)");
    }
}
