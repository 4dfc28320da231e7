package dev.edgeplane.agent.pods;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.pods.PodActions.ContainerStep;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.cri.v1.Container;
import dev.edgeplane.cri.v1.ContainerMetadata;
import dev.edgeplane.cri.v1.ContainerState;
import dev.edgeplane.cri.v1.ContainerStatus;
import dev.edgeplane.cri.v1.PodSandbox;
import dev.edgeplane.cri.v1.PodSandboxMetadata;
import dev.edgeplane.cri.v1.PodSandboxState;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The pod worker's decisions, from what the runtime shows, without a runtime. */
class PodActionsTest {
    private static final PodTemplate ALWAYS = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("main", "img:1"));
    private static final PodTemplate NEVER = Pods.template(PodTemplate.RestartPolicy.NEVER, Pods.container("main", "img:1"));

    private static PodSandbox sandbox(String id, String hash, boolean ready, long createdAt, int attempt) {
        return PodSandbox.newBuilder().setId(id).setCreatedAt(createdAt)
                .setState(ready ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY)
                .setMetadata(PodSandboxMetadata.newBuilder().setAttempt(attempt))
                .putLabels(PodLabels.TEMPLATE_HASH, hash).build();
    }

    private static Container container(String id, String sandbox, String name, int attempt, ContainerState state) {
        return Container.newBuilder().setId(id).setPodSandboxId(sandbox).setState(state)
                .setMetadata(ContainerMetadata.newBuilder().setName(name).setAttempt(attempt)).build();
    }

    private static ContainerStatus exit(String id, int code) {
        return ContainerStatus.newBuilder().setId(id).setState(ContainerState.CONTAINER_EXITED).setExitCode(code)
                .setStartedAt(1_000_000_000L).setFinishedAt(2_000_000_000L).build();
    }

    private static PodActions compute(PodTemplate template, List<PodSandbox> sandboxes, List<Container> containers,
                                      Map<String, ContainerStatus> exited, Map<String, String> restart) {
        return PodActions.compute("h1", template, sandboxes, containers, exited, id -> Optional.ofNullable(restart.get(id)));
    }

    @Test
    void aNewReplicaGetsASandboxAndStartsEveryContainer() {
        PodActions actions = compute(ALWAYS, List.of(), List.of(), Map.of(), Map.of());
        assertNull(actions.sandbox());
        assertEquals(0, actions.sandboxAttempt());
        ContainerStep.Start start = assertInstanceOf(ContainerStep.Start.class, actions.steps().get(0));
        assertEquals(0, start.attempt());
        assertNull(start.lastExit());
    }

    @Test
    void aRunningHealthyContainerIsLeftAlone() {
        PodSandbox s = sandbox("s1", "h1", true, 1, 0);
        Container c = container("c1", "s1", "main", 0, ContainerState.CONTAINER_RUNNING);
        PodActions actions = compute(ALWAYS, List.of(s), List.of(c), Map.of(), Map.of());
        assertSame(s, actions.sandbox());
        assertTrue(actions.replaced().isEmpty() && actions.sandboxesToKill().isEmpty() && actions.containersToRemove().isEmpty());
        assertInstanceOf(ContainerStep.Running.class, actions.steps().get(0));
    }

    @Test
    void aFailedLivenessProbeKillsTheRunningContainer() {
        PodSandbox s = sandbox("s1", "h1", true, 1, 0);
        Container c = container("c1", "s1", "main", 0, ContainerState.CONTAINER_RUNNING);
        PodActions actions = compute(ALWAYS, List.of(s), List.of(c), Map.of(), Map.of("c1", "Liveness probe failed: HTTP 500"));
        ContainerStep.Kill kill = assertInstanceOf(ContainerStep.Kill.class, actions.steps().get(0));
        assertEquals("Liveness probe failed: HTTP 500", kill.reason());
        assertSame(c, kill.container());
    }

    @Test
    void anExitedContainerRestartsAsTheNextAttemptUnderPolicyAlways() {
        PodSandbox s = sandbox("s1", "h1", true, 1, 0);
        Container old = container("c0", "s1", "main", 0, ContainerState.CONTAINER_EXITED);
        Container last = container("c1", "s1", "main", 1, ContainerState.CONTAINER_EXITED);
        PodActions actions = compute(ALWAYS, List.of(s), List.of(old, last), Map.of("c0", exit("c0", 1), "c1", exit("c1", 137)), Map.of());
        ContainerStep.Start start = assertInstanceOf(ContainerStep.Start.class, actions.steps().get(0));
        assertEquals(2, start.attempt());
        assertEquals(137, start.lastExit().getExitCode());
        assertSame(old, start.previous(), "the attempt before the exited one goes once the new one runs");
    }

    @Test
    void policyNeverLeavesAnExitedContainerTerminatedAndAFinishedPodAlone() {
        PodSandbox s = sandbox("s1", "h1", false, 1, 0);
        Container c = container("c1", "s1", "main", 0, ContainerState.CONTAINER_EXITED);
        PodActions actions = compute(NEVER, List.of(s), List.of(c), Map.of("c1", exit("c1", 0)), Map.of());
        assertTrue(actions.finished());
        assertInstanceOf(ContainerStep.Terminated.class, actions.steps().get(0));
        assertTrue(actions.sandboxesToKill().isEmpty(), "a finished pod is not a dead one");
    }

    @Test
    void onFailureRestartsOnlyANonZeroExit() {
        PodTemplate onFailure = Pods.template(PodTemplate.RestartPolicy.ON_FAILURE, Pods.container("main", "img:1"));
        PodSandbox s = sandbox("s1", "h1", true, 1, 0);
        Container c = container("c1", "s1", "main", 0, ContainerState.CONTAINER_EXITED);
        assertInstanceOf(ContainerStep.Start.class, compute(onFailure, List.of(s), List.of(c), Map.of("c1", exit("c1", 2)), Map.of()).steps().get(0));
        assertInstanceOf(ContainerStep.Terminated.class, compute(onFailure, List.of(s), List.of(c), Map.of("c1", exit("c1", 0)), Map.of()).steps().get(0));
    }

    @Test
    void aPodOfAnotherTemplateIsReplacedByANewSandbox() {
        PodSandbox old = sandbox("s0", "h0", true, 1, 0);
        Container c = container("c0", "s0", "main", 0, ContainerState.CONTAINER_RUNNING);
        PodActions actions = compute(ALWAYS, List.of(old), List.of(c), Map.of(), Map.of());
        assertEquals(List.of(old), actions.replaced());
        assertNull(actions.sandbox());
        assertEquals(1, actions.sandboxAttempt(), "attempts keep counting across templates");
        assertEquals(1, assertInstanceOf(ContainerStep.Start.class, actions.steps().get(0)).attempt());
    }

    @Test
    void theNewestReadySandboxIsKeptAndDuplicatesOrDeadOnesGo() {
        PodSandbox dead = sandbox("s0", "h1", false, 1, 0);
        PodSandbox older = sandbox("s1", "h1", true, 2, 1);
        PodSandbox newest = sandbox("s2", "h1", true, 3, 2);
        PodActions actions = compute(ALWAYS, List.of(dead, older, newest), List.of(), Map.of(), Map.of());
        assertSame(newest, actions.sandbox());
        assertEquals(List.of(older, dead), actions.sandboxesToKill());
    }

    @Test
    void onlyTheLatestAttemptAndItsPredecessorAreKeptAndRunningDuplicatesGo() {
        PodSandbox s = sandbox("s1", "h1", true, 1, 0);
        Container a0 = container("c0", "s1", "main", 0, ContainerState.CONTAINER_EXITED);
        Container a1 = container("c1", "s1", "main", 1, ContainerState.CONTAINER_RUNNING);
        Container a2 = container("c2", "s1", "main", 2, ContainerState.CONTAINER_RUNNING);
        PodActions actions = compute(ALWAYS, List.of(s), List.of(a0, a1, a2), Map.of("c0", exit("c0", 1)), Map.of());
        assertEquals(List.of(a0, a1), actions.containersToRemove());
        assertSame(a2, assertInstanceOf(ContainerStep.Running.class, actions.steps().get(0)).container());
    }

    @Test
    void aCreatedButNeverStartedContainerIsStarted() {
        PodSandbox s = sandbox("s1", "h1", true, 1, 0);
        Container c = container("c1", "s1", "main", 0, ContainerState.CONTAINER_CREATED);
        assertInstanceOf(ContainerStep.StartCreated.class, compute(ALWAYS, List.of(s), List.of(c), Map.of(), Map.of()).steps().get(0));
    }

    private static final PodTemplate WITH_INIT = ALWAYS.toBuilder()
            .addInitContainers(Pods.container("first", "img:1")).addInitContainers(Pods.container("second", "img:1")).build();

    @Test
    void aNewSandboxStartsOnlyItsFirstInitContainer() {
        PodActions actions = compute(WITH_INIT, List.of(), List.of(), Map.of(), Map.of());
        assertEquals(false, actions.initialized());
        assertEquals("first", assertInstanceOf(ContainerStep.Start.class, actions.initSteps().get(0)).spec().getName());
        assertEquals("PodInitializing", assertInstanceOf(ContainerStep.Waiting.class, actions.initSteps().get(1)).reason());
        assertEquals("PodInitializing", assertInstanceOf(ContainerStep.Waiting.class, actions.steps().get(0)).reason());
    }

    @Test
    void theNextInitContainerStartsOnlyAfterThePreviousExitedZero() {
        PodSandbox s = sandbox("s1", "h1", true, 1, 0);
        Container first = container("i1", "s1", "first", 0, ContainerState.CONTAINER_EXITED);
        PodActions actions = compute(WITH_INIT, List.of(s), List.of(first), Map.of("i1", exit("i1", 0)), Map.of());
        assertInstanceOf(ContainerStep.Terminated.class, actions.initSteps().get(0));
        assertEquals("second", assertInstanceOf(ContainerStep.Start.class, actions.initSteps().get(1)).spec().getName());
        assertInstanceOf(ContainerStep.Waiting.class, actions.steps().get(0));

        Container second = container("i2", "s1", "second", 0, ContainerState.CONTAINER_EXITED);
        PodActions done = compute(WITH_INIT, List.of(s), List.of(first, second), Map.of("i1", exit("i1", 0), "i2", exit("i2", 0)), Map.of());
        assertTrue(done.initialized());
        assertInstanceOf(ContainerStep.Start.class, done.steps().get(0));
    }

    @Test
    void aFailedInitContainerIsRetriedOrUnderNeverFailsThePod() {
        PodSandbox s = sandbox("s1", "h1", true, 1, 0);
        Container first = container("i1", "s1", "first", 0, ContainerState.CONTAINER_EXITED);
        PodActions retried = compute(WITH_INIT, List.of(s), List.of(first), Map.of("i1", exit("i1", 1)), Map.of());
        ContainerStep.Start again = assertInstanceOf(ContainerStep.Start.class, retried.initSteps().get(0));
        assertEquals(1, again.attempt());
        assertEquals(1, again.lastExit().getExitCode());

        PodTemplate never = WITH_INIT.toBuilder().setRestartPolicy(PodTemplate.RestartPolicy.NEVER).build();
        PodActions failed = compute(never, List.of(s), List.of(first), Map.of("i1", exit("i1", 1)), Map.of());
        assertTrue(failed.initFailed());
        assertInstanceOf(ContainerStep.Terminated.class, failed.initSteps().get(0));
        assertTrue(failed.steps().stream().allMatch(step -> step instanceof ContainerStep.Waiting), "nothing else starts");
    }
}
