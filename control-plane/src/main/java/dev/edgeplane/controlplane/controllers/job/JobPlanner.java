package dev.edgeplane.controlplane.controllers.job;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.JobPods;
import dev.edgeplane.api.TemplateHashes;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.JobCondition;
import dev.edgeplane.api.v1.JobPod;
import dev.edgeplane.api.v1.JobSpec;
import dev.edgeplane.api.v1.JobStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.scheduler.NodeIndex;
import dev.edgeplane.controlplane.scheduler.Placement;
import dev.edgeplane.controlplane.scheduler.PodRequests;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.Write;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

/**
 * What one reconcile of one Job does, decided from the Job, its pods' assignments and their reported
 * statuses: pure (the controller gathers the inputs and commits the plan). The plan is ONE etcd
 * transaction guarded on the Job's mod_revision and on every assignment it touches, so a pod's end is
 * counted exactly once: counting sets {@code Assignment.job_pod_counted} in the same transaction that
 * raises {@code status.succeeded} or {@code status.failed}; a pod already marked is never counted again,
 * and a pod given up (its assignment deleted) has no assignment left to be counted by.
 */
public final class JobPlanner {
    /** Kubernetes' defaults. */
    public static final int DEFAULT_BACKOFF_LIMIT = 6;
    /** JobStatus.pods holds at most this many; a counted pod falling out of it is removed from its node. */
    public static final int MAX_SHOWN_PODS = 100;
    public static final String COMPLETE = "Complete";
    public static final String FAILED = "Failed";
    public static final String SUSPENDED = "Suspended";
    /** Kubernetes' generated-name alphabet: no vowels, no 0/1/3 (no words, no look-alikes). */
    static final String SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

    private JobPlanner() {}

    /** A pod of the Job: its assignment and the status its node reported, if any (only a status from that node). */
    public record Pod(Entry<Assignment> assignment, ReplicaStatus status) {
        String name() {
            return assignment.value().getReplica();
        }

        String node() {
            return assignment.value().getNode();
        }

        boolean ended() {
            return status != null && (status.getPhase() == ReplicaStatus.Phase.SUCCEEDED || status.getPhase() == ReplicaStatus.Phase.FAILED);
        }
    }

    /**
     * @param job            the Job, null when it is gone (its pods and templates are removed)
     * @param namespace      the Job's namespace and name (also when it is gone)
     * @param storedTemplates hashes of the Job's templates already in etcd
     * @param configs        the ConfigMaps and Secrets its template uses at the versions seen now
     * @param ownLoad        node -> this Job's pods the node index counts there (the rest of its count is others')
     * @param suffixes       random pod-name suffixes (tests give fixed ones)
     */
    public record Inputs(Entry<Job> job, String namespace, String name, List<Pod> pods, Set<String> storedTemplates,
                         List<ConfigRef> configs, NodeIndex nodes, Map<String, Integer> ownLoad, Instant now, Settings settings,
                         Supplier<String> suffixes) {}

    public record Settings(Duration backoffBase, Duration backoffMax, int maxPodChanges) {
        public static final Settings DEFAULTS = new Settings(Duration.ofSeconds(10), Duration.ofMinutes(6), 50);
    }

    /** The plan's guard on a key: its mod_revision now (0: the key does not exist). */
    public record Guard(String key, long modRevision) {}

    public record Event(EventLevel level, String reason, String message, String node) {}

    /**
     * @param writes       the Job (when its status changed) and the assignments and templates to write or delete
     * @param guards       the Job's and each touched assignment's mod_revision
     * @param deleteJob    its ttl_seconds_after_finished ran out: the Job key goes (guarded); its pods go next
     * @param recheckAfter when something falls due (back-off, deadline, ttl, a node's toleration), if ever
     * @param more         the change budget ran out: reconcile again at once
     * @param pending      some pod it wants has no node now: node changes and freed capacity wake it
     */
    public record Plan(List<Write> writes, List<Guard> guards, List<Event> events, boolean deleteJob,
                       Optional<Duration> recheckAfter, boolean more, boolean pending, Optional<String> unschedulable) {}

    // ---- the Job's spec with Kubernetes' defaults ----

    public static int parallelism(JobSpec spec) {
        return spec.hasParallelism() ? spec.getParallelism() : 1;
    }

    public static int completions(JobSpec spec) {
        return spec.hasCompletions() ? spec.getCompletions() : 1;
    }

    public static int backoffLimit(JobSpec spec) {
        return spec.hasBackoffLimit() ? spec.getBackoffLimit() : DEFAULT_BACKOFF_LIMIT;
    }

