package dev.edgeplane.controlplane.concurrent;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** Runs independent start-up work at once, one daemon thread each, and waits for all of it. */
public final class AllAtOnce {
    private AllAtOnce() {
    }

    /**
     * Runs every task on its own thread named {@code threadName}; returns once all ended. The first
     * failure (a RuntimeException) is thrown after all ended, so no task is left running behind it.
     */
    public static void run(String threadName, List<? extends Runnable> tasks) {
        if (tasks.isEmpty()) {
            return;
        }
        ExecutorService threads = Executors.newFixedThreadPool(tasks.size(), runnable -> {
            Thread thread = new Thread(runnable, threadName);
            thread.setDaemon(true);
            return thread;
        });
        try {
            CompletableFuture.allOf(tasks.stream().map(task -> CompletableFuture.runAsync(task, threads))
                    .toArray(CompletableFuture[]::new)).join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException cause ? cause : e;
        } finally {
            threads.shutdown();
        }
    }
}
