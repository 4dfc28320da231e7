package dev.edgeplane.agent.pods;

import com.google.protobuf.Timestamp;
import dev.edgeplane.agent.events.EventRecorder;
import dev.edgeplane.agent.images.RegistryCredentials;
import dev.edgeplane.agent.probe.Prober;
import dev.edgeplane.agent.probe.ProberManager;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.agent.volumes.PodVolumes;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.LifecycleHandler;
import dev.edgeplane.api.v1.LocalObjectReference;
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
    /** A post_start hook that runs longer has failed (Kubernetes has no bound; an agent needs one). */
    static final Duration POST_START_TIMEOUT = Duration.ofSeconds(30);
    /** What a container gets after its pre_stop hook, however long the hook took (the kubelet's minimum). */
    private static final long MIN_GRACE_AFTER_PRE_STOP = 2;

    private final CriRuntime cri;
    private final ReconcilerSettings settings;
    private final RestartBackoff backoff;
    private final Clock clock;
    private final PodVolumes volumes;
    private final EventRecorder events;
    // Events recorded once, not on every pass: a container's exit (by id), a refusal to create one.
    private final java.util.Set<String> recordedOnce = Collections.newSetFromMap(Collections.synchronizedMap(
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

    // Why each image's last pull failed (until one succeeds): a pull in back-off still says why.
    private final Map<String, String> pullFailures = new java.util.concurrent.ConcurrentHashMap<>();

    // Sandboxes this process has created or already adopted: any other running one is adopted (logged once).
    private final java.util.Set<String> knownSandboxes = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private final ProberManager probes;
    // Asks the sync loop for another pass soon (after a kill, so the restart does not wait a sync period).
    private final Runnable resync;

    // Runs lifecycle hooks (the handlers are the probes' own).
    private final Prober hooks;

    PodWorker(CriRuntime cri, ReconcilerSettings settings, Clock clock, PodVolumes volumes, EventRecorder events,
              ProberManager probes, Prober hooks, Runnable resync) {
        this.cri = cri;
        this.hooks = hooks;
        this.probes = probes;
        this.resync = resync;
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
        PodTemplate template = assignment.getTemplate();
        List<PodSandbox> sandboxes = cri.listSandboxes(PodLabels.replica(assignment.getNamespace(), assignment.getReplica()));
        List<Container> containers = cri.listContainers(PodLabels.replica(assignment.getNamespace(), assignment.getReplica()));
        Map<String, ContainerStatus> exited = new HashMap<>();
        for (Container container : containers) {
            if (container.getState() != ContainerState.CONTAINER_RUNNING && container.getState() != ContainerState.CONTAINER_CREATED) {
                ContainerStatus s = exitedStatus(container.getId());
                if (s != null && s.getState() == ContainerState.CONTAINER_EXITED) {
                    exited.put(container.getId(), s);
                }
            }
        }
        PodActions actions = PodActions.compute(hash, template, sandboxes, containers, exited, id -> probes.verdict(id).restart());
        java.util.Set<String> pulled = new java.util.HashSet<>();

        // 1. A new template: its images first, so a bad tag leaves the old pod running; then the old pods go.
        if (!actions.replaced().isEmpty()) {
            PodSandboxConfig pullConfig = PodConfigs.sandbox(assignment, hash, actions.sandboxAttempt(), settings.logDir());
            List<dev.edgeplane.api.v1.Container> all = new ArrayList<>(template.getInitContainersList());
            all.addAll(template.getContainersList());
            for (dev.edgeplane.api.v1.Container spec : all) {
                Optional<String> problem = ensureImage(assignment, spec, pullConfig, pulled);
                if (problem.isPresent()) {
                    return status.setPhase(ReplicaStatus.Phase.PENDING).setReason("ErrImagePull")
                            .setMessage(problem.get() + "; the pod of the previous template keeps running").build();
                }
            }
            for (PodSandbox sandbox : actions.replaced()) {
                LOG.info(() -> key + ": template changed, replacing pod " + shortId(sandbox.getId()));
                killSandbox(sandbox, PodActions.containersIn(containers, sandbox.getId()), false);
            }
            backoff.resetPrefix(key + "/");
            probes.removePod(key);
        }
        if (actions.finished()) {
            return summarize(status, actions.initSteps().stream().map(step -> observed(step, null)).toList(),
                    actions.steps().stream().map(step -> observed(step, null)).toList());
        }

        // 2. Duplicates and dead pods of this template go.
        for (PodSandbox sandbox : actions.sandboxesToKill()) {
            LOG.info(() -> key + ": removing " + (sandbox.getState() == PodSandboxState.SANDBOX_READY ? "duplicate" : "dead")
                    + " pod " + shortId(sandbox.getId()));
            killSandbox(sandbox, PodActions.containersIn(containers, sandbox.getId()), false);
        }

        // 3. Its volumes come first (like the kubelet's WaitForAttachAndMount): a pod without them stays pending,
        // and a host path this host does not allow stops it here, before anything runs.
        for (dev.edgeplane.api.v1.PodVolume volume : template.getVolumesList()) {
            Optional<String> refused = volume.hasHostPath()
                    ? settings.policy().hostPathRefusal(volume.getName(), volume.getHostPath().getPath()) : Optional.empty();
            if (refused.isPresent()) {
                if (recordedOnce.add("refused:" + key + ":" + refused.get())) {
                    LOG.warning(key + ": " + refused.get());
                    events.warning(replicaOf(assignment), "Failed", refused.get());
                }
                return status.setPhase(ReplicaStatus.Phase.PENDING).setReason("CreateContainerConfigError").setMessage(refused.get()).build();
            }
        }
        Map<String, Path> volumePaths;
        try {
            volumePaths = volumes.prepare(assignment, PodConfigs.podUid(assignment, hash));
        } catch (PodVolumes.VolumeException e) {
            LOG.warning(key + ": " + e.getMessage());
            events.warning(replicaOf(assignment), "VolumeFailed", e.getMessage());
            return status.setPhase(ReplicaStatus.Phase.PENDING).setMessage(e.getMessage()).build();
        }

        // 4. A pod needs a sandbox.
        PodSandboxConfig sandboxConfig = PodConfigs.sandbox(assignment, hash, actions.sandboxAttempt(), settings.logDir());
        String sandboxId;
        if (actions.sandbox() == null) {
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
        } else {
            sandboxId = actions.sandbox().getId();
            if (knownSandboxes.add(sandboxId)) {
                LOG.info(() -> key + ": adopted running pod " + shortId(sandboxId) + " with "
                        + PodActions.containersIn(containers, sandboxId).stream()
                                .filter(c -> c.getState() == ContainerState.CONTAINER_RUNNING).count() + " running containers");
            }
        }
        for (Container old : actions.containersToRemove()) {
            removeContainer(old, graceSeconds(template));
        }

        // 5. Init containers in order, then each container of the template: start, restart, kill or leave as decided.
        Pod pod = new Pod(key, assignment, hash, sandboxId, sandboxConfig, volumePaths, pulled);
        List<Observed> init = new ArrayList<>();
        for (PodActions.ContainerStep step : actions.initSteps()) {
            init.add(apply(pod, step));
        }
        List<Observed> observed = new ArrayList<>();
        List<ProberManager.RunningContainer> running = new ArrayList<>();
        for (PodActions.ContainerStep step : actions.steps()) {
            Observed o = apply(pod, step);
            observed.add(o);
            if (o.running() && !o.status().getContainerId().isEmpty()) {
                running.add(new ProberManager.RunningContainer(o.status().getContainerId(), step.spec(),
                        o.status().hasStartedAt() ? instant(o.status().getStartedAt()) : clock.instant()));
            }
        }
        probes.syncPod(key, replicaOf(assignment), running);
        return summarize(status, init, observed.stream().map(this::withProbes).toList());
    }

    /** Everything a container step needs to know about its pod. */
    private record Pod(String key, Assignment assignment, String hash, String sandboxId, PodSandboxConfig sandboxConfig,
                       Map<String, Path> volumePaths, java.util.Set<String> pulled) {}

    private Observed apply(Pod pod, PodActions.ContainerStep step) {
        dev.edgeplane.api.v1.Container spec = step.spec();
        String backoffKey = pod.key() + "/" + spec.getName();
        Instant now = clock.instant();
        if (step instanceof PodActions.ContainerStep.Running r) {
            if (Duration.between(nanosToInstant(r.container().getCreatedAt()), now).compareTo(settings.backoffReset()) >= 0) {
                backoff.reset(backoffKey);
            }
            return observed(step, r.lastExit());
        }
        if (step instanceof PodActions.ContainerStep.StartCreated c) {
            try {
                cri.startContainer(c.created().getId());
                return new Observed(apiStatus(spec, c.created(), ContainerStatusState.RUNNING, null, "", ""), true, false, false, 0, null, "");
            } catch (StatusRuntimeException e) {
                removeContainer(c.created(), 0);
                return waiting(spec, c.created(), "StartError", "cannot start container " + spec.getName() + ": " + describe(e));
            }
        }
        if (step instanceof PodActions.ContainerStep.Kill k) {
            LOG.info(() -> pod.key() + ": killing container " + spec.getName() + ": " + k.reason());
            events.warning(replicaOf(pod.assignment()), "Killing", "container " + spec.getName() + ": " + k.reason()
                    + ", will be restarted");
            stopContainer(k.container(), graceSeconds(pod.assignment().getTemplate()));
            resync.run(); // the next pass restarts it under the restart policy and the crash back-off
            return waiting(spec, k.container(), "Unhealthy", k.reason());
        }
        if (step instanceof PodActions.ContainerStep.Start s) {
            return s.lastExit() == null ? start(pod, spec, s.attempt(), null) : restart(pod, s, backoffKey, now);
        }
        return observed(step, null); // Terminated, Waiting: nothing to do
    }

    /** A container that exited and restarts under its policy, after the crash back-off. */
    private Observed restart(Pod pod, PodActions.ContainerStep.Start s, String backoffKey, Instant now) {
        dev.edgeplane.api.v1.Container spec = s.spec();
        ContainerStatus exited = s.lastExit();
        int exitCode = exited.getExitCode();
        boolean firstLook = recordedOnce.add(s.exited().getId());
        if (firstLook) {
            String message = "container " + spec.getName() + " exited with code " + exitCode
                    + (exited.getReason().isEmpty() ? "" : " (" + exited.getReason() + ")");
            events.record(exitCode == 0 ? dev.edgeplane.api.v1.EventLevel.INFO : dev.edgeplane.api.v1.EventLevel.WARNING,
                    replicaOf(pod.assignment()), "Exited", message);
        }
        Instant finishedAt = exited.getFinishedAt() > 0 ? nanosToInstant(exited.getFinishedAt()) : now;
        Instant startedAt = exited.getStartedAt() > 0 ? nanosToInstant(exited.getStartedAt()) : finishedAt;
        if (Duration.between(startedAt, finishedAt).compareTo(settings.backoffReset()) >= 0) {
            backoff.reset(backoffKey);
        }
        Duration wait = backoff.remaining(backoffKey, finishedAt, now);
        if (!wait.isZero()) {
            String message = "back-off " + seconds(backoff.currentDelay(backoffKey)) + " restarting failed container "
                    + spec.getName() + " (exit code " + exitCode + ")";
            if (firstLook) {
                events.warning(replicaOf(pod.assignment()), "BackOff", message);
            }
            return new Observed(apiStatus(spec, s.exited(), ContainerStatusState.WAITING, exited, "CrashLoopBackOff", message),
                    false, false, true, exitCode, finishedAt, message);
        }
        backoff.next(backoffKey, now);
        LOG.info(() -> pod.key() + ": restarting container " + spec.getName() + " (exit code " + exitCode
                + ", restart " + s.attempt() + ")");
        Observed started = start(pod, spec, s.attempt(), exited);
        if (started.running() && s.previous() != null) {
            removeContainer(s.previous(), 0); // keep only the one that just exited
        }
        return started;
    }

    /** How a container that is left as it is looks in the status. */
    private Observed observed(PodActions.ContainerStep step, ContainerStatus lastExit) {
        dev.edgeplane.api.v1.Container spec = step.spec();
        if (step instanceof PodActions.ContainerStep.Running r) {
            return new Observed(apiStatus(spec, r.container(), ContainerStatusState.RUNNING, lastExit, "", ""),
                    true, false, false, lastExit == null ? 0 : lastExit.getExitCode(), null, "");
        }
        if (step instanceof PodActions.ContainerStep.Terminated t) {
            return new Observed(apiStatus(spec, t.container(), ContainerStatusState.EXITED, t.exited(), t.exited().getReason(),
                    t.exited().getMessage()), false, true, false, t.exited().getExitCode(), nanosToInstant(t.exited().getFinishedAt()), "");
        }
        if (step instanceof PodActions.ContainerStep.Waiting w && w.exited() != null) {
            return new Observed(apiStatus(spec, w.container(), ContainerStatusState.EXITED, w.exited(), w.exited().getReason(),
                    w.exited().getMessage()), false, false, true, w.exited().getExitCode(), nanosToInstant(w.exited().getFinishedAt()), "");
        }
        if (step instanceof PodActions.ContainerStep.Waiting w) {
            return waiting(spec, w.container(), w.reason(), "");
        }
        throw new IllegalArgumentException("not a state to observe: " + step);
    }

    /** Readiness, startup and the last probe failure of a running container. */
    private Observed withProbes(Observed o) {
        if (!o.running()) {
            return o;
        }
        ProberManager.Verdict verdict = probes.verdict(o.status().getContainerId());
        return new Observed(o.status().toBuilder().setStarted(verdict.started()).setReady(verdict.ready())
                .setProbeFailure(verdict.failure()).build(), o.running(), o.terminal(), o.waiting(), o.exitCode(), o.finishedAt(), o.problem());
    }

    private Observed start(Pod pod, dev.edgeplane.api.v1.Container spec, int attempt, ContainerStatus lastExit) {
        String key = pod.key();
        Assignment assignment = pod.assignment();
        PodSandboxConfig sandboxConfig = pod.sandboxConfig();
        Optional<String> imageProblem = ensureImage(assignment, spec, sandboxConfig, pod.pulled());
        if (imageProblem.isPresent()) {
            return waiting(spec, null, "ErrImagePull", imageProblem.get()); // Kubernetes' reason
        }
        ConfigEnv env = ConfigEnv.of(assignment, spec);
        Optional<String> refused = refusal(spec).or(env::problem);
        if (refused.isPresent()) {
            if (recordedOnce.add("refused:" + key + "/" + spec.getName() + ":" + refused.get())) {
                events.warning(replicaOf(assignment), "Failed", refused.get());
            }
            return waiting(spec, null, "CreateContainerConfigError", refused.get());
        }
        if (!env.skipped().isEmpty() && recordedOnce.add("skipped-env:" + key + "/" + spec.getName())) {
            events.warning(replicaOf(assignment), "InvalidEnvironmentVariableNames", "container " + spec.getName()
                    + ": keys skipped from env_from, not valid env var names: " + String.join(", ", env.skipped()));
        }
        try {
            Files.createDirectories(Path.of(sandboxConfig.getLogDirectory(), spec.getName()));
            String id = cri.createContainer(pod.sandboxId(), PodConfigs.container(assignment, spec, pod.hash(), attempt, pod.volumePaths(), env.env()),
                    sandboxConfig);
            events.info(replicaOf(assignment), "Created", "created container " + spec.getName() + " " + shortId(id));
            try {
                cri.startContainer(id);
            } catch (StatusRuntimeException e) {
                quietly(() -> cri.removeContainer(id));
                throw e;
            }
            if (spec.getLifecycle().hasPostStart()) {
                Prober.Outcome hook = hooks.run(spec.getLifecycle().getPostStart(), id, POST_START_TIMEOUT);
                if (!hook.success()) {
                    String message = "post_start hook of container " + spec.getName() + " failed: " + hook.message();
                    LOG.warning(key + ": " + message);
                    events.warning(replicaOf(assignment), "FailedPostStartHook", message);
                    // Killed without its pre_stop, as the kubelet does; the restart policy and back-off decide next.
                    quietly(() -> cri.stopContainer(id, graceSeconds(assignment.getTemplate())));
                    resync.run();
                    return waiting(spec, null, "PostStartHookError", message);
                }
            }
            LOG.info(() -> key + ": started container " + spec.getName() + " " + shortId(id) + " (attempt " + attempt + ")");
            events.info(replicaOf(assignment), "Started", "started container " + spec.getName() + " " + shortId(id)
                    + (attempt > 0 ? " (restart " + attempt + ")" : ""));
            dev.edgeplane.api.v1.ContainerStatus.Builder api = dev.edgeplane.api.v1.ContainerStatus.newBuilder()
                    .setName(spec.getName()).setState(dev.edgeplane.api.v1.ContainerStatus.State.RUNNING)
                    .setContainerId(id).setImage(spec.getImage()).setRestartCount(attempt).setStartedAt(timestamp(clock.instant()));
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

    /**
     * Why this host will not create the container, if it will not: the agent's own policy (privileged
     * only with --allow-privileged) and Kubernetes' run_as_non_root (by run_as_user, else the image's
     * user: uid 0, no user, or a user name that is not a number cannot be shown not to be root).
     */
    private Optional<String> refusal(dev.edgeplane.api.v1.Container spec) {
        dev.edgeplane.api.v1.SecurityContext security = spec.getSecurityContext();
        String name = spec.getName();
        if (security.getPrivileged() && !settings.policy().allowPrivileged()) {
            return Optional.of("container " + name + " asks to be privileged, which this node does not allow (edge-agent --allow-privileged)");
        }
        if (!security.getRunAsNonRoot()) {
            return Optional.empty();
        }
        if (security.hasRunAsUser()) {
            return security.getRunAsUser() == 0
                    ? Optional.of("container " + name + " has run_as_non_root and run_as_user 0") : Optional.empty();
        }
        Optional<dev.edgeplane.cri.v1.Image> image = cri.image(spec.getImage());
        if (image.isPresent() && image.get().hasUid()) {
            return image.get().getUid().getValue() == 0
                    ? Optional.of("container " + name + " has run_as_non_root and image " + spec.getImage() + " runs as root (uid 0)")
                    : Optional.empty();
        }
        String user = image.map(dev.edgeplane.cri.v1.Image::getUsername).orElse("");
        return Optional.of("container " + name + " has run_as_non_root and image " + spec.getImage()
                + (user.isEmpty() ? " names no user (root)" : " runs as \"" + user + "\", which cannot be shown not to be root; set run_as_user"));
    }

    /** Empty when the image is ready to use; otherwise why not. {@code pulled}: images this pass pulled already. */
    private Optional<String> ensureImage(Assignment assignment, dev.edgeplane.api.v1.Container spec, PodSandboxConfig sandboxConfig,
                                         java.util.Set<String> pulled) {
        String image = spec.getImage();
        String pullKey = "pull:" + image;
        if (pulled.contains(image)) {
            return Optional.empty();
        }
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
                    : Optional.of("back-off " + seconds(wait) + " pulling image " + image + ": "
                            + pullFailures.getOrDefault(pullKey, "it failed"));
        }
        RegistryCredentials.Pull credentials = RegistryCredentials.forImage(image,
                assignment.getTemplate().getImagePullSecretsList().stream().map(LocalObjectReference::getName).toList(),
                assignment.getConfigDataList());
        for (String problem : credentials.problems()) {
            if (recordedOnce.add("pull-secret:" + assignment.getNamespace() + "/" + assignment.getReplica() + ":" + problem)) {
                events.warning(replicaOf(assignment), "FailedToRetrieveImagePullSecret", problem);
            }
        }
        try {
            String ref = cri.pullImage(image, sandboxConfig, credentials.auth()); // never log the credentials
            backoff.reset(pullKey);
            pullFailures.remove(pullKey);
            pulled.add(image);
            LOG.info(() -> "pulled " + image + " (" + ref + ")");
            events.info(replicaOf(assignment), "Pulled", "pulled image " + image + (present ? " (policy Always)" : ""));
            return Optional.empty();
        } catch (StatusRuntimeException e) {
            backoff.next(pullKey, now);
            pullFailures.put(pullKey, credentials.explain(describe(e)));
            String failure = "pulling image " + image + " failed: " + pullFailures.get(pullKey);
            events.warning(replicaOf(assignment), "PullFailed", failure + (present ? "; using the local copy" : ""));
            if (present) {
                // Offline with pull policy Always: the local copy keeps the workload running.
                LOG.warning("pulling " + image + " failed (" + describe(e) + "); using the local copy");
                return Optional.empty();
            }
            return Optional.of(failure);
        }
    }

    /** Stops and removes every pod of a replica that is no longer desired. */
    void remove(String key, String namespace, String replica) {
        List<PodSandbox> sandboxes = cri.listSandboxes(PodLabels.replica(namespace, replica));
        List<Container> containers = cri.listContainers(PodLabels.replica(namespace, replica));
        for (PodSandbox sandbox : sandboxes) {
            LOG.info(() -> key + ": no longer desired, removing pod " + shortId(sandbox.getId()));
            killSandbox(sandbox, PodActions.containersIn(containers, sandbox.getId()), true);
        }
        backoff.resetPrefix(key + "/");
        probes.removePod(key);
    }

    /**
     * Stops and removes a pod with the grace its own template gave it (recorded on the sandbox: a pod
     * replaced by a new template keeps the old one's). {@code replicaRemoved}: the replica is no longer
     * desired, so its volumes go too (released, or deleted by their policy).
     */
    private void killSandbox(PodSandbox sandbox, List<Container> containers, boolean replicaRemoved) {
        volumes.podRemoving(sandbox.getMetadata().getUid(), replicaRemoved); // finished later if cut short here
        long grace = graceSeconds(sandbox);
        for (Container container : containers) {
            if (container.getState() == ContainerState.CONTAINER_RUNNING) {
                stopContainer(container, grace);
            }
        }
        quietly(() -> cri.stopSandbox(sandbox.getId()));
        cri.removeSandbox(sandbox.getId());
        knownSandboxes.remove(sandbox.getId());
        containers.forEach(c -> exitedCache.remove(c.getId()));
        deleteLogs(sandbox);
        volumes.podRemoved(sandbox.getMetadata().getUid(), replicaRemoved);
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

    /**
     * Stops a running container the kubelet's way: its pre_stop hook first (recorded on the container
     * when it was created, so it is the hook of the template that made it), within the grace period,
     * then SIGTERM with what is left of the grace (at least 2 s) and SIGKILL after it.
     */
    private void stopContainer(Container container, long graceSeconds) {
        long grace = graceSeconds;
        String recorded = container.getAnnotationsMap().get(PodLabels.PRE_STOP);
        if (recorded != null) {
            long started = System.nanoTime();
            try {
                LifecycleHandler hook = LifecycleHandler.parseFrom(java.util.Base64.getDecoder().decode(recorded));
                Prober.Outcome outcome = hooks.run(hook, container.getId(), Duration.ofSeconds(graceSeconds));
                if (!outcome.success()) {
                    String message = "pre_stop hook of container " + container.getMetadata().getName() + " failed: " + outcome.message();
                    LOG.warning(message);
                    PodLabels.replicaKey(container.getLabelsMap()).ifPresent(key -> events.warning(
                            EventRecorder.replica(key.substring(0, key.indexOf('/')), key.substring(key.indexOf('/') + 1)),
                            "FailedPreStopHook", message));
                }
            } catch (IllegalArgumentException | com.google.protobuf.InvalidProtocolBufferException e) {
                LOG.warning("container " + shortId(container.getId()) + ": unreadable pre_stop hook annotation: " + e.getMessage());
            }
            long spent = Duration.ofNanos(System.nanoTime() - started).toSeconds();
            grace = Math.max(MIN_GRACE_AFTER_PRE_STOP, graceSeconds - spent);
        }
        long timeout = grace;
        quietly(() -> cri.stopContainer(container.getId(), timeout));
    }

    private void removeContainer(Container container, long graceSeconds) {
        if (container.getState() == ContainerState.CONTAINER_RUNNING) {
            stopContainer(container, graceSeconds);
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

    private static ReplicaStatus summarize(ReplicaStatus.Builder status, List<Observed> init, List<Observed> observed) {
        int restarts = 0;
        Instant lastFinish = null;
        int lastExit = 0;
        String message = "";
        for (Observed o : init) {
            status.addInitContainers(o.status());
            restarts += o.status().getRestartCount();
        }
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
        // Init containers first: the containers wait for them (Kubernetes' Init:N/M, Init:Error).
        for (int i = 0; i < init.size(); i++) {
            Observed o = init.get(i);
            if (o.terminal() && o.exitCode() == 0) {
                continue;
            }
            String name = o.status().getName();
            if (o.terminal()) {
                return status.setPhase(ReplicaStatus.Phase.FAILED).setReady(false).setRestartCount(restarts).setLastExitCode(o.exitCode())
                        .setMessage("init container " + name + " failed with exit code " + o.exitCode()).build();
            }
            String why = !o.problem().isEmpty() ? ": " + o.problem() : o.running() ? " running" : "";
            if (o.waiting() && !o.status().getReason().isEmpty()) {
                status.setReason(o.status().getReason());
            }
            return status.setPhase(ReplicaStatus.Phase.PENDING).setReady(false).setRestartCount(restarts).setLastExitCode(o.exitCode())
                    .setMessage("initializing " + (i + 1) + "/" + init.size() + ": init container " + name + why).build();
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
        if (phase == ReplicaStatus.Phase.PENDING) {
            // Why it does not run, in Kubernetes' words (ErrImagePull, CrashLoopBackOff...): a rollout counts these as failures.
            observed.stream().filter(o -> o.waiting() && !o.status().getReason().isEmpty()).findFirst()
                    .ifPresent(o -> status.setReason(o.status().getReason()));
        }
        boolean ready = phase == ReplicaStatus.Phase.RUNNING && observed.stream().allMatch(o -> o.status().getReady());
        return status.setPhase(phase).setReady(ready).setRestartCount(restarts).setLastExitCode(lastExit).setMessage(message).build();
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

    private static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder().setSeconds(instant.getEpochSecond()).setNanos(instant.getNano()).build();
    }

    private static Instant instant(Timestamp timestamp) {
        return Instant.ofEpochSecond(timestamp.getSeconds(), timestamp.getNanos());
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
