package dev.edgeplane.agent.pods;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.Await;
import dev.edgeplane.api.v1.Capabilities;
import dev.edgeplane.api.v1.ContainerStatus;
import dev.edgeplane.api.v1.ExecAction;
import dev.edgeplane.api.v1.HostPathSource;
import dev.edgeplane.api.v1.Lifecycle;
import dev.edgeplane.api.v1.LifecycleHandler;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.VolumeMount;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.Probe;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.SecurityContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Init containers, several containers in a pod, and lifecycle hooks against real containers (containerd, runc). */
class PodLifecycleTest extends ReconcilerHarness {
    private static PodVolume hostDir(String name, Path dir) {
        return PodVolume.newBuilder().setName(name).setHostPath(HostPathSource.newBuilder().setPath(dir.toString())).build();
    }

    private static VolumeMount mount(String name, String path) {
        return VolumeMount.newBuilder().setName(name).setMountPath(path).build();
    }

    private static LifecycleHandler exec(String script) {
        return LifecycleHandler.newBuilder().setExec(ExecAction.newBuilder().addCommand("sh").addCommand("-c").addCommand(script)).build();
    }

    @Test
    void initContainersRunInOrderToCompletionBeforeEveryContainerOfThePod() throws Exception {
        String ns = "init";
        Path out = Files.createDirectories(tmp.resolve("out"));
        PodTemplate template = Pods.template(PodTemplate.RestartPolicy.ALWAYS,
                        Pods.container("app", Pods.BUSYBOX, "sh", "-c", "cat /out/order > /out/app-saw; sleep 3600").toBuilder()
                                .addVolumeMounts(mount("out", "/out")).build(),
                        Pods.container("sidecar", Pods.BUSYBOX, "sh", "-c", "echo sidecar > /out/sidecar; sleep 3600").toBuilder()
                                .addVolumeMounts(mount("out", "/out")).build())
                .toBuilder()
                .addVolumes(hostDir("out", out))
                .addInitContainers(Pods.container("first", Pods.BUSYBOX, "sh", "-c", "sleep 1; echo first > /out/order").toBuilder()
                        .addVolumeMounts(mount("out", "/out")))
                .addInitContainers(Pods.container("second", Pods.BUSYBOX, "sh", "-c", "echo second >> /out/order").toBuilder()
                        .addVolumeMounts(mount("out", "/out")))
                .build();
        desire(Pods.assignment(ns, "web", 0, template));
        String key = ns + "/web-0";
        Await.until(WAIT, "both containers running after both init containers", () -> replica(key).getPhase() == ReplicaStatus.Phase.RUNNING
                && Pods.running(cri, ns).size() == 2, () -> replica(key).toString());
        Await.until(WAIT, "the app saw what the init containers wrote", () -> written(out.resolve("app-saw"))
                && written(out.resolve("sidecar")));
        assertEquals("first\nsecond\n", Files.readString(out.resolve("app-saw")), "in order, each to completion first");
        ReplicaStatus running = replica(key);
        assertEquals(List.of("first", "second"), running.getInitContainersList().stream().map(c -> c.getName()).toList());
        assertTrue(running.getInitContainersList().stream().allMatch(c -> c.getState() == ContainerStatus.State.EXITED
                && c.getLastExitCode() == 0), running.toString());
        assertEquals(List.of("app", "sidecar"), running.getContainersList().stream().map(c -> c.getName()).toList());
        assertTrue(running.getReady(), "two containers without probes: ready");
    }