    public static Optional<JobCondition> condition(JobStatus status, String type) {
        return status.getConditionsList().stream().filter(c -> c.getType().equals(type)).findFirst();
    }

    /** Complete or Failed (true). */
    public static boolean finished(JobStatus status) {
        return condition(status, COMPLETE).map(JobCondition::getStatus).orElse(false)
                || condition(status, FAILED).map(JobCondition::getStatus).orElse(false);
    }

    /** When it became Complete or Failed. */
    static Optional<Instant> finishedAt(JobStatus status) {
        if (status.hasCompletionTime()) {
            return Optional.of(Joiner.toInstant(status.getCompletionTime()));
        }
        return condition(status, FAILED).filter(JobCondition::getStatus).map(c -> Joiner.toInstant(c.getLastTransitionTime()));
    }

    /** Kubernetes' pod failure back-off: base, doubled per failure after the first, at most max. */
    static Duration backoff(int failures, Settings settings) {
        if (failures <= 0) {
            return Duration.ZERO;
        }
        Duration d = settings.backoffBase();
        for (int i = 1; i < failures && d.compareTo(settings.backoffMax()) < 0; i++) {
            d = d.multipliedBy(2);
        }
        return d.compareTo(settings.backoffMax()) > 0 ? settings.backoffMax() : d;
    }

    /** A pod-name suffix of 5 characters of {@link #SUFFIX_ALPHABET} with at least one letter, from {@code random}. */
    public static String suffix(java.util.random.RandomGenerator random) {
        while (true) {
            StringBuilder s = new StringBuilder(5);
            boolean letter = false;
            for (int i = 0; i < 5; i++) {
                char c = SUFFIX_ALPHABET.charAt(random.nextInt(SUFFIX_ALPHABET.length()));
                letter |= Character.isLetter(c);
                s.append(c);
            }
            if (letter) {
                return s.toString();
            }
        }
    }

