package dev.edgeplane.agent.cronjobs;

import com.google.protobuf.Timestamp;
import dev.edgeplane.agent.io.DurableFiles;
import dev.edgeplane.agent.journal.DesiredState;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.pods.Reconciler;
import dev.edgeplane.api.CronJobNames;
import dev.edgeplane.api.schedule.CronJobSlots;
import dev.edgeplane.api.schedule.CronSchedule;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ContainerStatus;
import dev.edgeplane.api.v1.CronJobRunReport;
import dev.edgeplane.api.v1.EdgeCronJobLedger;
import dev.edgeplane.api.v1.EdgeCronJobRun;
import dev.edgeplane.api.v1.EdgeCronJobTask;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * Runs the node's run_on_edge CronJobs (Assignment.cron_job) from its journal, connected or not: a
 * scheduler thread decides each CronJob's due time with {@link CronJobSlots} in the CronJob's time
 * zone, and starts a run as a local pod ("cronrun.&lt;cronjob&gt;-&lt;scheduled unix seconds&gt;") that the
 * {@link Reconciler}'s pod workers run like any replica (CRI, restart policy NEVER or ON_FAILURE).
 *
 * <p>Durability: {@code <state>/cronjobs/ledger.pb} ({@link EdgeCronJobLedger}) holds the newest time
 * handled per CronJob and every run kept; the time and the new run are written in one atomic file
 * write BEFORE the pod is started, so a crash or restart never fires a time twice. A CronJob first seen
 * starts from now. Catch-up after downtime: with starting_deadline_seconds, the most recent missed
 * time within it; without, the most recent missed time only while the time after it has not come.
 *
 * <p>Concurrency: FORBID skips a time while a run is active, REPLACE stops the active ones first;
 * suspend skips times (not made up later). backoff_limit (container restarts under ON_FAILURE) and
 * active_deadline_seconds fail a run and stop its pod. Finished runs beyond the history limits are
 * dropped (their pods removed); a CronJob no longer in a complete desired state loses its runs.
 *
 * <p>Reports: each run's {@link CronJobRunReport} goes to {@code reports} when it changes and, all of
 * them, at start (the sync client sends every kept run again after each reconnect); the control plane
 * files them idempotently as Jobs.
 */