    @Test
    void aFailingInitContainerIsRetriedWithBackOffAndNothingElseStarts() throws Exception {
        String ns = "initfail";
        PodTemplate template = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("app", Pods.BUSYBOX, "sleep", "3600"))
                .toBuilder().addInitContainers(Pods.container("setup", Pods.BUSYBOX, "sh", "-c", "exit 7")).build();
        desire(Pods.assignment(ns, "web", 0, template));
        String key = ns + "/web-0";
        Await.until(WAIT, "retried, backing off, saying which init container", () -> replica(key).getRestartCount() >= 2
                && replica(key).getPhase() == ReplicaStatus.Phase.PENDING
                && replica(key).getMessage().startsWith("initializing 1/1: init container setup: back-off"), () -> replica(key).toString());
        assertTrue(Pods.containers(cri, ns).stream().noneMatch(c -> c.getMetadata().getName().equals("app")), "the app never started");
        assertEquals(7, replica(key).getLastExitCode());
    }

    @Test
    void underPolicyNeverAFailedInitContainerFailsTheReplica() throws Exception {
        String ns = "initnever";
        PodTemplate template = Pods.template(PodTemplate.RestartPolicy.NEVER, Pods.container("app", Pods.BUSYBOX, "sleep", "3600"))
                .toBuilder().addInitContainers(Pods.container("setup", Pods.BUSYBOX, "sh", "-c", "exit 3")).build();
        desire(Pods.assignment(ns, "job", 0, template));
        String key = ns + "/job-0";
        Await.until(WAIT, "FAILED", () -> replica(key).getPhase() == ReplicaStatus.Phase.FAILED, () -> replica(key).toString());
        assertEquals("init container setup failed with exit code 3", replica(key).getMessage());
        assertEquals(0, replica(key).getRestartCount(), "never retried");
    }

    @Test
    void aPreStopHookRunsBeforeTheStopAndDelaysIt() throws Exception {
        String ns = "prestop";
        Path out = Files.createDirectories(tmp.resolve("prestop"));
        // The container leaves on SIGTERM, noting it; the hook takes 3 s and notes when it ends.
        PodTemplate template = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("app", Pods.BUSYBOX, "sh", "-c",
                        "trap 'echo term >> /out/order; exit 0' TERM; while true; do sleep 0.2; done").toBuilder()
                        .addVolumeMounts(mount("out", "/out"))
                        .setLifecycle(Lifecycle.newBuilder()
                                .setPostStart(exec("echo started > /out/post-start"))
                                .setPreStop(exec("sleep 3; echo pre-stop >> /out/order"))).build())
                .toBuilder().addVolumes(hostDir("out", out)).setTerminationGraceSeconds(30).build();
        desire(Pods.assignment(ns, "web", 0, template));
        Await.until(WAIT, "running, its post_start hook done", () -> Pods.running(cri, ns).size() == 1
                && replica(ns + "/web-0").getPhase() == ReplicaStatus.Phase.RUNNING);
        assertEquals("started\n", Files.readString(out.resolve("post-start")), "post_start ran in the container");

        long removed = System.nanoTime();
        desire(); // no longer desired: the pod goes, its hook first
        Await.until(WAIT, "stopped and removed", () -> Pods.containers(cri, ns).isEmpty());
        double took = (System.nanoTime() - removed) / 1e9;
        assertEquals("pre-stop\nterm\n", Files.readString(out.resolve("order")), "the hook ended before SIGTERM came, which ended the container");
        assertTrue(took >= 3, "the hook's 3 s delayed the removal: " + took + " s");
    }

    @Test
    void aContainerThatIgnoresSigtermIsKilledAtTheGracePeriodAndAFailedPostStartRestartsIt() throws Exception {
        String ns = "grace";
        // sh as PID 1 of its namespace ignores SIGTERM; the liveness probe fails at once, so it is stopped.
        PodTemplate template = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("app", Pods.BUSYBOX, "sh", "-c",
                        "while true; do sleep 1; done").toBuilder()
                        .setLivenessProbe(Probe.newBuilder().setExec(ExecAction.newBuilder().addCommand("false"))
                                .setPeriodSeconds(1).setFailureThreshold(1))
                        .setLifecycle(Lifecycle.newBuilder().setPostStart(exec("exit 0"))).build())
                .toBuilder().setTerminationGraceSeconds(2).build();
        desire(Pods.assignment(ns, "web", 0, template));
        String key = ns + "/web-0";
        Await.until(WAIT, "killed by SIGKILL after its grace and restarted", () -> replica(key).getRestartCount() >= 1
                && replica(key).getContainers(0).getLastExitCode() == 137, () -> replica(key) + " " + events);
        dev.edgeplane.cri.v1.ContainerStatus first = Pods.containers(cri, ns).stream()
                .filter(c -> c.getMetadata().getAttempt() == 0).findFirst()
                .flatMap(c -> cri.containerStatus(c.getId())).orElseThrow();
        double ran = (first.getFinishedAt() - first.getStartedAt()) / 1e9;
        assertTrue(ran >= 2, "SIGTERM was ignored, SIGKILL came after the 2 s grace: ran " + ran + " s");
        assertTrue(events.stream().anyMatch(e -> e.startsWith("Killing: container app: Liveness probe failed: command exited with code 1")),
                events.toString());

        // A post_start hook that fails kills the container; it restarts under the policy.
        String ns2 = "poststart";
        desire(Pods.assignment(ns2, "bad", 0, Pods.template(PodTemplate.RestartPolicy.ALWAYS,
                Pods.container("app", Pods.BUSYBOX, "sleep", "3600").toBuilder()
                        .setLifecycle(Lifecycle.newBuilder().setPostStart(exec("exit 4"))).build())));
        Await.until(WAIT, "restarted after its failed post_start", () -> replica(ns2 + "/bad-0").getRestartCount() >= 1,
                () -> replica(ns2 + "/bad-0") + " " + events);
        assertTrue(events.stream().anyMatch(e -> e.startsWith("FailedPostStartHook: post_start hook of container app failed: command exited with code 4")),
                events.toString());
    }

    @Test
    void theSecurityContextReachesTheContainerAndTheHostsPolicyIsKept() throws Exception {
        String ns = "security";
        Path out = Files.createDirectories(tmp.resolve("security"));
        Files.setPosixFilePermissions(out, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        // As uid 1000 / gid 2000, on a read-only root, without CAP_CHOWN: each shows in what the shell can do.
        PodTemplate template = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("app", Pods.BUSYBOX, "sh", "-c",
                        "id -u > /out/uid; id -g > /out/gid; (touch /rootfs-probe 2>/dev/null && echo writable || echo read-only) > /out/root;"
                                + " sleep 3600").toBuilder()
                        .addVolumeMounts(mount("out", "/out"))
                        .setSecurityContext(SecurityContext.newBuilder().setRunAsUser(1000).setRunAsGroup(2000).setRunAsNonRoot(true)
                                .setReadOnlyRootFilesystem(true)).build(),
                Pods.container("chown", Pods.BUSYBOX, "sh", "-c",
                        "touch /tmp/f; (chown 1:1 /tmp/f 2>/dev/null && echo allowed || echo denied) > /out/chown; sleep 3600").toBuilder()
                        .addVolumeMounts(mount("out", "/out"))
                        .setSecurityContext(SecurityContext.newBuilder().setCapabilities(Capabilities.newBuilder().addDrop("CHOWN"))).build())
                .toBuilder().addVolumes(hostDir("out", out)).build();
        desire(Pods.assignment(ns, "web", 0, template));
        // Non-empty, not just there: the shell creates each file (the redirect) before the check's echo writes it.
        Await.until(WAIT, "both ran their checks", () -> written(out.resolve("root")) && written(out.resolve("chown")),
                () -> replica(ns + "/web-0").toString());
        assertEquals("1000", Files.readString(out.resolve("uid")).strip());
        assertEquals("2000", Files.readString(out.resolve("gid")).strip());
        assertEquals("read-only", Files.readString(out.resolve("root")).strip());
        assertEquals("denied", Files.readString(out.resolve("chown")).strip(), "CAP_CHOWN dropped (root may chown otherwise)");

        // The host's policy: no privileged containers unless the agent allows them; run_as_non_root on a root image.
        desire(Pods.assignment(ns, "priv", 0, Pods.template(PodTemplate.RestartPolicy.ALWAYS,
                        Pods.container("app", Pods.BUSYBOX, "sleep", "3600").toBuilder()
                                .setSecurityContext(SecurityContext.newBuilder().setPrivileged(true)).build())),
                Pods.assignment(ns, "rootimg", 0, Pods.template(PodTemplate.RestartPolicy.ALWAYS,
                        Pods.container("app", Pods.BUSYBOX, "sleep", "3600").toBuilder()
                                .setSecurityContext(SecurityContext.newBuilder().setRunAsNonRoot(true)).build())));
        Await.until(WAIT, "both refused, saying why", () -> replica(ns + "/priv-0").getMessage()
                        .equals("container app asks to be privileged, which this node does not allow (edge-agent --allow-privileged)")
                        && replica(ns + "/rootimg-0").getMessage().startsWith("container app has run_as_non_root and image " + Pods.BUSYBOX + " runs as"),
                () -> replica(ns + "/priv-0") + " " + replica(ns + "/rootimg-0"));
        assertEquals(ReplicaStatus.Phase.PENDING, replica(ns + "/priv-0").getPhase());
        assertEquals("CreateContainerConfigError", replica(ns + "/priv-0").getContainers(0).getReason());
        assertTrue(Pods.containers(cri, ns).stream().noneMatch(c -> c.getLabelsMap().get(PodLabels.REPLICA).equals("priv-0")),
                "nothing was created");

        // Host paths only under what this host allows (here: the test's temp dir): "/" would be root on the host.
        desire(Pods.assignment(ns, "hostroot", 0, Pods.template(PodTemplate.RestartPolicy.ALWAYS,
                        Pods.container("app", Pods.BUSYBOX, "sleep", "3600").toBuilder().addVolumeMounts(mount("root", "/host")).build())
                .toBuilder().addVolumes(hostDir("root", Path.of("/"))).build()));
        Await.until(WAIT, "refused, saying why", () -> replica(ns + "/hostroot-0").getMessage().startsWith("hostPath volume root (/) is not under"),
                () -> replica(ns + "/hostroot-0").toString());
        assertEquals(ReplicaStatus.Phase.PENDING, replica(ns + "/hostroot-0").getPhase());
        assertTrue(Pods.sandboxes(cri, ns).stream().noneMatch(s -> s.getLabelsMap().get(PodLabels.REPLICA).equals("hostroot-0")),
                "not even a sandbox");
    }

    @Test
    void aContainerLogPastItsSizeIsRotatedAndTheRuntimeWritesAFreshOne() throws Exception {
        String ns = "logs";
        desire(Pods.assignment(ns, "chatty", 0, Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("app", Pods.BUSYBOX, "sh", "-c",
                "while true; do head -c 2000 /dev/zero | tr '\\0' x; echo; sleep 0.01; done"))));
        Await.until(WAIT, "running", () -> Pods.running(cri, ns).size() == 1);
        String id = Pods.running(cri, ns).get(0);
        Path log = Path.of(cri.containerStatus(id).orElseThrow().getLogPath());
        LogRotator rotator = new LogRotator(cri, 64 * 1024, 3, Clock.systemUTC());
        int[] rotations = {0};
        Await.until(WAIT, "rotated four times", () -> {
            rotations[0] += rotator.rotateOnce();
            return rotations[0] >= 4;
        });
        try (var files = Files.list(log.getParent())) {
            List<String> names = files.map(p -> p.getFileName().toString()).sorted().toList();
            assertEquals(3, names.size(), "the live log and the two newest rotated ones: " + names);
            assertTrue(names.contains(log.getFileName().toString()), names.toString());
        }
        long before = Files.size(log);
        Await.until(WAIT, "the runtime writes on to the reopened file", () -> log.toFile().length() > before + 4096);
    }

    /** The file exists and holds something. */
    private static boolean written(Path file) {
        try {
            return Files.size(file) > 0;
        } catch (java.io.IOException notYet) {
            return false;
        }
    }
}
