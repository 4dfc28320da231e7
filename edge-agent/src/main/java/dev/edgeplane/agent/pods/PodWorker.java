package dev.edgeplane.agent.pods;

import com.google.protobuf.Timestamp;
import dev.edgeplane.agent.events.EventRecorder;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.agent.volumes.PodVolumes;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Container.PullPolicy;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.cri.v1.Container;
import dev.edgeplane.cri.v1.ContainerState;
import dev.edgeplane.cri.v1.ContainerStatus;
import dev.edgeplane.cri.v1.PodSandbox;
import dev.edgeplane.cri.v1.PodSandboxConfig;
import dev.edgeplane.cri.v1.PodSandboxState;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * Makes one replica's pod match its assignment, like the kubelet's SyncPod: replace pods of another
 * template, (re)create the sandbox, pull images per policy, create and start missing containers,
 * restart exited ones per restart policy with back-off, and report what it sees. Idempotent: every
 * call starts from a fresh listing of this replica's sandboxes and containers.
 */
final class PodWorker {
    private static final Logger LOG = Logger.getLogger(PodWorker.class.getName());
    private static final long DEFAULT_GRACE_SECONDS = 10;

    private final CriRuntime cri;
    private final ReconcilerSettings settings;
    private final RestartBackoff backoff;
    private final Clock clock;
    private final PodVolumes volumes;
    private final EventRecorder events;
    // Containers whose exit has been recorded as an event (each exit once, not on every pass).
    private final java.util.Set<String> exitsRecorded = Collections.newSetFromMap(Collections.synchronizedMap(
            new LinkedHashMap<>(256, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                    return size() > 2048;
                }
            }));
    // Exited containers never change: cache their status instead of asking on every pass.
    private final Map<String, ContainerStatus> exitedCache = Collections.synchronizedMap(new LinkedHashMap<>(256, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, ContainerStatus> eldest) {
            return size() > 2048;
        }
    });

    // Sandboxes this process has created or already adopted: any other running one is adopted (logged once).
    private final java.util.Set<String> knownSandboxes = java.util.concurrent.ConcurrentHashMap.newKeySet();

    PodWorker(CriRuntime cri, ReconcilerSettings settings, Clock clock, PodVolumes volumes, EventRecorder events) {
        this.cri = cri;
        this.events = events;
        this.volumes = volumes;
        this.settings = settings;
        this.clock = clock;
        this.backoff = new RestartBackoff(settings.initialBackoff(), settings.maxBackoff());
    }

    /** What one container of the template looks like right now. */
    private record Observed(dev.edgeplane.api.v1.ContainerStatus status, boolean running, boolean terminal,
                            boolean waiting, int exitCode, Instant finishedAt, String problem) {}

    ReplicaStatus sync(String key, Assignment assignment) {
        String hash = TemplateHash.of(assignment.getTemplate());
        ReplicaStatus.Builder status = ReplicaStatus.newBuilder()
                .setName(assignment.getReplica())
                .setNamespace(assignment.getNamespace())
                .setApp(assignment.getApp())
                .setNode(settings.nodeName())
                .setGeneration(assignment.getGeneration());
        try {
            return syncPod(key, assignment, hash, status);
        } catch (StatusRuntimeException e) {
            LOG.warning(key + ": container runtime call failed: " + e.getStatus());
            return status.setPhase(ReplicaStatus.Phase.PENDING)
                    .setMessage("container runtime: " + e.getStatus().getCode() + " " + nullToEmpty(e.getStatus().getDescription()))
                    .build();
        }
    }

    private ReplicaStatus syncPod(String key, Assignment assignment, String hash, ReplicaStatus.Builder status) {
        List<PodSandbox> sandboxes = new ArrayList<>(cri.listSandboxes(PodLabels.replica(assignment.getNamespace(), assignment.getReplica())));
        List<Container> containers = cri.listContainers(PodLabels.replica(assignment.getNamespace(), assignment.getReplica()));
        Map<String, Integer> nextAttempt = new HashMap<>();
        for (Container container : containers) {
            nextAttempt.merge(container.getMetadata().getName(), container.getMetadata().getAttempt() + 1, Math::max);
        }
        int sandboxAttempt = sandboxes.stream().mapToInt(s -> s.getMetadata().getAttempt() + 1).max().orElse(0);

        // 1. Pods from another template are replaced: kill them first.
        boolean replaced = false;
        for (PodSandbox sandbox : List.copyOf(sandboxes)) {
            if (!hash.equals(sandbox.getLabelsMap().get(PodLabels.TEMPLATE_HASH))) {
                LOG.info(() -> key + ": template changed, replacing pod " + shortId(sandbox.getId()));
                killSandbox(sandbox, containersIn(containers, sandbox.getId()), assignment.getTemplate());
                sandboxes.remove(sandbox);
                replaced = true;
            }
        }
        if (replaced) {
            backoff.resetPrefix(key + "/");
        }

        // 2. Keep the newest ready sandbox of this template; anything else goes, unless the pod has finished.
        sandboxes.sort(Comparator.comparingLong(PodSandbox::getCreatedAt).reversed());
        PodSandbox keep = sandboxes.stream().filter(s -> s.getState() == PodSandboxState.SANDBOX_READY).findFirst().orElse(null);
        if (keep == null && !sandboxes.isEmpty()) {
            PodSandbox newest = sandboxes.get(0);
            List<Observed> observed = observe(assignment, containersIn(containers, newest.getId()));
            if (finished(assignment.getTemplate(), observed)) {
                return summarize(status, observed, "");
            }
        }
        for (PodSandbox sandbox : sandboxes) {
            if (sandbox != keep) {
                LOG.info(() -> key + ": removing " + (sandbox.getState() == PodSandboxState.SANDBOX_READY ? "duplicate" : "dead")
                        + " pod " + shortId(sandbox.getId()));
                killSandbox(sandbox, containersIn(containers, sandbox.getId()), assignment.getTemplate());
            }
        }

        // 3. Its volumes come first (like the kubelet's WaitForAttachAndMount): a pod without them stays pending.
        Map<String, Path> volumePaths;
        try {
            volumePaths = volumes.prepare(assignment, PodConfigs.podUid(assignment, hash));
        } catch (PodVolumes.VolumeException e) {
            LOG.warning(key + ": " + e.getMessage());
            events.warning(replicaOf(assignment), "VolumeFailed", e.getMessage());
            return status.setPhase(ReplicaStatus.Phase.PENDING).setMessage(e.getMessage()).build();
        }

        // 4. A pod needs a sandbox.
        PodSandboxConfig sandboxConfig;
        String sandboxId;
        List<Container> podContainers;
        if (keep == null) {
            sandboxConfig = PodConfigs.sandbox(assignment, hash, sandboxAttempt, settings.logDir());
            try {
                Files.createDirectories(Path.of(sandboxConfig.getLogDirectory()));
                sandboxId = cri.runSandbox(sandboxConfig);
            } catch (IOException | StatusRuntimeException e) {
                String message = "cannot create the pod sandbox: " + describe(e);
                LOG.warning(key + ": " + message);
                return status.setPhase(ReplicaStatus.Phase.PENDING).setMessage(message).build();
            }
            knownSandboxes.add(sandboxId);
            LOG.info(() -> key + ": started pod " + shortId(sandboxId) + " (template " + hash + ")");
            if (!volumePaths.isEmpty()) {
                events.info(replicaOf(assignment), "VolumesReady", "volumes " + String.join(", ", new java.util.TreeSet<>(volumePaths.keySet()))
                        + " staged and published for pod " + shortId(sandboxId));
            }
            podContainers = List.of();
        } else {
            sandboxConfig = PodConfigs.sandbox(assignment, hash, keep.getMetadata().getAttempt(), settings.logDir());
            sandboxId = keep.getId();
            podContainers = containersIn(containers, keep.getId());
            if (knownSandboxes.add(sandboxId)) {
                LOG.info(() -> key + ": adopted running pod " + shortId(sandboxId) + " with "
                        + podContainers.stream().filter(c -> c.getState() == ContainerState.CONTAINER_RUNNING).count()
                        + " running containers");
            }
        }

        // 5. Each container of the template: create, start, restart as needed.
        List<Observed> observed = new ArrayList<>();
        for (dev.edgeplane.api.v1.Container spec : assignment.getTemplate().getContainersList()) {
            observed.add(syncContainer(key, assignment, hash, spec, sandboxId, sandboxConfig, podContainers,
                    nextAttempt.getOrDefault(spec.getName(), 0), volumePaths));
        }
        return summarize(status, observed, "");
    }

    private Observed syncContainer(String key, Assignment assignment, String hash, dev.edgeplane.api.v1.Container spec,
                                   String sandboxId, PodSandboxConfig sandboxConfig, List<Container> podContainers,
                                   int nextAttempt, Map<String, Path> volumePaths) {
        String backoffKey = key + "/" + spec.getName();
        List<Container> mine = podContainers.stream()
                .filter(c -> spec.getName().equals(c.getMetadata().getName()))
                .sorted(Comparator.comparingInt((Container c) -> c.getMetadata().getAttempt()).reversed())
                .toList();
        // Keep the latest and the one before it (its exit code is the "last exit code"); drop older ones.
        for (Container old : mine.subList(Math.min(2, mine.size()), mine.size())) {
            removeContainer(old, 0);
        }
        Container latest = mine.isEmpty() ? null : mine.get(0);
        Container previous = mine.size() > 1 ? mine.get(1) : null;
        Instant now = clock.instant();

        if (latest == null) {
            return start(key, assignment, hash, spec, sandboxId, sandboxConfig, nextAttempt, null, volumePaths);
        }
        switch (latest.getState()) {
            case CONTAINER_RUNNING -> {
                Instant created = nanosToInstant(latest.getCreatedAt());
                if (Duration.between(created, now).compareTo(settings.backoffReset()) >= 0) {
                    backoff.reset(backoffKey);
                }
                if (previous != null && previous.getState() == ContainerState.CONTAINER_RUNNING) {
                    removeContainer(previous, graceSeconds(assignment.getTemplate())); // a duplicate
                    previous = null;
                }
                ContainerStatus last = previous == null ? null : exitedStatus(previous.getId());
                return new Observed(apiStatus(spec, latest, ContainerStatusState.RUNNING, last, "", ""),
                        true, false, false, last == null ? 0 : last.getExitCode(), null, "");
            }
            case CONTAINER_CREATED -> {
                try {
                    cri.startContainer(latest.getId());
                    return new Observed(apiStatus(spec, latest, ContainerStatusState.RUNNING, null, "", ""),
                            true, false, false, 0, null, "");
                } catch (StatusRuntimeException e) {
                    removeContainer(latest, 0);
                    String message = "cannot start container " + spec.getName() + ": " + describe(e);
                    return waiting(spec, latest, "StartError", message);
                }
            }
            default -> {
                ContainerStatus exited = exitedStatus(latest.getId());
                if (exited == null) {
                    return start(key, assignment, hash, spec, sandboxId, sandboxConfig, nextAttempt, null, volumePaths);
                }
                int exitCode = exited.getExitCode();
                boolean firstLook = exitsRecorded.add(latest.getId());
                if (firstLook) {
                    String message = "container " + spec.getName() + " exited with code " + exitCode
                            + (exited.getReason().isEmpty() ? "" : " (" + exited.getReason() + ")");
                    events.record(exitCode == 0 ? dev.edgeplane.api.v1.EventLevel.INFO : dev.edgeplane.api.v1.EventLevel.WARNING,
                            replicaOf(assignment), "Exited", message);
                }
                Instant finishedAt = exited.getFinishedAt() > 0 ? nanosToInstant(exited.getFinishedAt()) : now;
                Instant startedAt = exited.getStartedAt() > 0 ? nanosToInstant(exited.getStartedAt()) : finishedAt;
                PodTemplate.RestartPolicy policy = assignment.getTemplate().getRestartPolicy();
                boolean restart = switch (policy) {
                    case NEVER -> false;
                    case ON_FAILURE -> exitCode != 0;
                    default -> true;
                };
                if (!restart) {
                    return new Observed(apiStatus(spec, latest, ContainerStatusState.EXITED, exited, exited.getReason(), exited.getMessage()),
                            false, true, false, exitCode, finishedAt, "");
                }
                if (Duration.between(startedAt, finishedAt).compareTo(settings.backoffReset()) >= 0) {
                    backoff.reset(backoffKey);
                }
                Duration wait = backoff.remaining(backoffKey, finishedAt, now);
                if (!wait.isZero()) {
                    String message = "back-off " + seconds(backoff.currentDelay(backoffKey)) + " restarting failed container "
                            + spec.getName() + " (exit code " + exitCode + ")";
                    if (firstLook) {
                        events.warning(replicaOf(assignment), "BackOff", message);
                    }
                    return new Observed(apiStatus(spec, latest, ContainerStatusState.WAITING, exited, "CrashLoopBackOff", message),
                            false, false, true, exitCode, finishedAt, message);
                }
                backoff.next(backoffKey, now);
                LOG.info(() -> key + ": restarting container " + spec.getName() + " (exit code " + exitCode
                        + ", restart " + (latest.getMetadata().getAttempt() + 1) + ")");
                Observed started = start(key, assignment, hash, spec, sandboxId, sandboxConfig,
                        Math.max(nextAttempt, latest.getMetadata().getAttempt() + 1), exited, volumePaths);
                if (started.running() && previous != null) {
                    removeContainer(previous, 0); // keep only the one that just exited
                }
                return started;
            }
        }
    }

    private Observed start(String key, Assignment assignment, String hash, dev.edgeplane.api.v1.Container spec,
                           String sandboxId, PodSandboxConfig sandboxConfig, int attempt, ContainerStatus lastExit,
                           Map<String, Path> volumePaths) {
        String pullKey = "pull:" + spec.getImage();
        Optional<String> imageProblem = ensureImage(assignment, spec, sandboxConfig, pullKey);
        if (imageProblem.isPresent()) {
            return waiting(spec, null, "ImagePullError", imageProblem.get());
        }
        try {
            Files.createDirectories(Path.of(sandboxConfig.getLogDirectory(), spec.getName()));
            String id = cri.createContainer(sandboxId, PodConfigs.container(assignment, spec, hash, attempt, volumePaths), sandboxConfig);
            events.info(replicaOf(assignment), "Created", "created container " + spec.getName() + " " + shortId(id));
            try {
                cri.startContainer(id);
            } catch (StatusRuntimeException e) {
                quietly(() -> cri.removeContainer(id));
                throw e;
            }
            LOG.info(() -> key + ": started container " + spec.getName() + " " + shortId(id) + " (attempt " + attempt + ")");
            events.info(replicaOf(assignment), "Started", "started container " + spec.getName() + " " + shortId(id)
                    + (attempt > 0 ? " (restart " + attempt + ")" : ""));
            dev.edgeplane.api.v1.ContainerStatus.Builder api = dev.edgeplane.api.v1.ContainerStatus.newBuilder()
                    .setName(spec.getName()).setState(dev.edgeplane.api.v1.ContainerStatus.State.RUNNING)
                    .setContainerId(id).setImage(spec.getImage()).setRestartCount(attempt);
            if (lastExit != null) {
                api.setLastExitCode(lastExit.getExitCode()).setFinishedAt(timestamp(lastExit.getFinishedAt()));
            }
            return new Observed(api.build(), true, false, false, lastExit == null ? 0 : lastExit.getExitCode(), null, "");
        } catch (IOException | StatusRuntimeException | IllegalArgumentException e) {
            String message = "cannot start container " + spec.getName() + ": " + describe(e);
            LOG.warning(key + ": " + message);
            events.warning(replicaOf(assignment), "Failed", message);
            return waiting(spec, null, "CreateContainerError", message);
        }
    }

    /** Empty when the image is ready to use; otherwise why not. */
    private Optional<String> ensureImage(Assignment assignment, dev.edgeplane.api.v1.Container spec, PodSandboxConfig sandboxConfig,
                                         String pullKey) {
        String image = spec.getImage();
        PullPolicy policy = ImagePolicy.effective(spec);
        boolean present = cri.image(image).isPresent();
        if (policy == PullPolicy.NEVER) {
            return present ? Optional.empty()
                    : Optional.of("image " + image + " is not present and its pull policy is Never");
        }
        if (policy == PullPolicy.IF_NOT_PRESENT && present) {
            return Optional.empty();
        }
        Instant now = clock.instant();
        Duration wait = backoff.remaining(pullKey, now);
        if (!wait.isZero()) {
            return present ? Optional.empty()
                    : Optional.of("back-off " + seconds(wait) + " pulling image " + image);
        }
        try {
            String ref = cri.pullImage(image, sandboxConfig);
            backoff.reset(pullKey);
            LOG.info(() -> "pulled " + image + " (" + ref + ")");
            events.info(replicaOf(assignment), "Pulled", "pulled image " + image + (present ? " (policy Always)" : ""));
            return Optional.empty();
        } catch (StatusRuntimeException e) {
            backoff.next(pullKey, now);
            events.warning(replicaOf(assignment), "PullFailed", "pulling image " + image + " failed: " + describe(e)
                    + (present ? "; using the local copy" : ""));
            if (present) {
                // Offline with pull policy Always: the local copy keeps the workload running.
                LOG.warning("pulling " + image + " failed (" + describe(e) + "); using the local copy");
                return Optional.empty();
            }
            return Optional.of("pulling image " + image + " failed: " + describe(e));
        }
    }

    /** Stops and removes every pod of a replica that is no longer desired. */
    void remove(String key, String namespace, String replica) {
        List<PodSandbox> sandboxes = cri.listSandboxes(PodLabels.replica(namespace, replica));
        List<Container> containers = cri.listContainers(PodLabels.replica(namespace, replica));
        for (PodSandbox sandbox : sandboxes) {
            LOG.info(() -> key + ": no longer desired, removing pod " + shortId(sandbox.getId()));
            killSandbox(sandbox, containersIn(containers, sandbox.getId()), null);
        }
        backoff.resetPrefix(key + "/");
    }

    private void killSandbox(PodSandbox sandbox, List<Container> containers, PodTemplate template) {
        long grace = template != null ? graceSeconds(template) : graceSeconds(sandbox);
        for (Container container : containers) {
            if (container.getState() == ContainerState.CONTAINER_RUNNING) {
                quietly(() -> cri.stopContainer(container.getId(), grace));
            }
        }
        quietly(() -> cri.stopSandbox(sandbox.getId()));
        cri.removeSandbox(sandbox.getId());
        knownSandboxes.remove(sandbox.getId());
        containers.forEach(c -> exitedCache.remove(c.getId()));
        deleteLogs(sandbox);
        // Without a template the replica is no longer desired: its volumes are released too (Retain) or deleted (Delete).
        volumes.podRemoved(sandbox.getMetadata().getUid(), template == null);
    }

    private void deleteLogs(PodSandbox sandbox) {
        Path dir = settings.logDir().resolve(sandbox.getMetadata().getNamespace() + "_" + sandbox.getMetadata().getName()
                + "_" + sandbox.getMetadata().getUid());
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            LOG.fine(() -> "cannot delete logs " + dir + ": " + e.getMessage());
        }
    }

    private void removeContainer(Container container, long graceSeconds) {
        if (container.getState() == ContainerState.CONTAINER_RUNNING) {
            quietly(() -> cri.stopContainer(container.getId(), graceSeconds));
        }
        quietly(() -> cri.removeContainer(container.getId()));
        exitedCache.remove(container.getId());
    }

    private ContainerStatus exitedStatus(String id) {
        ContainerStatus cached = exitedCache.get(id);
        if (cached != null) {
            return cached;
        }
        Optional<ContainerStatus> status = cri.containerStatus(id);
        status.filter(s -> s.getState() == ContainerState.CONTAINER_EXITED).ifPresent(s -> exitedCache.put(id, s));
        return status.orElse(null);
    }

    /** The template's containers as seen in one (not ready) sandbox, without acting. */
    private List<Observed> observe(Assignment assignment, List<Container> podContainers) {
        List<Observed> observed = new ArrayList<>();
        for (dev.edgeplane.api.v1.Container spec : assignment.getTemplate().getContainersList()) {
            Container latest = podContainers.stream()
                    .filter(c -> spec.getName().equals(c.getMetadata().getName()))
                    .max(Comparator.comparingInt(c -> c.getMetadata().getAttempt())).orElse(null);
            ContainerStatus exited = latest == null ? null : exitedStatus(latest.getId());
            if (exited == null || exited.getState() != ContainerState.CONTAINER_EXITED) {
                observed.add(waiting(spec, latest, "", ""));
                continue;
            }
            PodTemplate.RestartPolicy policy = assignment.getTemplate().getRestartPolicy();
            boolean terminal = policy == PodTemplate.RestartPolicy.NEVER
                    || (policy == PodTemplate.RestartPolicy.ON_FAILURE && exited.getExitCode() == 0);
            observed.add(new Observed(apiStatus(spec, latest, ContainerStatusState.EXITED, exited, exited.getReason(), exited.getMessage()),
                    false, terminal, !terminal, exited.getExitCode(), nanosToInstant(exited.getFinishedAt()), ""));
        }
        return observed;
    }

    private static boolean finished(PodTemplate template, List<Observed> observed) {
        return template.getRestartPolicy() != PodTemplate.RestartPolicy.ALWAYS
                && template.getRestartPolicy() != PodTemplate.RestartPolicy.RESTART_POLICY_UNSPECIFIED
                && !observed.isEmpty() && observed.stream().allMatch(Observed::terminal);
    }

    private static ReplicaStatus summarize(ReplicaStatus.Builder status, List<Observed> observed, String extra) {
        int restarts = 0;
        Instant lastFinish = null;
        int lastExit = 0;
        String message = extra;
        for (Observed o : observed) {
            status.addContainers(o.status());
            restarts += o.status().getRestartCount();
            if (o.finishedAt() != null && (lastFinish == null || o.finishedAt().isAfter(lastFinish))) {
                lastFinish = o.finishedAt();
                lastExit = o.exitCode();
            } else if (lastFinish == null && o.exitCode() != 0) {
                lastExit = o.exitCode();
            }
            if (message.isEmpty() && !o.problem().isEmpty()) {
                message = o.problem();
            }
        }
        ReplicaStatus.Phase phase;
        if (observed.stream().allMatch(Observed::running)) {
            phase = ReplicaStatus.Phase.RUNNING;
        } else if (observed.stream().allMatch(Observed::terminal)) {
            phase = observed.stream().allMatch(o -> o.exitCode() == 0) ? ReplicaStatus.Phase.SUCCEEDED : ReplicaStatus.Phase.FAILED;
        } else if (observed.stream().anyMatch(Observed::waiting)) {
            phase = ReplicaStatus.Phase.PENDING;
        } else {
            phase = ReplicaStatus.Phase.RUNNING; // some running, the rest finished for good
        }
        return status.setPhase(phase).setRestartCount(restarts).setLastExitCode(lastExit).setMessage(message).build();
    }

    private enum ContainerStatusState { WAITING, RUNNING, EXITED }

    private static dev.edgeplane.api.v1.ContainerStatus apiStatus(dev.edgeplane.api.v1.Container spec, Container container,
                                                                  ContainerStatusState state, ContainerStatus last,
                                                                  String reason, String message) {
        dev.edgeplane.api.v1.ContainerStatus.Builder api = dev.edgeplane.api.v1.ContainerStatus.newBuilder()
                .setName(spec.getName())
                .setImage(spec.getImage())
                .setState(switch (state) {
                    case WAITING -> dev.edgeplane.api.v1.ContainerStatus.State.WAITING;
                    case RUNNING -> dev.edgeplane.api.v1.ContainerStatus.State.RUNNING;
                    case EXITED -> dev.edgeplane.api.v1.ContainerStatus.State.EXITED;
                })
                .setReason(nullToEmpty(reason))
                .setMessage(nullToEmpty(message));
        if (container != null) {
            api.setContainerId(container.getId()).setRestartCount(container.getMetadata().getAttempt());
            if (state == ContainerStatusState.RUNNING) {
                api.setStartedAt(timestamp(container.getCreatedAt()));
            }
        }
        if (last != null) {
            api.setLastExitCode(last.getExitCode());
            if (last.getFinishedAt() > 0) {
                api.setFinishedAt(timestamp(last.getFinishedAt()));
            }
        }
        return api.build();
    }

    private static Observed waiting(dev.edgeplane.api.v1.Container spec, Container container, String reason, String message) {
        return new Observed(apiStatus(spec, container, ContainerStatusState.WAITING, null, reason, message),
                false, false, true, 0, null, nullToEmpty(message));
    }

    private static List<Container> containersIn(List<Container> containers, String sandboxId) {
        return containers.stream().filter(c -> sandboxId.equals(c.getPodSandboxId())).toList();
    }

    /** The grace recorded on the sandbox when it was made (the assignment may be gone by now). */
    private static long graceSeconds(PodSandbox sandbox) {
        try {
            long recorded = Long.parseLong(sandbox.getAnnotationsOrDefault(PodLabels.GRACE_SECONDS, "0"));
            return recorded > 0 ? recorded : DEFAULT_GRACE_SECONDS;
        } catch (NumberFormatException e) {
            return DEFAULT_GRACE_SECONDS;
        }
    }

    private static long graceSeconds(PodTemplate template) {
        if (template == null || template.getTerminationGraceSeconds() <= 0) {
            return DEFAULT_GRACE_SECONDS;
        }
        return template.getTerminationGraceSeconds();
    }

    private static Instant nanosToInstant(long nanos) {
        return Instant.ofEpochSecond(nanos / 1_000_000_000L, nanos % 1_000_000_000L);
    }

    private static Timestamp timestamp(long nanos) {
        return Timestamp.newBuilder().setSeconds(nanos / 1_000_000_000L).setNanos((int) (nanos % 1_000_000_000L)).build();
    }

    private static String seconds(Duration duration) {
        long millis = duration.toMillis();
        return millis % 1000 == 0 ? (millis / 1000) + "s" : String.format("%.1fs", millis / 1000.0);
    }

    private static dev.edgeplane.api.v1.ObjectReference replicaOf(Assignment assignment) {
        return EventRecorder.replica(assignment.getNamespace(), assignment.getReplica());
    }

    static String shortId(String id) {
        return id.length() > 12 ? id.substring(0, 12) : id;
    }

    private static String describe(Exception e) {
        if (e instanceof StatusRuntimeException sre) {
            return sre.getStatus().getCode() + (sre.getStatus().getDescription() == null ? "" : " " + sre.getStatus().getDescription());
        }
        return e.getMessage();
    }

    private static String nullToEmpty(String s) {
        return s == null ? "" : s;
    }

    private static void quietly(Runnable action) {
        try {
            action.run();
        } catch (RuntimeException e) {
            LOG.fine(() -> "ignored: " + e.getMessage());
        }
    }
}
