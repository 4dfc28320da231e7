package dev.edgeplane.agent.pods;

import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.cri.v1.Container;
import dev.edgeplane.cri.v1.ContainerState;
import dev.edgeplane.cri.v1.ContainerStatus;
import dev.edgeplane.cri.v1.PodSandbox;
import dev.edgeplane.cri.v1.PodSandboxState;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * What one pass does to one replica's pod, decided from what the runtime shows: the kubelet's
 * computePodActions. Pure: {@link #compute} reads its inputs and decides; {@link PodWorker} applies
 * the decision (and the crash back-off, image pulls and volumes, which need the world).
 *
 * @param replaced        pods of another template: killed once the new template's images are present
 * @param sandboxesToKill duplicates and dead pods of this template
 * @param sandbox         the pod to keep using; null: create one ({@code sandboxAttempt})
 * @param finished        the pod ran to completion under its restart policy: nothing starts again
 * @param containersToRemove attempts older than the previous one, and running duplicates
 * @param initSteps       one per init container, in order: those done are Terminated, the one running or
 *                        to (re)start is next, the rest wait
 * @param initialized     every init container exited 0 in this sandbox: the containers may run
 * @param initFailed      an init container failed under restart policy NEVER: the replica failed
 * @param steps           one per container of the template, in template order (all Waiting until initialized)
 */
record PodActions(List<PodSandbox> replaced, List<PodSandbox> sandboxesToKill, PodSandbox sandbox, int sandboxAttempt,
                  boolean finished, List<Container> containersToRemove, List<ContainerStep> initSteps, boolean initialized,
                  boolean initFailed, List<ContainerStep> steps) {

    /** What happens to one container of the template. */
    sealed interface ContainerStep {
        dev.edgeplane.api.v1.Container spec();

        /**
         * Create and start attempt {@code attempt}. A restart after an exit ({@code lastExit} set) waits
         * out the crash back-off first; once the new one runs, {@code previous} (the one before the exited
         * one) goes.
         */
        record Start(dev.edgeplane.api.v1.Container spec, int attempt, Container exited, ContainerStatus lastExit,
                     Container previous) implements ContainerStep {}

        /** Created but never started (the agent stopped in between): start it. */
        record StartCreated(dev.edgeplane.api.v1.Container spec, Container created) implements ContainerStep {}

        /** Running and healthy: nothing to do. {@code lastExit} is the previous attempt's, if any. */
        record Running(dev.edgeplane.api.v1.Container spec, Container container, ContainerStatus lastExit) implements ContainerStep {}

        /** Running but failed its liveness or startup probe: stop it; the restart policy and back-off decide the rest. */
        record Kill(dev.edgeplane.api.v1.Container spec, Container container, String reason) implements ContainerStep {}

        /** Exited and will not restart under the restart policy. */
        record Terminated(dev.edgeplane.api.v1.Container spec, Container container, ContainerStatus exited) implements ContainerStep {}

        /** Not running and nothing to do now: in a pod that is not running, or behind init containers ({@code reason}). */
        record Waiting(dev.edgeplane.api.v1.Container spec, Container container, ContainerStatus exited, String reason)
                implements ContainerStep {}
    }

    /**
     * @param exited       the status of each exited container of the replica (by id), as far as known
     * @param restartFor   why a running container must be restarted (a failed liveness or startup probe)
     */
    static PodActions compute(String templateHash, PodTemplate template, List<PodSandbox> sandboxes, List<Container> containers,
                              Map<String, ContainerStatus> exited, Function<String, Optional<String>> restartFor) {
        Map<String, Integer> nextAttempt = new HashMap<>();
        for (Container container : containers) {
            nextAttempt.merge(container.getMetadata().getName(), container.getMetadata().getAttempt() + 1, Math::max);
        }
        int sandboxAttempt = sandboxes.stream().mapToInt(s -> s.getMetadata().getAttempt() + 1).max().orElse(0);

        List<PodSandbox> replaced = new ArrayList<>();
        List<PodSandbox> same = new ArrayList<>();
        for (PodSandbox sandbox : sandboxes) {
            (templateHash.equals(sandbox.getLabelsMap().get(PodLabels.TEMPLATE_HASH)) ? same : replaced).add(sandbox);
        }
        same.sort(Comparator.comparingLong(PodSandbox::getCreatedAt).reversed());
        PodSandbox keep = same.stream().filter(s -> s.getState() == PodSandboxState.SANDBOX_READY).findFirst().orElse(null);
        if (keep == null && !same.isEmpty()) {
            PodSandbox newest = same.get(0);
            List<Container> inNewest = containersIn(containers, newest.getId());
            Init init = init(template, inNewest, exited, nextAttempt, new ArrayList<>());
            List<ContainerStep> ended = ended(template, inNewest, exited);
            if (init.failed() || finished(template, ended)) {
                return new PodActions(replaced, List.of(), newest, newest.getMetadata().getAttempt(), true, List.of(),
                        init.steps(), init.done(), init.failed(), ended);
            }
        }
        List<PodSandbox> toKill = same.stream().filter(s -> s != keep).toList();
        List<ContainerStep> steps = new ArrayList<>();
        if (keep == null) {
            // A new sandbox runs its init containers first, the first of them now.
            Init init = init(template, List.of(), exited, nextAttempt, new ArrayList<>());
            for (dev.edgeplane.api.v1.Container spec : template.getContainersList()) {
                steps.add(init.done() ? new ContainerStep.Start(spec, nextAttempt.getOrDefault(spec.getName(), 0), null, null, null)
                        : new ContainerStep.Waiting(spec, null, null, "PodInitializing"));
            }
            return new PodActions(replaced, toKill, null, sandboxAttempt, false, List.of(), init.steps(), init.done(), false, steps);
        }

        List<Container> remove = new ArrayList<>();
        List<Container> inPod = containersIn(containers, keep.getId());
        Init init = init(template, inPod, exited, nextAttempt, remove);
        if (!init.done()) {
            for (dev.edgeplane.api.v1.Container spec : template.getContainersList()) {
                steps.add(new ContainerStep.Waiting(spec, null, null, "PodInitializing"));
            }
            return new PodActions(replaced, toKill, keep, keep.getMetadata().getAttempt(), false, remove, init.steps(), false,
                    init.failed(), steps);
        }
        for (dev.edgeplane.api.v1.Container spec : template.getContainersList()) {
            List<Container> mine = attemptsOf(spec, inPod);
            remove.addAll(mine.subList(Math.min(2, mine.size()), mine.size())); // keep the latest and its last exit
            Container latest = mine.isEmpty() ? null : mine.get(0);
            Container previous = mine.size() > 1 ? mine.get(1) : null;
            int next = nextAttempt.getOrDefault(spec.getName(), 0);
            if (latest == null) {
                steps.add(new ContainerStep.Start(spec, next, null, null, null));
                continue;
            }
            switch (latest.getState()) {
                case CONTAINER_RUNNING -> {
                    if (previous != null && previous.getState() == ContainerState.CONTAINER_RUNNING) {
                        remove.add(previous); // a duplicate
                        previous = null;
                    }
                    ContainerStatus lastExit = previous == null ? null : exited.get(previous.getId());
                    Optional<String> restart = restartFor.apply(latest.getId());
                    steps.add(restart.isPresent() ? new ContainerStep.Kill(spec, latest, restart.get())
                            : new ContainerStep.Running(spec, latest, lastExit));
                }
                case CONTAINER_CREATED -> steps.add(new ContainerStep.StartCreated(spec, latest));
                default -> {
                    ContainerStatus status = exited.get(latest.getId());
                    if (status == null) {
                        steps.add(new ContainerStep.Start(spec, next, null, null, null));
                    } else if (!restarts(template, status.getExitCode())) {
                        steps.add(new ContainerStep.Terminated(spec, latest, status));
                    } else {
                        steps.add(new ContainerStep.Start(spec, Math.max(next, latest.getMetadata().getAttempt() + 1), latest, status, previous));
                    }
                }
            }
        }
        return new PodActions(replaced, toKill, keep, keep.getMetadata().getAttempt(), false, remove, init.steps(), true, false, steps);
    }

    /** Where a sandbox's init containers stand. */
    private record Init(List<ContainerStep> steps, boolean done, boolean failed) {}

    /**
     * The init containers in order: those that exited 0 are done; the first that is not decides the
     * step (start, restart after a failure, wait while it runs); the ones after it wait.
     */
    private static Init init(PodTemplate template, List<Container> inPod, Map<String, ContainerStatus> exited,
                             Map<String, Integer> nextAttempt, List<Container> remove) {
        List<ContainerStep> steps = new ArrayList<>();
        boolean blocked = false;
        boolean failed = false;
        for (dev.edgeplane.api.v1.Container spec : template.getInitContainersList()) {
            if (blocked) {
                steps.add(new ContainerStep.Waiting(spec, null, null, "PodInitializing"));
                continue;
            }
            List<Container> mine = attemptsOf(spec, inPod);
            remove.addAll(mine.subList(Math.min(2, mine.size()), mine.size()));
            Container latest = mine.isEmpty() ? null : mine.get(0);
            Container previous = mine.size() > 1 ? mine.get(1) : null;
            int next = nextAttempt.getOrDefault(spec.getName(), 0);
            ContainerStatus status = latest == null ? null : exited.get(latest.getId());
            if (status != null && status.getExitCode() == 0) {
                steps.add(new ContainerStep.Terminated(spec, latest, status));
                continue;
            }
            blocked = true;
            if (latest == null || (status == null && latest.getState() != ContainerState.CONTAINER_RUNNING
                    && latest.getState() != ContainerState.CONTAINER_CREATED)) {
                steps.add(new ContainerStep.Start(spec, next, null, null, null));
            } else if (latest.getState() == ContainerState.CONTAINER_RUNNING) {
                steps.add(new ContainerStep.Running(spec, latest, null));
            } else if (latest.getState() == ContainerState.CONTAINER_CREATED) {
                steps.add(new ContainerStep.StartCreated(spec, latest));
            } else if (template.getRestartPolicy() == PodTemplate.RestartPolicy.NEVER) {
                steps.add(new ContainerStep.Terminated(spec, latest, status));
                failed = true;
            } else {
                steps.add(new ContainerStep.Start(spec, Math.max(next, latest.getMetadata().getAttempt() + 1), latest, status, previous));
            }
        }
        return new Init(steps, !blocked, failed);
    }

    /** Kubernetes' restart policies; unspecified is Always. */
    static boolean restarts(PodTemplate template, int exitCode) {
        return switch (template.getRestartPolicy()) {
            case NEVER -> false;
            case ON_FAILURE -> exitCode != 0;
            default -> true;
        };
    }

    /** The template's containers as a pod that is not running left them. */
    private static List<ContainerStep> ended(PodTemplate template, List<Container> inPod, Map<String, ContainerStatus> exited) {
        List<ContainerStep> steps = new ArrayList<>();
        for (dev.edgeplane.api.v1.Container spec : template.getContainersList()) {
            List<Container> mine = attemptsOf(spec, inPod);
            Container latest = mine.isEmpty() ? null : mine.get(0);
            ContainerStatus status = latest == null ? null : exited.get(latest.getId());
            boolean terminal = status != null && !restarts(template, status.getExitCode());
            steps.add(terminal ? new ContainerStep.Terminated(spec, latest, status) : new ContainerStep.Waiting(spec, latest, status, ""));
        }
        return steps;
    }

    private static boolean finished(PodTemplate template, List<ContainerStep> steps) {
        return template.getRestartPolicy() != PodTemplate.RestartPolicy.ALWAYS
                && template.getRestartPolicy() != PodTemplate.RestartPolicy.RESTART_POLICY_UNSPECIFIED
                && !steps.isEmpty() && steps.stream().allMatch(s -> s instanceof ContainerStep.Terminated);
    }

    /** This container's attempts in the pod, newest first. */
    private static List<Container> attemptsOf(dev.edgeplane.api.v1.Container spec, List<Container> inPod) {
        return inPod.stream().filter(c -> spec.getName().equals(c.getMetadata().getName()))
                .sorted(Comparator.comparingInt((Container c) -> c.getMetadata().getAttempt()).reversed())
                .toList();
    }

    static List<Container> containersIn(List<Container> containers, String sandboxId) {
        return containers.stream().filter(c -> sandboxId.equals(c.getPodSandboxId())).toList();
    }
}
