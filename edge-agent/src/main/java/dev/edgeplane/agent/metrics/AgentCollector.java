package dev.edgeplane.agent.metrics;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.DoubleSupplier;

/** The agent itself: link, sync lag, queues, drops, reconciles (from {@link AgentStats}), heap, RSS and collection CPU. */
public final class AgentCollector implements Collector {
    private final AgentStats stats;
    private final MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    private final Path selfStatus;
    private final DoubleSupplier collectSeconds;

    /**
     * @param selfStatus     /proc/self/status
     * @param collectSeconds CPU seconds spent collecting so far (the sampler measures it)
     */
    public AgentCollector(AgentStats stats, Path selfStatus, DoubleSupplier collectSeconds) {
        this.stats = stats;
        this.selfStatus = selfStatus;
        this.collectSeconds = collectSeconds;
    }

    @Override
    public String name() {
        return "agent";
    }

    @Override
    public void collect(Samples out) throws IOException {
        stats.collect(out);
        out.gauge("agent_heap_used_bytes", memory.getHeapMemoryUsage().getUsed());
        ProcFiles.residentBytes(Files.readString(selfStatus, StandardCharsets.US_ASCII))
                .ifPresent(rss -> out.gauge("agent_resident_memory_bytes", rss));
        out.counter("agent_metrics_collect_seconds_total", collectSeconds.getAsDouble());
    }
}
