package dev.edgeplane.agent.pods;

import dev.edgeplane.agent.events.EventRecorder;
import dev.edgeplane.agent.journal.DesiredState;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.loop.PassLoop;
import dev.edgeplane.agent.probe.Prober;
import dev.edgeplane.agent.probe.ProberManager;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.agent.status.StatusManager;
import dev.edgeplane.agent.volumes.PodVolumes;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.cri.v1.PodSandbox;
import dev.edgeplane.tunnel.edge.CriContainers;
import io.grpc.StatusRuntimeException;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * The sync loop, modelled on the kubelet's: level-triggered (on every desired-state change and every
 * sync period) it compares the desired state from the journal with what the runtime runs (sandboxes
 * labelled edgeplane.dev/managed=true) and hands each replica to a pod worker. At most one worker per
 * replica runs at a time; a replica still busy is simply picked up by a later pass.
 *
 * <p>Removal needs a complete desired state: with none (no journal yet, no snapshot) the agent keeps
 * whatever it finds running rather than guess.
 */
public final class Reconciler implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Reconciler.class.getName());

    private final CriRuntime cri;
    private final DesiredStateStore desired;
    private final StatusManager status;
    private final ReconcilerSettings settings;
    private final PodWorker worker;
    private final ProberManager probes;
    private final ExecutorService workers;
    private final Set<String> busy = ConcurrentHashMap.newKeySet();
    // Replicas a pass skipped because their worker was busy: they get another pass as soon as it is done.
    private final Set<String> skipped = ConcurrentHashMap.newKeySet();
    private final PassLoop loop;
    private final PassLoop logRotation;
    private final PassLoop volumeCleanup;
    private final PodVolumes volumes;
    /** How often container log sizes are looked at (the kubelet's is 10 s). */
    static final Duration LOG_ROTATION_PERIOD = Duration.ofSeconds(10);
    private volatile String lastListError = "";
    private final List<Consumer<Duration>> reconcileListeners = new CopyOnWriteArrayList<>();
    private volatile LocalPods localPods = LocalPods.NONE;

    /**
     * Pods the node decides on itself, beside the control plane's replicas (run_on_edge CronJob runs):
     * run by the same pod workers, but their status goes back to their owner, not into the node's
     * replica reports (the control plane would not know them).
     */
    public interface LocalPods {
        LocalPods NONE = new LocalPods() {
            @Override
            public java.util.Map<String, Assignment> pods() {
                return java.util.Map.of();
            }

            @Override
            public void observed(String key, ReplicaStatus status) {}
        };

        /** "namespace/replica" -> the pod; keys never collide with the control plane's replicas. */
        java.util.Map<String, Assignment> pods();

        void observed(String key, ReplicaStatus status);
    }

    /** Runs {@code pods} too (set before {@link #start}). */
    public void setLocalPods(LocalPods pods) {
        this.localPods = pods;
    }

    public Reconciler(CriRuntime cri, DesiredStateStore desired, StatusManager status, ReconcilerSettings settings, Clock clock) {
        this(cri, desired, status, settings, clock, PodVolumes.withoutDriver(settings.logDir().resolveSibling("volumes")));
    }

    public Reconciler(CriRuntime cri, DesiredStateStore desired, StatusManager status, ReconcilerSettings settings, Clock clock,
                      PodVolumes volumes) {
        this(cri, desired, status, settings, clock, volumes, EventRecorder.NONE);
    }

    public Reconciler(CriRuntime cri, DesiredStateStore desired, StatusManager status, ReconcilerSettings settings, Clock clock,
                      PodVolumes volumes, EventRecorder events) {
        this.cri = cri;
        this.desired = desired;
        this.status = status;
        this.settings = settings;
        // Exec probes go through CRI ExecSync, as the tunnel's exec does.
        Prober prober = new Prober(new CriContainers(cri.channel())::execSync);
        this.probes = new ProberManager(prober, settings.probeThreads(), events, clock);
        this.worker = new PodWorker(cri, settings, clock, volumes, events, probes, prober, this::trigger);
        AtomicInteger n = new AtomicInteger();
        this.workers = Executors.newFixedThreadPool(settings.workers(), runnable -> {
            Thread thread = new Thread(runnable, "pod-worker-" + n.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        });
        this.loop = new PassLoop("reconciler", settings.syncPeriod(), this::syncOnce);
        LogRotator rotator = new LogRotator(cri, settings.logMaxBytes(), settings.logMaxFiles(), clock);
        this.logRotation = new PassLoop("log-rotation", LOG_ROTATION_PERIOD, rotator::rotateOnce);
        this.volumes = volumes;
        this.volumeCleanup = new PassLoop("volume-cleanup", PodVolumes.RETRY_PERIOD, this::cleanupVolumes);
        desired.addListener(this::trigger);
        probes.addListener(this::trigger);
    }

    public void start() {
        loop.start();
        logRotation.start();
        volumeCleanup.start();
    }

    /** Asks for a pass soon (desired state changed, a worker finished with more to do...). */
    public void trigger() {
        loop.trigger();
    }

    /** One level-triggered pass: dispatch every desired or running replica to its worker. */
    void syncOnce() {
        DesiredState state = desired.current();
        Set<String> keys = new TreeSet<>(state.assignments().keySet());
        keys.addAll(localPods.pods().keySet());
        try {
            for (PodSandbox sandbox : cri.listSandboxes(PodLabels.managed())) {
                PodLabels.replicaKey(sandbox.getLabelsMap()).ifPresent(keys::add);
            }
            lastListError = "";
        } catch (StatusRuntimeException e) {
            cri.reconnectNow();
            String message = e.getStatus().getCode() + " " + e.getStatus().getDescription();
            if (!message.equals(lastListError)) {
                LOG.warning("container runtime at " + cri.endpoint() + " not answering (" + message + "); retrying every "
                        + settings.syncPeriod().toSeconds() + "s");
                lastListError = message;
            }
            return;
        }
        if (state.complete()) {
            status.retainOnly(keys);
        }
        for (String key : keys) {
            if (!busy.add(key)) {
                skipped.add(key);
                continue;
            }
            try {
                workers.execute(() -> {
                    try {
                        work(key);
                    } catch (RuntimeException e) {
                        LOG.warning(key + ": pod worker failed: " + e);
                    } finally {
                        busy.remove(key);
                        if (skipped.remove(key)) {
                            trigger();
                        }
                    }
                });
            } catch (RejectedExecutionException shuttingDown) {
                busy.remove(key);
                return;
            }
        }
        desired.recordPods(status.all());
    }

    /** Finishes pod volume removals that failed or a crash cut short (the kubelet's orphaned pod volume cleanup). */
    void cleanupVolumes() {
        Set<String> live = new java.util.HashSet<>();
        try {
            for (PodSandbox sandbox : cri.listSandboxes(PodLabels.managed())) {
                live.add(sandbox.getMetadata().getUid());
            }
        } catch (StatusRuntimeException e) {
            return; // the runtime is not answering: which pods are gone is unknown (the sync loop says so)
        }
        volumes.retryRemovals(live);
    }

    private void work(String key) {
        if (!loop.isRunning()) {
            return;
        }
        DesiredState state = desired.current();
        Assignment assignment = state.assignments().get(key);
        if (assignment != null) {
            long started = System.nanoTime();
            ReplicaStatus replica = worker.sync(key, assignment);
            Duration took = Duration.ofNanos(System.nanoTime() - started);
            reconcileListeners.forEach(listener -> listener.accept(took));
            status.update(key, replica);
            return;
        }
        Assignment local = localPods.pods().get(key);
        if (local != null) {
            localPods.observed(key, worker.sync(key, local));
        } else if (state.complete()) {
            int slash = key.indexOf('/');
            worker.remove(key, key.substring(0, slash), key.substring(slash + 1));
            status.remove(key);
        }
    }

    /** Told how long each pod worker's pass over a desired replica took (agent metrics). */
    public void addReconcileListener(Consumer<Duration> listener) {
        reconcileListeners.add(listener);
    }

    /** How many replicas are desired right now. */
    public int desiredCount() {
        return desired.current().assignments().size();
    }

    /** Stops the loop and waits for workers; containers keep running (they belong to the node). */
    @Override
    public void close() {
        loop.close(Duration.ofSeconds(5));
        logRotation.close(Duration.ofSeconds(5));
        volumeCleanup.close(Duration.ofSeconds(5));
        workers.shutdown();
        try {
            if (!workers.awaitTermination(20, TimeUnit.SECONDS)) {
                workers.shutdownNow();
            }
        } catch (InterruptedException e) {
            workers.shutdownNow();
            Thread.currentThread().interrupt();
        }
        probes.close();
        desired.recordPods(status.all());
    }

    /** Whether the container runtime answered the last pass's listing (a node condition when not). */
    public boolean runtimeAnswers() {
        return lastListError.isEmpty();
    }

    /** Probes running now. */
    public int probes() {
        return probes.probes();
    }
}
