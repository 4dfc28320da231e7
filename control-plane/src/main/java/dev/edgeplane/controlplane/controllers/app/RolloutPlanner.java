package dev.edgeplane.controlplane.controllers.app;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.AppPools;
import dev.edgeplane.api.RolloutStrategies;
import dev.edgeplane.api.v1.AbortCriteria;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.RolloutStatus;
import dev.edgeplane.api.v1.RolloutStrategy;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.events.Occurrence;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;

/**
 * Decides, for ONE App, how far its current template may reach its replicas now (pure, no I/O):
 * which replicas of an older template may switch to it, which replica names exist (surge replicas
 * included), and the rollout's new status, events and timers. Kubernetes' Deployment rules for
 * ROLLING (max_surge rounded up, max_unavailable rounded down) and RECREATE; BATCHED releases the
 * App's nodes in growing batches. A replica counts as done only when it runs the new template and
 * has been ready for min_ready_seconds on a READY node.
 *
 * <p>An App with pools ({@link AppPools}) is sized and named per pool: ROLLING's limits count within
 * each pool (as OpenYurt's YurtAppSet, one Deployment per pool), BATCHED's nodes are the App's nodes.
 * With {@code pool_by_pool} only one pool moves at a time, in the order of AppSpec.pools, the next
 * once every replica of the one before is updated and finished (available, failed or timed out);
 * BATCHED then batches that pool's nodes. Replica names that no pool owns (the pools changed) go.
 */