    /** How placement sees the Job's pods: a REPLICATED App with the Job's selector, tolerations and template. */
    static App asApp(Job job) {
        JobSpec spec = job.getSpec();
        AppSpec.Builder app = AppSpec.newBuilder().setMode(AppSpec.Mode.REPLICATED).putAllNodeSelector(spec.getNodeSelectorMap())
                .addAllTolerations(spec.getTolerationsList()).setTemplate(spec.getTemplate());
        if (spec.hasRescheduleAfterUnreachable()) {
            app.setRescheduleAfterUnreachable(spec.getRescheduleAfterUnreachable());
        }
        return App.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace(job.getMetadata().getNamespace())
                .setName(JobPods.appOf(job.getMetadata().getName()))).setSpec(app).build();
    }

    public static Plan plan(Inputs in) {
        if (in.job() == null) {
            return planGone(in);
        }
        Job job = in.job().value();
        JobSpec spec = job.getSpec();
        String jobKey = Keys.job(in.namespace(), in.name());
        Instant now = in.now();
        Timestamp nowTs = Joiner.timestamp(now);
        JobStatus.Builder status = job.getStatus().toBuilder();
        List<Write> writes = new ArrayList<>();
        List<Guard> guards = new ArrayList<>();
        guards.add(new Guard(jobKey, in.job().modRevision()));
        List<Event> events = new ArrayList<>();
        int budget = in.settings().maxPodChanges();
        Map<String, JobPod> shown = new LinkedHashMap<>();
        status.getPodsList().forEach(p -> shown.put(p.getName(), p));

        List<Pod> pods = new ArrayList<>(in.pods());
        pods.sort(Comparator.comparingLong((Pod p) -> p.assignment().createRevision()).thenComparing(Pod::name));
        Map<String, Pod> byName = new HashMap<>();
        pods.forEach(p -> byName.put(p.name(), p));

        // 1. Count each ended pod once: the mark on its assignment and the count in the status, one transaction.
        int succeeded = status.getSucceeded();
        int failed = status.getFailed();
        Instant lastFailure = null;
        for (JobPod p : shown.values()) {
            if (p.getPhase() == ReplicaStatus.Phase.FAILED && p.hasFinishTime()) {
                Instant t = Joiner.toInstant(p.getFinishTime());
                lastFailure = lastFailure == null || t.isAfter(lastFailure) ? t : lastFailure;
            }
        }
        List<Pod> active = new ArrayList<>();
        for (Pod pod : pods) {
            Assignment a = pod.assignment().value();
            if (a.getJobPodCounted()) {
                continue;
            }
            if (pod.ended() && budget > 0) {
                budget--;
                boolean ok = pod.status().getPhase() == ReplicaStatus.Phase.SUCCEEDED;
                if (ok) {
                    succeeded++;
                } else {
                    failed++;
                }
                writes.add(Write.put(pod.assignment().key(), a.toBuilder().setJobPodCounted(true).build().toByteArray()));
                guards.add(new Guard(pod.assignment().key(), pod.assignment().modRevision()));
                Timestamp finish = pod.status().hasUpdateTime() ? pod.status().getUpdateTime() : nowTs;
                shown.put(pod.name(), shownPod(shown.get(pod.name()), pod, nowTs).setFinishTime(finish).build());
                if (!ok) {
                    Instant t = Joiner.toInstant(finish);
                    lastFailure = lastFailure == null || t.isAfter(lastFailure) ? t : lastFailure;
                }
            } else {
                active.add(pod);
            }
        }
        boolean more = active.stream().anyMatch(Pod::ended); // ended pods past the budget: counted in the next round

        // 2. Pods whose node may no longer hold them (reschedule_after_unreachable ran out, node gone): given up, not counted.
        App asApp = asApp(job);
        Optional<Instant> recheck = Optional.empty();
        boolean done = finished(job.getStatus());
        if (!done && !active.isEmpty()) {
            Map<String, String> current = new HashMap<>();
            active.forEach(p -> current.put(p.name(), p.node()));
            Placement.Result kept = Placement.place(asApp, in.nodes(), current, in.ownLoad(), now, Optional.empty(), 0,
                    active.stream().map(Pod::name).toList());
            recheck = kept.recheckAt();
            List<Pod> still = new ArrayList<>();
            for (Pod pod : active) {
                if (kept.desired().containsKey(pod.name()) || budget <= 0) {
                    still.add(pod);
                    continue;
                }
                budget--;
                remove(pod, writes, guards);
                shown.put(pod.name(), shownPod(shown.get(pod.name()), pod, nowTs).setPhase(ReplicaStatus.Phase.UNKNOWN)
                        .setMessage("given up: node " + pod.node() + " may no longer hold it (not counted; replaced)")
                        .setFinishTime(nowTs).build());
                events.add(new Event(EventLevel.WARNING, "PodGivenUp", "Gave up pod " + pod.name() + " on node " + pod.node()
                        + ": it may no longer run there; a replacement is started", pod.node()));
            }
            active = still;
        }
        int restarts = 0;
        if (spec.getTemplate().getRestartPolicy() == PodTemplate.RestartPolicy.ON_FAILURE) {
            for (Pod p : active) {
                restarts += p.status() == null ? 0 : p.status().getRestartCount();
            }
        }

        // 3. Terminal states.
        int completions = completions(spec);
        int backoffLimit = backoffLimit(spec);
        boolean deleteJob = false;
        Optional<String> stopReason = Optional.empty();
        if (!done) {
            Instant start = status.hasStartTime() ? Joiner.toInstant(status.getStartTime()) : null;
            if (succeeded >= completions) {
                status.setCompletionTime(nowTs);
                setCondition(status, COMPLETE, true, "", "", nowTs);
                events.add(new Event(EventLevel.INFO, "Completed", "Job completed", ""));
                done = true;
                stopReason = Optional.of("the Job completed");
            } else if (failed + restarts > backoffLimit) {
                setCondition(status, FAILED, true, "BackoffLimitExceeded", "Job has reached the specified backoff limit", nowTs);
                events.add(new Event(EventLevel.WARNING, "BackoffLimitExceeded", "Job has reached the specified backoff limit", ""));
                done = true;
                stopReason = Optional.of("the Job failed");
            } else if (spec.hasActiveDeadlineSeconds() && start != null
                    && !now.isBefore(start.plusSeconds(spec.getActiveDeadlineSeconds()))) {
                setCondition(status, FAILED, true, "DeadlineExceeded", "Job was active longer than specified deadline", nowTs);
                events.add(new Event(EventLevel.WARNING, "DeadlineExceeded", "Job was active longer than specified deadline", ""));
                done = true;
                stopReason = Optional.of("the Job's deadline passed");
            }
        }
        boolean suspended = spec.getSuspend() || parallelism(spec) == 0;
        boolean pending = false;
        Optional<String> unschedulable = Optional.empty();
        if (done || suspended) {
            // Kubernetes deletes a finished or suspended Job's active pods.
            String why = stopReason.orElse("the Job is suspended");
            for (Pod pod : active) {
                if (budget-- <= 0) {
                    more = true;
                    break;
                }
                remove(pod, writes, guards);
                shown.remove(pod.name());
            }
            active = List.of();
            if (!done && !condition(status.build(), SUSPENDED).map(JobCondition::getStatus).orElse(false)) {
                setCondition(status, SUSPENDED, true, "JobSuspended", "Job suspended", nowTs);
                events.add(new Event(EventLevel.INFO, "Suspended", "Job suspended (" + why + ")", ""));
            }
            if (done) {
                Optional<Instant> finishedAt = finishedAt(status.build());
                if (spec.hasTtlSecondsAfterFinished() && finishedAt.isPresent()) {
                    Instant due = finishedAt.get().plusSeconds(spec.getTtlSecondsAfterFinished());
                    if (!now.isBefore(due)) {
                        deleteJob = true;
                    } else {
                        recheck = Optional.of(due);
                    }
                } else {
                    recheck = Optional.empty();
                }
            }
        } else {
            if (condition(status.build(), SUSPENDED).map(JobCondition::getStatus).orElse(false)) {
                setCondition(status, SUSPENDED, false, "JobResumed", "Job resumed", nowTs);
                events.add(new Event(EventLevel.INFO, "Resumed", "Job resumed", ""));
                status.setStartTime(nowTs); // Kubernetes: the deadline counts from the resume
            }
            if (!status.hasStartTime()) {
                status.setStartTime(nowTs);
            }
            if (spec.hasActiveDeadlineSeconds()) {
                Instant due = Joiner.toInstant(status.getStartTime()).plusSeconds(spec.getActiveDeadlineSeconds());
                recheck = earliest(recheck, due);
            }
            int wantActive = Math.min(parallelism(spec), completions - succeeded);
            // Fewer wanted than run (parallelism lowered): the newest go.
            while (active.size() > wantActive && budget > 0) {
                budget--;
                Pod newest = active.remove(active.size() - 1);
                remove(newest, writes, guards);
                shown.remove(newest.name());
            }
            int want = wantActive - active.size();
            if (want > 0 && failed > 0 && lastFailure != null) {
                Instant next = lastFailure.plus(backoff(failed, in.settings()));
                if (now.isBefore(next)) {
                    recheck = earliest(recheck, next);
                    want = 0;
                }
            }
            if (want > budget) {
                more = true;
                want = Math.max(0, budget);
            }
            if (want > 0) {
                Set<String> taken = new HashSet<>(byName.keySet());
                taken.addAll(shown.keySet());
                List<String> names = new ArrayList<>();
                active.forEach(p -> names.add(p.name()));
                List<String> fresh = new ArrayList<>();
                while (fresh.size() < want) {
                    String candidate = in.name() + "-" + in.suffixes().get();
                    if (taken.add(candidate)) {
                        fresh.add(candidate);
                    }
                }
                names.addAll(fresh);
                Map<String, String> current = new HashMap<>();
                active.forEach(p -> current.put(p.name(), p.node()));
                Placement.Result placed = Placement.place(asApp, in.nodes(), current, in.ownLoad(), now, Optional.empty(), want, names);
                String hash = TemplateHashes.of(spec.getTemplate());
                String app = JobPods.appOf(in.name());
                PodRequests requests = PodRequests.of(spec.getTemplate());
                boolean anyPlaced = false;
                for (String name : fresh) {
                    String node = placed.desired().get(name);
                    if (node == null) {
                        pending = true;
                        continue;
                    }
                    anyPlaced = true;
                    Assignment a = Assignment.newBuilder().setNode(node).setNamespace(in.namespace()).setApp(app).setReplica(name)
                            .setTemplateHash(hash).setGeneration(job.getMetadata().getGeneration())
                            .putAllAppLabels(job.getMetadata().getLabelsMap()).putAppLabels("edgeplane.dev/job", in.name())
                            .setRequests(requests.resources()).addAllHostPorts(requests.hostPorts()).addAllConfigs(in.configs())
                            .build();
                    String key = Keys.assignment(node, in.namespace(), name);
                    writes.add(Write.put(key, a.toByteArray()));
                    guards.add(new Guard(key, 0));
                    shown.put(name, JobPod.newBuilder().setName(name).setNode(node).setPhase(ReplicaStatus.Phase.PENDING)
                            .setStartTime(nowTs).build());
                    events.add(new Event(EventLevel.INFO, "SuccessfulCreate", "Created pod: " + name, node));
                    active.add(new Pod(new Entry<>(key, a, 0, 0), null));
                }
                budget -= fresh.size();
                if (anyPlaced && !in.storedTemplates().contains(hash)) {
                    writes.add(0, Write.put(Keys.template(in.namespace(), app, hash), spec.getTemplate().toByteArray()));
                }
                if (pending) {
                    unschedulable = placed.unschedulable();
                }
            }
        }

        // 4. The status: counts, the pods shown (active ones as reported), at most MAX_SHOWN_PODS.
        for (Pod pod : active) {
            JobPod.Builder p = shownPod(shown.get(pod.name()), pod, nowTs);
            shown.put(pod.name(), p.build());
        }
        Set<String> activeNames = new HashSet<>();
        active.forEach(p -> activeNames.add(p.name()));
        List<JobPod> list = new ArrayList<>(shown.values());
        int excess = list.size() - MAX_SHOWN_PODS;
        for (java.util.Iterator<JobPod> it = list.iterator(); it.hasNext() && excess > 0; ) {
            JobPod p = it.next();
            if (activeNames.contains(p.getName())) {
                continue;
            }
            Pod pod = byName.get(p.getName());
            if (pod != null && pod.assignment().value().getJobPodCounted()) {
                if (budget-- <= 0) {
                    more = true;
                    break;
                }
                remove(pod, writes, guards); // a counted pod out of sight: its node lets it go
            }
            it.remove();
            excess--;
        }
        status.clearPods().addAllPods(list).setSucceeded(succeeded).setFailed(failed).setActive(active.size())
                .setObservedGeneration(job.getMetadata().getGeneration());
        JobStatus next = status.build();
        if (!next.equals(job.getStatus())) {
            Job updated = job.toBuilder().setMetadata(job.getMetadata().toBuilder().setResourceVersion(0)).setStatus(next).build();
            writes.add(Write.put(jobKey, updated.toByteArray()));
        }
        Optional<Duration> after = recheck.map(t -> Duration.between(now, t)).map(d -> d.isNegative() ? Duration.ZERO : d);
        if (deleteJob) {
            writes.clear();
            guards.clear();
            guards.add(new Guard(jobKey, in.job().modRevision()));
            writes.add(Write.delete(jobKey));
            after = Optional.empty();
            events.clear();
        }
        return new Plan(writes, guards, events, deleteJob, after, more, pending, unschedulable);
    }

    /** The Job is gone: its pods leave their nodes, then its templates go. */
    private static Plan planGone(Inputs in) {
        List<Write> writes = new ArrayList<>();
        List<Guard> guards = new ArrayList<>();
        int budget = in.settings().maxPodChanges();
        boolean more = false;
        for (Pod pod : in.pods()) {
            if (budget-- <= 0) {
                more = true;
                break;
            }
            remove(pod, writes, guards);
        }
        if (!more) {
            for (String hash : in.storedTemplates()) {
                writes.add(Write.delete(Keys.template(in.namespace(), JobPods.appOf(in.name()), hash)));
            }
        }
        return new Plan(writes, guards, List.of(), false, Optional.empty(), more, false, Optional.empty());
    }

    private static void remove(Pod pod, List<Write> writes, List<Guard> guards) {
        writes.add(Write.delete(pod.assignment().key()));
        guards.add(new Guard(pod.assignment().key(), pod.assignment().modRevision()));
    }

    private static JobPod.Builder shownPod(JobPod before, Pod pod, Timestamp now) {
        JobPod.Builder p = before == null ? JobPod.newBuilder().setName(pod.name()).setStartTime(now) : before.toBuilder();
        p.setNode(pod.node());
        if (pod.status() != null) {
            p.setPhase(pod.status().getPhase()).setExitCode(pod.status().getLastExitCode()).setMessage(pod.status().getMessage());
        }
        return p;
    }

    private static Optional<Instant> earliest(Optional<Instant> a, Instant b) {
        return a.isPresent() && a.get().isBefore(b) ? a : Optional.of(b);
    }

    private static void setCondition(JobStatus.Builder status, String type, boolean value, String reason, String message, Timestamp now) {
        for (int i = 0; i < status.getConditionsCount(); i++) {
            JobCondition c = status.getConditions(i);
            if (c.getType().equals(type)) {
                if (c.getStatus() != value || !c.getReason().equals(reason)) {
                    status.setConditions(i, c.toBuilder().setStatus(value).setReason(reason).setMessage(message).setLastTransitionTime(now));
                }
                return;
            }
        }
        status.addConditions(JobCondition.newBuilder().setType(type).setStatus(value).setReason(reason).setMessage(message)
                .setLastTransitionTime(now));
    }
}
