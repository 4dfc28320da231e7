package dev.edgeplane.agent.metrics;

import dev.edgeplane.agent.runtime.CriRuntime;
import io.grpc.Channel;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.logging.Logger;

/**
 * The agent's metrics pipeline, kubelet-style: collectors (node, containers, the agent itself) sampled
 * every interval on one thread into a frame, handed to the {@link MetricsUploader} (live batches, or
 * the on-disk {@link MetricsRing} while offline). Everything runs on the one "metrics" thread, so
 * sampling never touches the sync loop and needs no locks. CPU spent collecting is measured on that
 * thread and reported as agent_metrics_collect_seconds_total.
 */
public final class MetricsAgent implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(MetricsAgent.class.getName());

    private final MetricsSettings settings;
    private final List<Collector> collectors;
    private final AgentStats stats;
    private final MetricsRing ring;
    private final MetricsUploader uploader;
    private final ScheduledExecutorService thread;
    private final Clock clock;
    private final BooleanSupplier linkUp;
    private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    private long collectNanos;
    private long reportedDrops;
    private long frames;
    private final List<String> failing = new ArrayList<>();

    private MetricsAgent(MetricsSettings settings, List<Collector> sources, AgentStats stats, MetricsRing ring,
                         ScheduledExecutorService thread, Channel channel, BooleanSupplier linkUp, SequenceFile sequences, Clock clock,
                         Runnable onAck) {
        this.settings = settings;
        List<Collector> collectors = new ArrayList<>(sources);
        // Microseconds: an exact decimal on the wire (a byte or two a sample, not a double's eight).
        collectors.add(new AgentCollector(stats, Path.of("/proc/self/status"), () -> (collectNanos / 1000) / 1e6));
        this.collectors = List.copyOf(collectors);
        this.stats = stats;
        this.ring = ring;
        this.thread = thread;
        this.clock = clock;
        this.linkUp = linkUp;
        this.uploader = new MetricsUploader(channel, linkUp, ring, sequences, new Downsampler(settings.ringResolution()),
                new MetricsUploader.Settings(settings.flush(), settings.gzip(),
                        (int) Math.max(60, 3 * settings.flush().toMillis() / settings.interval().toMillis()), 60, settings.precisionBits()),
                thread, System::nanoTime, onAck);
    }

    /**
     * Starts sampling: node and agent collectors, containers when a CRI runtime is given.
     *
     * @param channel the agent's channel to the control plane (ReportMetrics rides on it, beside Sync)
     * @param linkUp  whether the Sync stream is live: no point opening a metrics stream otherwise
     * @param onAck   the control plane acked a batch (it heard from this node: a heartbeat can wait)
     */
    public static MetricsAgent start(MetricsSettings settings, Path stateDir, CriRuntime cri, AgentStats stats,
                                     Channel channel, BooleanSupplier linkUp, Clock clock, Runnable onAck) throws IOException {
        MetricsRing ring = MetricsRing.open(settings.ringDir().resolve("ring"), settings.ringBytes(), settings.ringRetention(), clock);
        SequenceFile sequences = new SequenceFile(settings.ringDir().resolve("sequence"));
        ScheduledExecutorService thread = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "metrics");
            t.setDaemon(true);
            return t;
        });
        List<Collector> collectors = new ArrayList<>();
        collectors.add(NodeCollector.forHost(stateDir));
        if (cri != null) {
            collectors.add(new ContainerCollector(cri));
        }
        MetricsAgent agent = new MetricsAgent(settings, collectors, stats, ring, thread, channel, linkUp, sequences, clock, onAck);
        stats.queue("metrics", agent.uploader::queued);
        long interval = settings.interval().toMillis();
        thread.scheduleAtFixedRate(agent::sampleSafely, 0, interval, TimeUnit.MILLISECONDS);
        long tick = Math.min(1000, settings.flush().toMillis());
        thread.scheduleWithFixedDelay(agent::tickSafely, tick, tick, TimeUnit.MILLISECONDS);
        LOG.info(() -> "metrics: every " + settings.interval().toMillis() + " ms, uploaded every " + settings.flush().toMillis()
                + " ms; offline ring " + settings.ringDir() + " (" + settings.ringRetention().toHours() + " h at "
                + settings.ringResolution().toSeconds() + " s, " + settings.ringBytes() + " bytes, " + ring.pending() + " frames waiting)");
        return agent;
    }

    private void sampleSafely() {
        try {
            sample();
        } catch (RuntimeException e) {
            LOG.warning("metrics: sampling failed: " + e);
        }
    }

    /** One pass over the collectors -> one frame. */
    void sample() {
        long cpuBefore = threads.getCurrentThreadCpuTime();
        long dropped = ring.dropped();
        stats.dropped("metrics", dropped - reportedDrops);
        reportedDrops = dropped;
        Samples samples = new Samples();
        List<String> failed = new ArrayList<>();
        for (Collector c : collectors) {
            try {
                c.collect(samples);
            } catch (Exception e) {
                failed.add(c.name() + ": " + e);
            }
        }
        if (!failed.equals(failing)) { // log changes, not every pass
            if (!failed.isEmpty()) {
                LOG.warning("metrics: collectors failing (values left out): " + failed);
            }
            failing.clear();
            failing.addAll(failed);
        }
        uploader.record(samples.frame(clock.millis()));
        frames++;
        long cpuAfter = threads.getCurrentThreadCpuTime();
        if (cpuBefore >= 0 && cpuAfter >= cpuBefore) {
            collectNanos += cpuAfter - cpuBefore;
        }
    }

    private void tickSafely() {
        try {
            // The link as the sync client sees it, at tick resolution (1 s): connected/disconnected time.
            if (linkUp.getAsBoolean()) {
                stats.linkUp();
            } else {
                stats.linkDown();
            }
            uploader.tick();
        } catch (RuntimeException e) {
            LOG.warning("metrics: upload failed: " + e);
        }
    }

    /** CPU time spent collecting so far (thread CPU of the sampling passes). */
    public Duration collectCpu() throws InterruptedException {
        return call(() -> Duration.ofNanos(collectNanos));
    }

    public long framesSampled() throws InterruptedException {
        return call(() -> frames);
    }

    public long queued() throws InterruptedException {
        return call(uploader::queued);
    }

    public long bytesSent() throws InterruptedException {
        return call(uploader::bytesSent);
    }

    private <T> T call(java.util.concurrent.Callable<T> what) throws InterruptedException {
        try {
            return thread.submit(what).get(10, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("metrics thread: " + e, e);
        }
    }

    /** Stops sampling; what was not acked is on disk for the next run. */
    @Override
    public void close() {
        try {
            thread.submit(uploader::shutdown).get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | java.util.concurrent.RejectedExecutionException e) {
            LOG.warning("metrics: could not save unsent frames: " + e);
        }
        thread.shutdownNow();
        try {
            thread.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            ring.close();
        } catch (IOException e) {
            LOG.warning("metrics: closing the ring: " + e);
        }
    }
}
