package dev.edgeplane.controlplane.stream;

import java.time.Duration;
import java.util.concurrent.Executor;

/** Where outbound streams run their writes: at once, or after a delay (a retry). */
public interface Sender extends Executor {
    void schedule(Runnable task, Duration delay);
}