public final class EdgeCronJobs implements Reconciler.LocalPods, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(EdgeCronJobs.class.getName());
    /** CronJob entries handled at most; more are ignored (logged). */
    public static final int MAX_CRON_JOBS = 256;
    /** Runs kept at most over all CronJobs; a time due past it is skipped (logged). */
    public static final int MAX_RUNS = 2000;
    /** Active runs of one CronJob at most (ALLOW could otherwise pile them up). */
    public static final int MAX_ACTIVE_PER_CRON_JOB = 16;
    public static final int MAX_MESSAGE = 1024;
    private static final Duration IDLE = Duration.ofSeconds(30);

    /** One run's start: its time and when its container was first seen running (benchmarks, tests). */
    public record Firing(String namespace, String cronJob, Instant scheduled, Instant containerStarted) {}

    private final DesiredStateStore desired;
    private final Consumer<CronJobRunReport> reports;
    private final Consumer<CronJobRunReport> forget;
    private final Runnable podsChanged;
    private final String node;
    private final Path ledgerFile;
    private final Clock clock;
    private final Object signal = new Object();
    private final Thread thread;
    private final List<Consumer<Firing>> firingListeners = new CopyOnWriteArrayList<>();
    private volatile boolean running;
    private boolean pending;
    /** Guarded by this. */
    private EdgeCronJobLedger.Builder ledger;
    /** The pods of active runs, for the reconciler: rebuilt on every ledger change. Guarded by this. */
    private Map<String, Assignment> pods = Map.of();

    /**
     * @param reports     told of each run that started or changed
     * @param forget      told of each run the node no longer keeps
     * @param podsChanged asks the reconciler for a pass (a run started or is to be stopped)
     */
    public EdgeCronJobs(DesiredStateStore desired, Consumer<CronJobRunReport> reports, Consumer<CronJobRunReport> forget,
                        Runnable podsChanged, String node, Path dir, Clock clock) {
        this.desired = desired;
        this.reports = reports;
        this.forget = forget;
        this.podsChanged = podsChanged;
        this.node = node;
        this.ledgerFile = dir.resolve("ledger.pb");
        this.clock = clock;
        this.ledger = readLedger();
        rebuildPods();
        this.thread = new Thread(this::run, "edge-cronjobs");
        this.thread.setDaemon(true);
        desired.addListener(this::trigger);
    }

    public void start() {
        synchronized (this) {
            ledger.getRunsList().forEach(r -> reports.accept(r.getReport())); // reported (again) when connected
        }
        running = true;
        thread.start();
    }

    public void trigger() {
        synchronized (signal) {
            pending = true;
            signal.notifyAll();
        }
    }

    public void onFiring(Consumer<Firing> listener) {
        firingListeners.add(listener);
    }

    /** Every run kept, oldest first (tests, describe). */
    public synchronized List<CronJobRunReport> runs() {
        return ledger.getRunsList().stream().map(EdgeCronJobRun::getReport)
                .sorted(Comparator.comparing(r -> r.getScheduledTime().getSeconds())).toList();
    }

    @Override
    public synchronized Map<String, Assignment> pods() {
        return pods;
    }

    private void run() {
        while (running) {
            Duration wait;
            try {
                wait = passOnce();
            } catch (RuntimeException e) {
                LOG.warning("cron job pass failed: " + e);
                wait = IDLE;
            }
            synchronized (signal) {
                if (!pending && running && wait.toMillis() > 0) {
                    try {
                        signal.wait(wait.toMillis());
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
                pending = false;
            }
        }
    }

    private static String cursorKey(String namespace, String uid) {
        return namespace + "/" + uid;
    }

    /** One pass: fire what is due, enforce deadlines, prune; returns how long until the next time. */
    synchronized Duration passOnce() {
        DesiredState state = desired.current();
        Instant now = clock.instant();
        Instant wake = now.plus(IDLE);
        boolean changed = false;
        Set<String> live = new HashSet<>();
        int handled = 0;
        for (Assignment entry : state.cronJobs().values()) {
            if (++handled > MAX_CRON_JOBS) {
                LOG.warning("more than " + MAX_CRON_JOBS + " cron jobs on this node: " + entry.getNamespace() + "/"
                        + entry.getCronJob().getName() + " and later ones are not fired");
                break;
            }
            EdgeCronJobTask task = entry.getCronJob();
            String key = cursorKey(entry.getNamespace(), task.getUid());
            live.add(key);
            CronSchedule schedule;
            try {
                schedule = CronSchedule.parse(task.getSchedule(), task.getTimeZone());
            } catch (CronSchedule.InvalidCronException e) {
                LOG.warning("cron job " + entry.getNamespace() + "/" + task.getName() + ": " + e.getMessage() + "; not fired");
                continue;
            }
            if (!ledger.containsLastSlots(key)) {
                ledger.putLastSlots(key, now.getEpochSecond()); // first seen: from the next time on
                changed = true;
            }
            Instant since = Instant.ofEpochSecond(ledger.getLastSlotsOrThrow(key));
            CronJobSlots.Plan plan = CronJobSlots.plan(schedule, since, now,
                    task.getStartingDeadlineSeconds() > 0 ? task.getStartingDeadlineSeconds() : null, true);
            if (plan.handled().isPresent()) {
                ledger.putLastSlots(key, plan.handled().get().getEpochSecond());
                changed = true;
                if (plan.skipped().isPresent()) {
                    LOG.warning("cron job " + entry.getNamespace() + "/" + task.getName() + ": missed " + plan.skipped().get()
                            + (task.getStartingDeadlineSeconds() > 0 ? " (past starting_deadline_seconds)" : " (the next time has come)"));
                }
                plan.start().ifPresent(slot -> fire(entry.getNamespace(), task, slot, now));
            }
            if (plan.next().isPresent() && plan.next().get().isBefore(wake)) {
                wake = plan.next().get();
            }
        }
        changed |= enforceDeadlines(now);
        if (state.complete()) {
            changed |= release(live);
        }
        changed |= prune(state);
        if (changed) {
            persist();
            rebuildPods();
            podsChanged.run();
        }
        for (EdgeCronJobRun r : ledger.getRunsList()) {
            if (!r.getStopped() && r.getActiveDeadlineSeconds() > 0 && r.getReport().hasStartTime()) {
                Instant deadline = instant(r.getReport().getStartTime()).plusSeconds(r.getActiveDeadlineSeconds());
                if (deadline.isBefore(wake)) {
                    wake = deadline;
                }
            }
        }
        return Duration.between(clock.instant(), wake);
    }

    private List<EdgeCronJobRun> activeOf(String namespace, String uid) {
        return ledger.getRunsList().stream().filter(r -> r.getReport().getNamespace().equals(namespace)
                && r.getReport().getCronJobUid().equals(uid) && !r.getStopped() && !finished(r.getReport())).toList();
    }

    private static boolean finished(CronJobRunReport r) {
        return r.getPhase() == ReplicaStatus.Phase.SUCCEEDED || r.getPhase() == ReplicaStatus.Phase.FAILED;
    }

    /** Starts the run for {@code slot} (the cursor is already advanced), honouring suspend and the concurrency policy. */
    private void fire(String namespace, EdgeCronJobTask task, Instant slot, Instant now) {
        String what = "cron job " + namespace + "/" + task.getName() + " time " + slot;
        if (task.getSuspend()) {
            LOG.info(() -> what + ": suspended, skipped");
            return;
        }
        List<EdgeCronJobRun> active = activeOf(namespace, task.getUid());
        CronJobSlots.Concurrency policy = switch (task.getConcurrencyPolicy()) {
            case FORBID -> CronJobSlots.Concurrency.FORBID;
            case REPLACE -> CronJobSlots.Concurrency.REPLACE;
            default -> CronJobSlots.Concurrency.ALLOW;
        };
        CronJobSlots.Action action = CronJobSlots.onDue(policy, active.size());
        if (action == CronJobSlots.Action.SKIP) {
            LOG.info(() -> what + ": skipped, " + active.get(0).getReport().getReplica() + " still running (Forbid)");
            return;
        }
        if (action == CronJobSlots.Action.START && active.size() >= MAX_ACTIVE_PER_CRON_JOB) {
            LOG.warning(what + ": skipped, " + active.size() + " runs active (at most " + MAX_ACTIVE_PER_CRON_JOB + ")");
            return;
        }
        if (ledger.getRunsCount() >= MAX_RUNS) {
            LOG.warning(what + ": skipped, " + MAX_RUNS + " runs kept on this node");
            return;
        }
        if (action == CronJobSlots.Action.REPLACE_THEN_START) {
            for (EdgeCronJobRun r : active) {
                stop(r, ReplicaStatus.Phase.FAILED, "replaced by the run of " + slot + " (concurrency policy Replace)", now);
            }
        }
        String replica = CronJobNames.runReplica(task.getName(), slot);
        PodTemplate template = task.getTemplate();
        Assignment pod = Assignment.newBuilder().setNode(node).setNamespace(namespace).setReplica(replica).setTemplate(template)
                .setGeneration(task.getGeneration()).putAppLabels(CronJobNames.CRON_JOB_LABEL, task.getName()).build();
        CronJobRunReport report = CronJobRunReport.newBuilder().setNamespace(namespace).setCronJob(task.getName())
                .setCronJobUid(task.getUid()).setScheduledTime(timestamp(slot)).setPhase(ReplicaStatus.Phase.PENDING)
                .setReplica(replica).build();
        ledger.addRuns(EdgeCronJobRun.newBuilder().setPod(pod).setReport(report).setBackoffLimit(task.getBackoffLimit())
                .setActiveDeadlineSeconds(task.getActiveDeadlineSeconds()));
        persist(); // before the pod can start: a restart finds the run and never fires this time again
        reports.accept(report);
        LOG.info(() -> what + ": started " + replica + " (" + Duration.between(slot, now).toMillis() + " ms after its time)");
    }

    private void stop(EdgeCronJobRun run, ReplicaStatus.Phase phase, String why, Instant now) {
        for (int i = 0; i < ledger.getRunsCount(); i++) {
            if (ledger.getRuns(i).getReport().getReplica().equals(run.getReport().getReplica())
                    && ledger.getRuns(i).getReport().getNamespace().equals(run.getReport().getNamespace())) {
                CronJobRunReport.Builder report = ledger.getRuns(i).getReport().toBuilder();
                if (!finished(report.build())) {
                    report.setPhase(phase).setMessage(clip(why)).setCompletionTime(timestamp(now));
                }
                ledger.setRuns(i, ledger.getRuns(i).toBuilder().setStopped(true).setReport(report));
                reports.accept(report.build());
                LOG.info(() -> "cron job run " + run.getReport().getNamespace() + "/" + run.getReport().getReplica() + " stopped: " + why);
            }
        }
    }

    /** Runs active past their active_deadline_seconds fail (DeadlineExceeded) and stop. */
    private boolean enforceDeadlines(Instant now) {
        boolean changed = false;
        for (EdgeCronJobRun r : List.copyOf(ledger.getRunsList())) {
            if (!r.getStopped() && !finished(r.getReport()) && r.getActiveDeadlineSeconds() > 0 && r.getReport().hasStartTime()
                    && !now.isBefore(instant(r.getReport().getStartTime()).plusSeconds(r.getActiveDeadlineSeconds()))) {
                stop(r, ReplicaStatus.Phase.FAILED, "DeadlineExceeded: active longer than " + r.getActiveDeadlineSeconds() + " s", now);
                changed = true;
            }
        }
        return changed;
    }

    /** A complete desired state without the CronJob: its runs and cursor go (Kubernetes deletes a CronJob's Jobs). */
    private boolean release(Set<String> live) {
        boolean changed = false;
        List<EdgeCronJobRun> kept = new ArrayList<>();
        for (EdgeCronJobRun r : ledger.getRunsList()) {
            if (live.contains(cursorKey(r.getReport().getNamespace(), r.getReport().getCronJobUid()))) {
                kept.add(r);
            } else {
                forget.accept(r.getReport());
                changed = true;
            }
        }
        if (changed) {
            ledger.clearRuns().addAllRuns(kept);
        }
        for (String key : List.copyOf(ledger.getLastSlotsMap().keySet())) {
            if (!live.contains(key)) {
                ledger.removeLastSlots(key);
                changed = true;
            }
        }
        return changed;
    }

    /** Finished runs beyond their CronJob's history limits go, oldest first (their pods with them). */
    private boolean prune(DesiredState state) {
        Map<String, EdgeCronJobTask> tasks = new LinkedHashMap<>();
        state.cronJobs().values().forEach(e -> tasks.put(cursorKey(e.getNamespace(), e.getCronJob().getUid()), e.getCronJob()));
        Set<String> drop = new HashSet<>();
        for (Map.Entry<String, EdgeCronJobTask> e : tasks.entrySet()) {
            List<EdgeCronJobRun> mine = ledger.getRunsList().stream().filter(r -> finished(r.getReport())
                    && cursorKey(r.getReport().getNamespace(), r.getReport().getCronJobUid()).equals(e.getKey()))
                    .sorted(Comparator.comparing((EdgeCronJobRun r) -> r.getReport().getScheduledTime().getSeconds()).reversed()).toList();
            List<EdgeCronJobRun> ok = mine.stream().filter(r -> r.getReport().getPhase() == ReplicaStatus.Phase.SUCCEEDED).toList();
            List<EdgeCronJobRun> failed = mine.stream().filter(r -> r.getReport().getPhase() == ReplicaStatus.Phase.FAILED).toList();
            CronJobSlots.beyondLimit(ok, e.getValue().getSuccessfulJobsHistoryLimit()).forEach(r -> drop.add(runKey(r)));
            CronJobSlots.beyondLimit(failed, e.getValue().getFailedJobsHistoryLimit()).forEach(r -> drop.add(runKey(r)));
        }
        if (drop.isEmpty()) {
            return false;
        }
        List<EdgeCronJobRun> kept = new ArrayList<>();
        for (EdgeCronJobRun r : ledger.getRunsList()) {
            if (drop.contains(runKey(r))) {
                forget.accept(r.getReport());
                LOG.info(() -> "cron job run " + runKey(r) + " beyond its history limit: removed");
            } else {
                kept.add(r);
            }
        }
        ledger.clearRuns().addAllRuns(kept);
        return true;
    }

    private static String runKey(EdgeCronJobRun r) {
        return DesiredState.key(r.getReport().getNamespace(), r.getReport().getReplica());
    }

    /** The pods the reconciler runs: those of runs not stopped (finished ones stay, so their containers are kept). */
    private void rebuildPods() {
        Map<String, Assignment> next = new LinkedHashMap<>();
        for (EdgeCronJobRun r : ledger.getRunsList()) {
            if (!r.getStopped()) {
                next.put(runKey(r), r.getPod());
            }
        }
        pods = Map.copyOf(next);
    }

    /** What the pod worker saw of a run's pod: the run's phase, times, exit code and restarts. */
    @Override
    public void observed(String key, ReplicaStatus status) {
        Firing firing = null;
        synchronized (this) {
            for (int i = 0; i < ledger.getRunsCount(); i++) {
                EdgeCronJobRun r = ledger.getRuns(i);
                if (!runKey(r).equals(key) || r.getStopped() || finished(r.getReport())) {
                    continue;
                }
                CronJobRunReport before = r.getReport();
                CronJobRunReport.Builder report = before.toBuilder().setPhase(status.getPhase() == ReplicaStatus.Phase.UNKNOWN
                        || status.getPhase() == ReplicaStatus.Phase.PHASE_UNSPECIFIED ? ReplicaStatus.Phase.PENDING : status.getPhase())
                        .setRestarts(status.getRestartCount()).setExitCode(status.getLastExitCode()).setMessage(clip(status.getMessage()));
                Optional<Instant> started = status.getContainersList().stream().filter(ContainerStatus::hasStartedAt)
                        .map(c -> instant(c.getStartedAt())).min(Comparator.naturalOrder());
                if (!before.hasStartTime() && started.isPresent()) {
                    report.setStartTime(timestamp(started.get()));
                    firing = new Firing(before.getNamespace(), before.getCronJob(), instant(before.getScheduledTime()), started.get());
                }
                for (ContainerStatus c : status.getContainersList()) {
                    if (c.getState() == ContainerStatus.State.EXITED) {
                        report.setExitCode(c.getLastExitCode());
                    }
                }
                boolean stop = false;
                if (r.getPod().getTemplate().getRestartPolicy() == PodTemplate.RestartPolicy.ON_FAILURE
                        && status.getRestartCount() > r.getBackoffLimit() && !finished(report.build())) {
                    report.setPhase(ReplicaStatus.Phase.FAILED).setMessage("BackoffLimitExceeded: " + status.getRestartCount()
                            + " restarts, backoff_limit " + r.getBackoffLimit());
                    stop = true;
                }
                if (finished(report.build()) && !report.hasCompletionTime()) {
                    Optional<Instant> ended = status.getContainersList().stream().filter(ContainerStatus::hasFinishedAt)
                            .map(c -> instant(c.getFinishedAt())).max(Comparator.naturalOrder());
                    report.setCompletionTime(timestamp(ended.orElse(clock.instant())));
                    if (!report.hasStartTime()) {
                        report.setStartTime(report.getCompletionTime());
                    }
                }
                CronJobRunReport after = report.build();
                if (!after.equals(before) || stop) {
                    ledger.setRuns(i, r.toBuilder().setReport(after).setStopped(r.getStopped() || stop));
                    persist();
                    if (stop) {
                        rebuildPods();
                    }
                    reports.accept(after);
                    if (finished(after)) {
                        trigger(); // Forbid may start the next time now; history limits apply
                    }
                }
            }
        }
        if (firing != null) {
            Firing f = firing;
            firingListeners.forEach(l -> l.accept(f));
        }
    }

    private static String clip(String message) {
        return message.length() > MAX_MESSAGE ? message.substring(0, MAX_MESSAGE - 3) + "..." : message;
    }

    private static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder().setSeconds(instant.getEpochSecond()).setNanos(instant.getNano()).build();
    }

    private static Instant instant(Timestamp t) {
        return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
    }

    private EdgeCronJobLedger.Builder readLedger() {
        if (Files.exists(ledgerFile)) {
            try (InputStream in = Files.newInputStream(ledgerFile)) {
                return EdgeCronJobLedger.parseFrom(in).toBuilder();
            } catch (IOException e) {
                LOG.severe("cannot read " + ledgerFile + " (" + e.getMessage() + "): cron jobs start from an empty record");
            }
        }
        return EdgeCronJobLedger.newBuilder();
    }

    /** Writes the ledger durably: a crash leaves the old or the new one. */
    private void persist() {
        try {
            Files.createDirectories(ledgerFile.getParent());
            DurableFiles.writeAtomically(ledgerFile, ledger.build().toByteArray(), DurableFiles.OWNER_ONLY);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot write " + ledgerFile, e);
        }
    }

    @Override
    public void close() {
        running = false;
        trigger();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