public final class RolloutPlanner {
    /** Waiting reasons (ReplicaStatus.reason) that make a replica of the new template a failure. */
    static final Set<String> FAILURE_REASONS = Set.of("ErrImagePull", "ImagePullBackOff", "InvalidImageName",
            "CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "RunContainerError");
    private static final int MAX_FAILURES_LISTED = 10;
    /** The message PauseAppRollout leaves: a pause the operator asked for, kept by the next rollout too. */
    public static final String PAUSED_BY_API = "paused by PauseAppRollout";

    private RolloutPlanner() {}

    /**
     * One replica of the App as it is now.
     *
     * @param hash       the template hash its assignment carries
     * @param generation the App generation its assignment was written for
     * @param status     what its agent last reported, or null
     * @param nodeReady  its node is READY (not UNREACHABLE)
     */
    public record Replica(String name, String node, String hash, long generation, ReplicaStatus status, boolean nodeReady) {
        /** The agent reported on this assignment (not on the template before it). */
        boolean reported() {
            return status != null && status.getGeneration() >= generation && status.getNode().equals(node);
        }

        boolean ready() {
            return reported() && nodeReady && status.getPhase() == ReplicaStatus.Phase.RUNNING && status.getReady();
        }

        /** When it has been ready long enough to count as available (empty: not ready). */
        Optional<Instant> availableAt(int minReadySeconds) {
            if (!ready()) {
                return Optional.empty();
            }
            Instant since = status.hasReadyTransitionTime() ? toInstant(status.getReadyTransitionTime()) : Instant.EPOCH;
            return Optional.of(since.plusSeconds(minReadySeconds));
        }

        Optional<String> failure() {
            if (!reported()) {
                return Optional.empty();
            }
            if (status.getPhase() == ReplicaStatus.Phase.FAILED) {
                return Optional.of("Failed");
            }
            return FAILURE_REASONS.contains(status.getReason()) ? Optional.of(status.getReason()) : Optional.empty();
        }
    }

    /**
     * True when the rollout would see the two reports of one replica alike: it reads the node, the
     * generation, the phase, readiness (and since when) and the waiting reason, nothing else (not the
     * update time, containers, restart counts or messages). A status change that keeps these wakes no
     * rollout. Either may be null (no report).
     */
    public static boolean sameForRollout(ReplicaStatus a, ReplicaStatus b) {
        if (a == null || b == null) {
            return a == b;
        }
        return a.getGeneration() == b.getGeneration() && a.getNode().equals(b.getNode()) && a.getPhase() == b.getPhase()
                && a.getReady() == b.getReady() && a.getReadyTransitionTime().equals(b.getReadyTransitionTime())
                && a.getReason().equals(b.getReason());
    }

    /**
     * @param app            the App (its spec says the strategy)
     * @param targetHash     the hash of its current template
     * @param targetRevision the revision number of that template
     * @param rollingBack    that template is an earlier revision come back (RollbackApp)
     * @param replicas       its replicas now (one entry per replica name)
     * @param previous       the rollout as last written, or null
     */
    public record Inputs(App app, String targetHash, long targetRevision, boolean rollingBack, List<Replica> replicas,
                         RolloutStatus previous, Instant now, Optional<Prefetch> prefetch) {
        public Inputs(App app, String targetHash, long targetRevision, boolean rollingBack, List<Replica> replicas,
                      RolloutStatus previous, Instant now) {
            this(app, targetHash, targetRevision, rollingBack, replicas, previous, now, Optional.empty());
        }
    }

    /** The ImagePrefetch of this rollout's images (strategy.prefetch_images), as far as it got. */
    public record Prefetch(boolean finished, int nodesDone, int nodesTotal) {}

    /**
     * @param switchable replicas of an older template that may take the current one now
     * @param names      REPLICATED: the replica names there should be (surge ones included, removed ones
     *                   left out); empty for EVERY_NODE, whose names follow its nodes
     * @param status     the rollout's status to keep (written when it differs from the previous one)
     * @param rollbackTo the abort criteria tripped with action ROLLBACK: put this revision's template back
     * @param recheckAt  when a timer falls due (min_ready_seconds, a pause, the progress deadline)
     * @param prefetchWanted the rollout waits for its images to be pulled on the App's nodes, and no
     *                   ImagePrefetch for them exists yet: make one
     */
    public record Decision(Set<String> switchable, Optional<List<String>> names, RolloutStatus status, List<Occurrence> events,
                           OptionalLong rollbackTo, Optional<Instant> recheckAt, boolean prefetchWanted) {
        /** The rollout still has work to do (replica status changes matter to it). */
        public boolean active() {
            return status.getPhase() == RolloutStatus.Phase.PROGRESSING || status.getPhase() == RolloutStatus.Phase.ROLLING_BACK
                    || status.getPhase() == RolloutStatus.Phase.PAUSED;
        }
    }

    public static Decision decide(Inputs in) {
        return new Run(in).decide();
    }

    /** One decision's working state. */
    private static final class Run {
        final Inputs in;
        final AppSpec spec;
        final boolean everyNode;
        /** The replica groups the names are fitted to: the App, or one per pool (EVERY_NODE: one, all of them). */
        final List<AppPools.Group> groups;
        final boolean poolByPool;
        final int minReady;
        final List<Occurrence> events = new ArrayList<>();
        Instant recheck;
        /** When replicas still coming up time out (the progress deadline), if some are. */
        Instant deadlineAt;
        final RolloutStatus.Builder status;

        Run(Inputs in) {
            this.in = in;
            this.spec = in.app().getSpec();
            this.everyNode = spec.getMode() == AppSpec.Mode.EVERY_NODE;
            this.groups = everyNode ? List.of(new AppPools.Group("", in.app().getMetadata().getName(), in.replicas().size()))
                    : AppPools.groups(in.app());
            this.poolByPool = !everyNode && AppPools.has(spec) && spec.getStrategy().getPoolByPool();
            this.minReady = Math.max(0, spec.getMinReadySeconds());
            RolloutStatus previous = in.previous();
            if (previous == null || !previous.getTemplateHash().equals(in.targetHash())) {
                status = start(previous);
            } else {
                status = previous.toBuilder();
            }
            status.setRevision(in.targetRevision());
        }

        private RolloutStatus.Builder start(RolloutStatus previous) {
            Timestamp now = timestamp(in.now());
            Set<String> nodes = new TreeSet<>();
            in.replicas().forEach(r -> nodes.add(r.node()));
            RolloutStatus.Builder b = RolloutStatus.newBuilder()
                    .setTemplateHash(in.targetHash())
                    .setFromRevision(previous == null ? 0 : previous.getRevision())
                    .setPhase(in.rollingBack() ? RolloutStatus.Phase.ROLLING_BACK : RolloutStatus.Phase.PROGRESSING)
                    .setStartTime(now)
                    .setProgressTime(now)
                    .setNodesTotal(nodes.size());
            if (RolloutStrategies.type(spec) == RolloutStrategy.Type.BATCHED) {
                RolloutStrategies.Batches batches = RolloutStrategies.Batches.of(spec);
                b.setBatch(1).setBatchesTotal(batches.count(nodes.size())).setNodesReleased(batches.released(1, nodes.size()));
            }
            if (previous != null && previous.getPhase() == RolloutStatus.Phase.ROLLING_BACK && !previous.getAbortReason().isEmpty()) {
                // The abort criteria put the previous template back: this rollout is that rollback, ending ABORTED.
                b.setPhase(RolloutStatus.Phase.ROLLING_BACK).setAbortReason(previous.getAbortReason())
                        .setMessage("rolling back after " + previous.getAbortReason());
            }
            if (previous != null && previous.getPaused() && PAUSED_BY_API.equals(previous.getMessage())) {
                b.setPaused(true).setMessage(PAUSED_BY_API); // paused by the operator before this template came: it waits to be resumed
            }
            boolean update = in.replicas().stream().anyMatch(r -> !r.hash().equals(in.targetHash()));
            if (update) {
                event(EventLevel.INFO, in.rollingBack() ? "RollbackStarted" : "RolloutStarted",
                        (in.rollingBack() ? "rolling back to revision " : "rolling out revision ") + in.targetRevision()
                                + (previous == null ? "" : " (from revision " + previous.getRevision() + ")") + describeStrategy(b));
            }
            return b;
        }

        private String describeStrategy(RolloutStatus.Builder b) {
            RolloutStrategy.Type type = RolloutStrategies.type(spec);
            if (type == RolloutStrategy.Type.BATCHED) {
                return poolByPool ? ": batched, pool by pool" : ": batched, " + b.getBatchesTotal() + " batches over " + b.getNodesTotal() + " nodes";
            }
            if (type == RolloutStrategy.Type.RECREATE) {
                return ": recreate" + (poolByPool ? ", pool by pool" : "");
            }
            return ": rolling, max unavailable " + RolloutStrategies.maxUnavailableText(spec) + ", max surge "
                    + RolloutStrategies.maxSurgeText(spec) + (AppPools.has(spec) ? " (per pool)" : "")
                    + (poolByPool ? ", pool by pool" : "");
        }

        Decision decide() {
            List<Replica> fresh = new ArrayList<>();
            List<Replica> old = new ArrayList<>();
            for (Replica r : in.replicas()) {
                (r.hash().equals(in.targetHash()) ? fresh : old).add(r);
            }
            Counts counts = count(fresh);
            if (counts.succeeded() > status.getSucceeded()) {
                status.setProgressTime(timestamp(in.now()));
            }
            status.setSucceeded(counts.succeeded()).setFailed(counts.failed()).setTimedOut(counts.timedOut())
                    .clearFailures().addAllFailures(counts.failures());

            RolloutStatus.Phase phase = status.getPhase();
            boolean running = phase == RolloutStatus.Phase.PROGRESSING || phase == RolloutStatus.Phase.ROLLING_BACK
                    || phase == RolloutStatus.Phase.PAUSED;
            if (running && status.getPaused() && phase != RolloutStatus.Phase.PAUSED) {
                status.setPhase(RolloutStatus.Phase.PAUSED);
                event(EventLevel.INFO, "RolloutPaused", "paused at revision " + in.targetRevision()
                        + (status.getMessage().isEmpty() ? "" : ": " + status.getMessage()));
            } else if (phase == RolloutStatus.Phase.PAUSED && !status.getPaused()) {
                // The progress deadline runs afresh from a resume.
                status.setPhase(in.rollingBack() ? RolloutStatus.Phase.ROLLING_BACK : RolloutStatus.Phase.PROGRESSING).setMessage("")
                        .setProgressTime(timestamp(in.now()));
                event(EventLevel.INFO, "RolloutResumed", "resumed revision " + in.targetRevision());
            }
            OptionalLong rollbackTo = OptionalLong.empty();
            if (status.getPhase() == RolloutStatus.Phase.PROGRESSING) {
                rollbackTo = checkAbortCriteria(counts);
            }

            Set<String> switchable = new LinkedHashSet<>();
            Optional<List<String>> names;
            boolean advancing = rollbackTo.isEmpty() && (status.getPhase() == RolloutStatus.Phase.PROGRESSING
                    || status.getPhase() == RolloutStatus.Phase.ROLLING_BACK);
            boolean prefetchWanted = false;
            if (advancing && !old.isEmpty() && spec.getStrategy().getPrefetchImages() && !automaticRollback()
                    && in.prefetch().map(p -> !p.finished()).orElse(true)) {
                // Nothing switches until the new images are on the nodes; the deadline runs from when they are.
                prefetchWanted = in.prefetch().isEmpty();
                status.setProgressTime(timestamp(in.now())).setMessage(in.prefetch()
                        .map(p -> "pulling the new images: " + p.nodesDone() + "/" + p.nodesTotal() + " nodes done")
                        .orElse("pulling the new images"));
                names = steadyNames(groups, fresh, old);
            } else if (!advancing || old.isEmpty()) {
                names = steadyNames(groups, fresh, old);
            } else if (poolByPool && !automaticRollback()) {
                clearPrefetchMessage();
                names = poolByPool(fresh, old, switchable);
            } else {
                clearPrefetchMessage();
                // An automatic rollback puts the known-good template back everywhere at once (its images are on the nodes).
                RolloutStrategy.Type type = automaticRollback() ? RolloutStrategy.Type.RECREATE : RolloutStrategies.type(spec);
                names = release(type, groups, fresh, old, switchable);
            }
            complete(fresh, old, counts);
            if (deadlineAt != null && !old.isEmpty() && (status.getPhase() == RolloutStatus.Phase.PROGRESSING
                    || status.getPhase() == RolloutStatus.Phase.ROLLING_BACK)) {
                later(deadlineAt); // timing out is what moves a stuck rollout on; with nothing left to replace it only colours the status
            }
            return new Decision(switchable, names, status.build(), events, rollbackTo, Optional.ofNullable(recheck), prefetchWanted);
        }

        /** Releases the groups' old replicas by the strategy; the names there should be (EVERY_NODE: none). */
        private Optional<List<String>> release(RolloutStrategy.Type type, List<AppPools.Group> scope, List<Replica> fresh,
                                               List<Replica> old, Set<String> switchable) {
            switch (type) {
                case RECREATE -> {
                    for (AppPools.Group g : scope) {
                        members(g, old).forEach(r -> switchable.add(r.name()));
                    }
                    return steadyNames(scope, fresh, old);
                }
                case BATCHED -> {
                    batched(members(scope, fresh), members(scope, old), switchable);
                    return steadyNames(scope, fresh, old);
                }
                default -> {
                    if (everyNode) {
                        rolling(groups.get(0), fresh, old, switchable);
                        return Optional.empty();
                    }
                    List<String> names = new ArrayList<>();
                    for (AppPools.Group g : scope) {
                        names.addAll(rolling(g, members(g, fresh), members(g, old), switchable));
                    }
                    return Optional.of(names);
                }
            }
        }

        /**
         * pool_by_pool: the first pool not yet done is released by the strategy; the pools after it
         * keep their replicas as they are (scaled to their counts). Entering a pool starts its batches.
         */
        private Optional<List<String>> poolByPool(List<Replica> fresh, List<Replica> old, Set<String> switchable) {
            AppPools.Group current = null;
            int index = 0;
            for (AppPools.Group g : groups) {
                index++;
                if (!poolDone(g, fresh, old)) {
                    current = g;
                    break;
                }
            }
            if (current == null) {
                return steadyNames(groups, fresh, old); // every pool done (what is left is not owned by any pool: it goes)
            }
            if (!current.pool().equals(status.getPool())) {
                Set<String> nodes = new TreeSet<>();
                members(current, in.replicas()).forEach(r -> nodes.add(r.node()));
                status.setPool(current.pool()).setNodesTotal(nodes.size()).clearBatchCompleteTime();
                if (RolloutStrategies.type(spec) == RolloutStrategy.Type.BATCHED) {
                    RolloutStrategies.Batches batches = RolloutStrategies.Batches.of(spec);
                    status.setBatch(1).setBatchesTotal(batches.count(nodes.size())).setNodesReleased(batches.released(1, nodes.size()));
                }
                event(EventLevel.INFO, "PoolRolloutStarted", "pool " + current.pool() + " (" + index + " of " + groups.size()
                        + "): " + members(current, old).size() + " replicas to update on " + nodes.size() + " nodes");
            }
            List<String> names = new ArrayList<>();
            for (AppPools.Group g : groups) {
                if (g == current) {
                    names.addAll(release(RolloutStrategies.type(spec), List.of(g), fresh, old, switchable).orElseThrow());
                } else {
                    names.addAll(steadyNames(List.of(g), fresh, old).orElseThrow());
                }
            }
            return Optional.of(names);
        }

        /** Every replica of the pool runs the new template and is finished: available, failed or timed out. */
        private boolean poolDone(AppPools.Group g, List<Replica> fresh, List<Replica> old) {
            if (!members(g, old).isEmpty()) {
                return false;
            }
            List<Replica> mine = members(g, fresh);
            if (mine.size() < g.desired()) {
                return false;
            }
            for (Replica r : mine) {
                if (!available(r) && r.failure().isEmpty() && !timedOut()) {
                    return false;
                }
            }
            return true;
        }

        private List<Replica> members(AppPools.Group g, List<Replica> replicas) {
            return everyNode ? replicas : replicas.stream().filter(r -> g.owns(r.name())).toList();
        }

        private List<Replica> members(List<AppPools.Group> scope, List<Replica> replicas) {
            return everyNode || scope.size() == groups.size() ? replicas
                    : replicas.stream().filter(r -> scope.stream().anyMatch(g -> g.owns(r.name()))).toList();
        }

        private void clearPrefetchMessage() {
            if (status.getMessage().startsWith("pulling the new images")) {
                status.setMessage("");
            }
        }

        private boolean automaticRollback() {
            return status.getPhase() == RolloutStatus.Phase.ROLLING_BACK && !status.getAbortReason().isEmpty();
        }

        // ---- counting ----

        record Counts(int succeeded, int failed, int timedOut, int available, List<String> failures) {}

        private Counts count(List<Replica> fresh) {
            int succeeded = 0;
            int failed = 0;
            int timedOut = 0;
            List<String> failures = new ArrayList<>();
            Instant deadline = toInstant(status.getProgressTime()).plusSeconds(RolloutStrategies.progressDeadlineSeconds(spec));
            for (Replica r : sorted(fresh)) {
                if (available(r)) {
                    succeeded++;
                    continue;
                }
                Optional<String> failure = r.failure();
                if (failure.isPresent()) {
                    failed++;
                    if (failures.size() < MAX_FAILURES_LISTED) {
                        failures.add(r.name() + ": " + failure.get());
                    }
                } else if (!in.now().isBefore(deadline)) {
                    timedOut++;
                    if (failures.size() < MAX_FAILURES_LISTED) {
                        failures.add(r.name() + ": not available within " + RolloutStrategies.progressDeadlineSeconds(spec) + " s"
                                + (r.nodeReady() ? "" : " (node " + r.node() + " unreachable)"));
                    }
                } else {
                    deadlineAt = deadline;
                }
            }
            return new Counts(succeeded, failed, timedOut, succeeded, failures);
        }

        /** Ready for min_ready_seconds on a READY node; a replica ready but not yet long enough sets a timer. */
        private boolean available(Replica r) {
            Optional<Instant> at = r.availableAt(minReady);
            if (at.isEmpty()) {
                return false;
            }
            if (in.now().isBefore(at.get())) {
                later(at.get());
                return false;
            }
            return true;
        }

        private OptionalLong checkAbortCriteria(Counts counts) {
            Optional<AbortCriteria> criteria = RolloutStrategies.abortCriteria(spec);
            if (criteria.isEmpty()) {
                return OptionalLong.empty();
            }
            int bad = counts.failed() + counts.timedOut();
            int completed = counts.succeeded() + bad;
            AbortCriteria c = criteria.get();
            if (completed < RolloutStrategies.minCompleted(c) || (long) bad * 100 < (long) c.getFailureThresholdPercent() * completed) {
                return OptionalLong.empty();
            }
            String why = "abort criteria: " + bad + " of " + completed + " finished replicas failed or timed out (threshold "
                    + c.getFailureThresholdPercent() + "%)" + (status.getFailuresCount() > 0 ? ": " + status.getFailures(0) : "");
            if (RolloutStrategies.abortAction(c) == AbortCriteria.Action.ROLLBACK && status.getFromRevision() > 0
                    && status.getFromRevision() != in.targetRevision()) {
                status.setPhase(RolloutStatus.Phase.ROLLING_BACK).setAbortReason(why)
                        .setMessage("rolling back to revision " + status.getFromRevision() + ": " + why);
                event(EventLevel.WARNING, "RolloutAborted", "revision " + in.targetRevision() + ": " + why
                        + "; rolling back to revision " + status.getFromRevision());
                return OptionalLong.of(status.getFromRevision());
            }
            status.setPhase(RolloutStatus.Phase.PAUSED).setPaused(true).setMessage(why
                    + (RolloutStrategies.abortAction(c) == AbortCriteria.Action.ROLLBACK ? "; no earlier revision to roll back to" : ""));
            event(EventLevel.WARNING, "RolloutPaused", "revision " + in.targetRevision() + ": " + status.getMessage());
            return OptionalLong.empty();
        }

        // ---- strategies ----

        /**
         * Kubernetes' Deployment arithmetic, in place where it can: a new replica name (surge) while
         * the total is under desired + max_surge, then old replicas switch (or go, once enough are new)
         * while the available ones stay at or above desired - max_unavailable; unavailable old ones first.
         */
        private List<String> rolling(AppPools.Group group, List<Replica> fresh, List<Replica> old, Set<String> switchable) {
            int desired = group.desired();
            RolloutStrategies.Limits limits = RolloutStrategies.limits(spec, desired);
            int available = 0;
            for (Replica r : fresh) {
                if (available(r)) {
                    available++;
                }
            }
            for (Replica r : old) {
                if (available(r)) {
                    available++;
                }
            }
            List<String> names = new ArrayList<>();
            fresh.forEach(r -> names.add(r.name()));
            int freshCount = fresh.size();
            int total = fresh.size() + old.size();
            // Old replicas that are not available switch in place first: it costs no availability and no capacity.
            List<Replica> serving = new ArrayList<>();
            for (Replica r : sorted(old)) {
                if (available(r)) {
                    serving.add(r);
                } else if (freshCount < desired || everyNode) {
                    switchable.add(r.name());
                    names.add(r.name());
                    freshCount++;
                } else {
                    total--; // enough new ones: this one goes
                }
            }
            if (!everyNode) {
                Set<String> taken = new java.util.HashSet<>();
                in.replicas().forEach(r -> taken.add(r.name()));
                FreeNames free = new FreeNames(group, taken);
                while (freshCount < desired && total < desired + limits.maxSurge()) {
                    names.add(free.next());
                    freshCount++;
                    total++;
                }
            }
            int budget = available - (desired - limits.maxUnavailable());
            for (Replica r : serving) {
                if (budget <= 0) {
                    names.add(r.name()); // stays as it is for now
                    continue;
                }
                budget--;
                if (freshCount < desired || everyNode) {
                    switchable.add(r.name());
                    names.add(r.name());
                    freshCount++;
                }
                // else: enough new ones, this one goes
            }
            return sortedNames(names);
        }

        /** The replicas on the released nodes switch; the next batch starts once these are finished (and any pause is over). */
        private void batched(List<Replica> fresh, List<Replica> old, Set<String> switchable) {
            RolloutStrategies.Batches batches = RolloutStrategies.Batches.of(spec);
            int nodes = Math.max(status.getNodesTotal(), 1);
            Set<String> released = releasedNodes(fresh, old, status.getNodesReleased());
            boolean finished = true;
            for (Replica r : old) {
                if (released.contains(r.node())) {
                    switchable.add(r.name());
                    finished = false;
                }
            }
            for (Replica r : fresh) {
                if (!available(r) && r.failure().isEmpty() && !timedOut()) {
                    finished = false; // a batch waits for its new replicas to be available, to fail or to time out
                }
            }
            boolean more = old.stream().anyMatch(r -> !released.contains(r.node()));
            if (finished && more) {
                if (!status.hasBatchCompleteTime()) {
                    status.setBatchCompleteTime(timestamp(in.now()));
                    event(EventLevel.INFO, "BatchCompleted", "batch " + status.getBatch() + " of " + status.getBatchesTotal()
                            + " done: " + released.size() + " of " + nodes + " nodes released");
                    if (batches.manualPause()) {
                        status.setPaused(true).setPhase(RolloutStatus.Phase.PAUSED)
                                .setMessage("batch " + status.getBatch() + " of " + status.getBatchesTotal() + " done; resume to go on");
                        event(EventLevel.INFO, "RolloutPaused", status.getMessage());
                    }
                }
                Instant next = toInstant(status.getBatchCompleteTime()).plus(batches.pause().orElse(Duration.ZERO));
                if (status.getPhase() != RolloutStatus.Phase.PAUSED && in.now().isBefore(next)) {
                    later(next);
                    status.setMessage("batch " + status.getBatch() + " of " + status.getBatchesTotal() + " done; next batch at " + next);
                } else if (status.getPhase() != RolloutStatus.Phase.PAUSED) {
                    int batch = status.getBatch() + 1;
                    status.setBatch(batch).setNodesReleased(batches.released(batch, nodes)).clearBatchCompleteTime().setMessage("");
                    Set<String> more2 = releasedNodes(fresh, old, status.getNodesReleased());
                    for (Replica r : old) {
                        if (more2.contains(r.node())) {
                            switchable.add(r.name());
                        }
                    }
                    event(EventLevel.INFO, "BatchStarted", "batch " + batch + " of " + status.getBatchesTotal() + ": "
                            + (more2.size() - released.size()) + " more nodes (" + more2.size() + " of " + nodes + ")");
                }
            }
        }

        private boolean timedOut() {
            Instant deadline = toInstant(status.getProgressTime()).plusSeconds(RolloutStrategies.progressDeadlineSeconds(spec));
            return !in.now().isBefore(deadline);
        }

        /**
         * The nodes whose old replicas may switch: those already part way through first, then the
         * others in name order, up to the released count less the nodes already done (only new
         * replicas). Nothing but the count is stored, so the choice survives a restart.
         */
        private Set<String> releasedNodes(List<Replica> fresh, List<Replica> old, int count) {
            Set<String> oldNodes = new TreeSet<>();
            old.forEach(r -> oldNodes.add(r.node()));
            Set<String> done = new TreeSet<>();
            Set<String> released = new TreeSet<>();
            for (Replica r : fresh) {
                (oldNodes.contains(r.node()) ? released : done).add(r.node());
            }
            int slots = count - done.size();
            for (String node : oldNodes) {
                if (released.size() >= slots) {
                    break;
                }
                released.add(node);
            }
            return released;
        }

        /** The rollout is done when no old replica is left and every new one is finished. */
        private void complete(List<Replica> fresh, List<Replica> old, Counts counts) {
            RolloutStatus.Phase phase = status.getPhase();
            if (phase != RolloutStatus.Phase.PROGRESSING && phase != RolloutStatus.Phase.ROLLING_BACK) {
                return;
            }
            int desired = 0;
            for (AppPools.Group g : groups) {
                desired += g.desired();
            }
            if (!old.isEmpty() || fresh.size() != desired || counts.succeeded() + counts.failed() + counts.timedOut() < desired) {
                return; // some replica still has to switch or to finish (be available, fail or time out)
            }
            status.setCompletionTime(timestamp(in.now())).setPaused(false).clearBatchCompleteTime().clearPool();
            int bad = counts.failed() + counts.timedOut();
            if (!status.getAbortReason().isEmpty()) {
                status.setPhase(RolloutStatus.Phase.ABORTED).setMessage("rolled back to revision " + in.targetRevision()
                        + " after " + status.getAbortReason());
                event(EventLevel.WARNING, "RollbackCompleted", status.getMessage());
            } else {
                status.setPhase(RolloutStatus.Phase.COMPLETE).setMessage(bad == 0 ? "" : bad + " of " + desired + " replicas not available");
                event(bad == 0 ? EventLevel.INFO : EventLevel.WARNING, phase == RolloutStatus.Phase.ROLLING_BACK
                        ? "RollbackCompleted" : "RolloutCompleted", "revision " + in.targetRevision() + ": " + counts.succeeded()
                        + " of " + desired + " replicas available");
            }
        }

        // ---- names ----

        /**
         * Each group keeps the names it has, fitted to its desired count (REPLICATED; EVERY_NODE's
         * names follow its nodes: empty). Names no group owns are left out: they go.
         */
        private Optional<List<String>> steadyNames(List<AppPools.Group> scope, List<Replica> fresh, List<Replica> old) {
            if (everyNode) {
                return Optional.empty();
            }
            List<String> names = new ArrayList<>();
            for (AppPools.Group g : scope) {
                List<String> own = new ArrayList<>();
                in.replicas().forEach(r -> {
                    if (g.owns(r.name())) {
                        own.add(r.name());
                    }
                });
                names.addAll(fitTo(g, own, old));
            }
            return Optional.of(names);
        }

        /** Trims to the group's count (old replicas first, then the highest ordinals) or adds the lowest free names. */
        private List<String> fitTo(AppPools.Group group, List<String> names, List<Replica> old) {
            int desired = group.desired();
            List<String> kept = new ArrayList<>(sortedNames(names));
            if (kept.size() > desired) {
                Set<String> oldNames = new TreeSet<>();
                old.forEach(r -> oldNames.add(r.name()));
                kept.sort(Comparator.comparing((String n) -> oldNames.contains(n)).thenComparing(RolloutPlanner::ordinal));
                kept = new ArrayList<>(kept.subList(0, desired));
            }
            FreeNames free = new FreeNames(group, new java.util.HashSet<>(names));
            while (kept.size() < desired) {
                kept.add(free.next());
            }
            return sortedNames(kept);
        }

        private void later(Instant at) {
            if (recheck == null || at.isBefore(recheck)) {
                recheck = at;
            }
        }

        private void event(EventLevel level, String reason, String message) {
            events.add(Occurrence.of(level, EventRecorder.app(in.app().getMetadata().getNamespace(), in.app().getMetadata().getName()),
                    reason, message, "", EventRecorder.SOURCE, in.now()));
        }
    }

    /** The lowest free names of a group, in order; the search goes on from the last one given. */
    private static final class FreeNames {
        private final AppPools.Group group;
        private final Set<String> taken;
        private long next;

        FreeNames(AppPools.Group group, Set<String> taken) {
            this.group = group;
            this.taken = taken;
        }

        String next() {
            while (true) {
                String name = group.name(next++);
                if (taken.add(name)) {
                    return name;
                }
            }
        }
    }

    private static List<Replica> sorted(List<Replica> replicas) {
        List<Replica> copy = new ArrayList<>(replicas);
        copy.sort(Comparator.comparing(r -> ordinal(r.name())));
        return copy;
    }

    private static List<String> sortedNames(List<String> names) {
        List<String> copy = new ArrayList<>(new LinkedHashSet<>(names));
        copy.sort(Comparator.comparing(RolloutPlanner::ordinal).thenComparing(Comparator.naturalOrder()));
        return copy;
    }

    /** "web-12" -> 12; names without an ordinal sort last. */
    static long ordinal(String name) {
        int dash = name.lastIndexOf('-');
        int digits = name.length() - dash - 1;
        if (dash < 0 || digits < 1 || digits > 18) {
            return Long.MAX_VALUE;
        }
        long value = 0;
        for (int i = dash + 1; i < name.length(); i++) { // no exceptions: EVERY_NODE names ("<app>-<node>") mostly have none
            char c = name.charAt(i);
            if (c < '0' || c > '9') {
                return Long.MAX_VALUE;
            }
            value = value * 10 + (c - '0');
        }
        return value;
    }

    static Timestamp timestamp(Instant at) {
        return Timestamp.newBuilder().setSeconds(at.getEpochSecond()).setNanos(at.getNano()).build();
    }

    static Instant toInstant(Timestamp t) {
        return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
    }
}
