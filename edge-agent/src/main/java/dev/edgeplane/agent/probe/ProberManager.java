package dev.edgeplane.agent.probe;

import dev.edgeplane.agent.events.EventRecorder;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.ObjectReference;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;
import java.util.stream.Collectors;

/**
 * The kubelet's prober manager: one worker per probe of every running container, each on its own
 * period, and the verdicts they reach. Pod workers tell it which containers run ({@link #syncPod})
 * and read the verdicts back ({@link #verdict}); a changed verdict calls the listeners, so the pod's
 * next pass acts on it (restart after a liveness failure, readiness into the status). Probes need no
 * control plane: they go on while the cloud is unreachable.
 *
 * <p>Bounded: one timer thread, at most {@code threads} checks at once (a check takes at most its
 * timeout), at most one check in flight per probe (a tick that finds the last one running is skipped).
 */
public final class ProberManager implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ProberManager.class.getName());
    private static final int QUEUE = 1024;

    /** A running container of a pod as its pod worker saw it. */
    public record RunningContainer(String id, Container spec, Instant startedAt) {}

    /**
     * What the probes of one container say. Without probes a running container is started and ready.
     *
     * @param restart why it must be killed and restarted (a liveness or startup failure), if it must
     * @param failure the last failed verdict ("readiness: HTTP probe failed with status code 503"), or empty
     */
    public record Verdict(boolean started, boolean ready, Optional<String> restart, String failure) {
        public static final Verdict NO_PROBES = new Verdict(true, true, Optional.empty(), "");
    }

    private final Prober prober;
    private final EventRecorder events;
    private final Clock clock;
    private final ScheduledExecutorService timer;
    private final ThreadPoolExecutor checks;
    private final Map<String, ContainerProbes> byContainer = new ConcurrentHashMap<>();
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();

    public ProberManager(Prober prober, int threads, EventRecorder events, Clock clock) {
        this.prober = prober;
        this.events = events;
        this.clock = clock;
        AtomicInteger n = new AtomicInteger();
        this.timer = Executors.newSingleThreadScheduledExecutor(runnable -> daemon(runnable, "probe-timer"));
        this.checks = new ThreadPoolExecutor(threads, threads, 30, TimeUnit.SECONDS, new ArrayBlockingQueue<>(QUEUE),
                runnable -> daemon(runnable, "prober-" + n.incrementAndGet()), new ThreadPoolExecutor.AbortPolicy());
        this.checks.allowCoreThreadTimeOut(true);
    }

    /** Called when a verdict changes. */
    public void addListener(Runnable listener) {
        listeners.add(listener);
    }

    /** The pod's containers that run now: probes start for new ones and stop for the others. */
    public void syncPod(String podKey, ObjectReference replica, List<RunningContainer> running) {
        Set<String> ids = running.stream().map(RunningContainer::id).collect(Collectors.toSet());
        byContainer.values().removeIf(c -> c.podKey.equals(podKey) && !ids.contains(c.id) && c.stop());
        for (RunningContainer container : running) {
            List<ProbeSpec> specs = new ArrayList<>();
            for (ProbeType type : ProbeType.values()) {
                ProbeSpec.of(type, container.spec()).ifPresent(specs::add);
            }
            if (!specs.isEmpty()) {
                byContainer.computeIfAbsent(container.id(), id -> start(podKey, replica, container, specs));
            }
        }
    }

    /** The pod is gone: its probes stop. */
    public void removePod(String podKey) {
        byContainer.values().removeIf(c -> c.podKey.equals(podKey) && c.stop());
    }

    public Verdict verdict(String containerId) {
        ContainerProbes probes = byContainer.get(containerId);
        return probes == null ? Verdict.NO_PROBES : probes.verdict();
    }

    /** Probes running now (for the agent's metrics and tests). */
    public int probes() {
        return (int) byContainer.values().stream().flatMap(c -> c.workers.stream()).filter(w -> !w.cancelled).count();
    }

    private ContainerProbes start(String podKey, ObjectReference replica, RunningContainer container, List<ProbeSpec> specs) {
        ContainerProbes probes = new ContainerProbes(podKey, replica, container);
        for (ProbeSpec spec : specs) {
            Worker worker = new Worker(probes, spec);
            probes.workers.add(worker);
            probes.initial(spec.type());
            // Kubernetes probes a new container at once (initial delay permitting), then every period.
            worker.future = timer.scheduleAtFixedRate(worker::tick, 0, spec.period().toMillis(), TimeUnit.MILLISECONDS);
        }
        return probes;
    }

    /** One container's probes and the verdicts they reached. */
    private final class ContainerProbes {
        final String podKey;
        final ObjectReference replica;
        final String id;
        final String name;
        final Instant startedAt;
        final List<Worker> workers = new CopyOnWriteArrayList<>();
        private boolean started = true;
        private boolean ready = true;
        private String restart;
        private String failure = "";

        ContainerProbes(String podKey, ObjectReference replica, RunningContainer container) {
            this.podKey = podKey;
            this.replica = replica;
            this.id = container.id();
            this.name = container.spec().getName();
            this.startedAt = container.startedAt();
        }

        synchronized void initial(ProbeType type) {
            switch (type) {
                case STARTUP -> started = false;   // not started until it passes
                case READINESS -> ready = false;   // not ready until it passes
                case LIVENESS -> { }               // alive until it fails
            }
        }

        synchronized Verdict verdict() {
            boolean hasReadiness = workers.stream().anyMatch(w -> w.spec.type() == ProbeType.READINESS);
            return new Verdict(started, started && (!hasReadiness || ready), Optional.ofNullable(restart), failure);
        }

        synchronized boolean started() {
            return started;
        }

        /** Records a verdict; true when it changed what the pod worker acts on or reports. */
        boolean record(ProbeType type, boolean success, String message) {
            boolean changed;
            boolean newlyFailing;
            synchronized (this) {
                boolean wasFailing = failure.startsWith(type.title());
                newlyFailing = !success && !wasFailing;
                changed = switch (type) {
                    case STARTUP -> success ? !started : restart == null;
                    case READINESS -> ready != success || newlyFailing;
                    case LIVENESS -> !success && restart == null;
                };
                if (success) {
                    if (type == ProbeType.STARTUP) {
                        started = true;
                    } else if (type == ProbeType.READINESS) {
                        ready = true;
                    }
                    if (wasFailing) {
                        failure = "";
                        changed = true;
                    }
                } else {
                    if (type == ProbeType.READINESS) {
                        ready = false;
                    } else {
                        restart = type.title() + " probe failed: " + message;
                    }
                    failure = type.title() + " probe failed: " + message;
                }
            }
            if (newlyFailing) {
                events.warning(replica, "Unhealthy", "container " + name + ": " + type.title() + " probe failed: " + message);
            }
            return changed;
        }

        boolean stop() {
            workers.forEach(Worker::cancel);
            return true;
        }
    }

    /** One probe of one container: the kubelet's probe worker. */
    private final class Worker {
        final ContainerProbes container;
        final ProbeSpec spec;
        final ProbeCounter counter;
        final AtomicBoolean inFlight = new AtomicBoolean();
        volatile boolean cancelled;
        // After a failure verdict that restarts the container, nothing to do until it is gone.
        volatile boolean onHold;
        volatile ScheduledFuture<?> future;

        Worker(ContainerProbes container, ProbeSpec spec) {
            this.container = container;
            this.spec = spec;
            this.counter = new ProbeCounter(spec.successThreshold(), spec.failureThreshold());
        }

        void tick() {
            if (cancelled || onHold || !inFlight.compareAndSet(false, true)) {
                return;
            }
            try {
                checks.execute(() -> {
                    try {
                        probeOnce();
                    } catch (RuntimeException e) {
                        LOG.warning(container.podKey + "/" + container.name + ": " + spec.type().title() + " probe: " + e);
                    } finally {
                        inFlight.set(false);
                    }
                });
            } catch (RejectedExecutionException full) {
                inFlight.set(false); // the next tick tries again
            }
        }

        private void probeOnce() {
            if (cancelled) {
                return;
            }
            boolean started = container.started();
            if (spec.type() == ProbeType.STARTUP && started) {
                cancel(); // its job is done for this container
                return;
            }
            if (spec.type() != ProbeType.STARTUP && !started) {
                return; // the startup probe gates the other two
            }
            if (clock.instant().isBefore(container.startedAt.plus(spec.initialDelay()))) {
                return;
            }
            Prober.Outcome outcome = prober.check(spec.probe(), container.id, spec.timeout());
            if (cancelled) {
                return;
            }
            Optional<Boolean> verdict = counter.observe(outcome.success());
            if (verdict.isEmpty()) {
                return;
            }
            boolean success = verdict.get();
            if (!success && spec.type() != ProbeType.READINESS) {
                onHold = true;
                counter.reset();
            }
            if (success && spec.type() == ProbeType.STARTUP) {
                cancel(); // started once is started for the life of this container
            }
            if (container.record(spec.type(), success, outcome.message())) {
                LOG.info(() -> container.podKey + "/" + container.name + ": " + spec.type().title() + " probe "
                        + (success ? "succeeded" : "failed: " + outcome.message()));
                listeners.forEach(Runnable::run);
            }
        }

        void cancel() {
            cancelled = true;
            ScheduledFuture<?> f = future;
            if (f != null) {
                f.cancel(false);
            }
        }
    }

    @Override
    public void close() {
        byContainer.values().forEach(ContainerProbes::stop);
        byContainer.clear();
        timer.shutdownNow();
        checks.shutdownNow();
        try {
            checks.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static Thread daemon(Runnable runnable, String name) {
        Thread thread = new Thread(runnable, name);
        thread.setDaemon(true);
        return thread;
    }
}
