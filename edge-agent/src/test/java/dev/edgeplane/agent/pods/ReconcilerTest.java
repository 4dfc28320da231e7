package dev.edgeplane.agent.pods;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.Await;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.Resources;
import dev.edgeplane.cri.v1.ContainerStatus;
import dev.edgeplane.testkit.Containerd;
import dev.edgeplane.testkit.Registry;
import dev.edgeplane.testkit.TestImages;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The reconciler against a real containerd (CRI, runc, overlayfs) and a real registry. */
class ReconcilerTest extends ReconcilerHarness {
    @Test
    void runsReplacesAndRemovesReplicas() throws Exception {
        String ns = "rrr";
        PodTemplate sleeper = Pods.template(PodTemplate.RestartPolicy.ALWAYS,
                Pods.container("main", Pods.BUSYBOX, "sleep", "3600").toBuilder()
                        .addEnv(dev.edgeplane.api.v1.EnvVar.newBuilder().setName("GREETING").setValue("hi"))
                        .setLimits(Resources.newBuilder().setCpuMillis(250).setMemoryBytes(64L << 20)).build());
        desire(Pods.assignment(ns, "web", 0, sleeper), Pods.assignment(ns, "web", 1, sleeper));
        Await.until(WAIT, "two containers running", () -> Pods.running(cri, ns).size() == 2, () -> status.all().toString());
        List<String> first = Pods.running(cri, ns);
        Await.until(WAIT, "both replicas reported RUNNING", () -> status.all().stream()
                .filter(s -> s.getNamespace().equals(ns) && s.getPhase() == ReplicaStatus.Phase.RUNNING).count() == 2);
        assertEquals(2, Pods.sandboxes(cri, ns).size());

        // Limits reach the runtime as CRI linux resources; the log lands in CRI format in our log dir.
        ContainerStatus inspected = cri.containerStatus(first.get(0)).orElseThrow();
        assertTrue(inspected.getLogPath().startsWith(tmp.resolve("logs").toString()), inspected.getLogPath());
        assertTrue(Files.exists(Path.of(inspected.getLogPath())), inspected.getLogPath());
        String spec = containerd.ctr("-n", Containerd.CRI_NAMESPACE, "containers", "info", first.get(0)).replaceAll("\\s", "");
        assertTrue(spec.contains("\"quota\":25000") && spec.contains("\"period\":100000"), "cpu 250m -> CFS quota");
        assertTrue(spec.contains("\"limit\":" + (64L << 20)), "memory limit");
        assertTrue(spec.contains("\"GREETING=hi\""), "env");

        // A new command is a new template: both pods are replaced.
        PodTemplate changed = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("main", Pods.BUSYBOX, "sleep", "7200"));
        desire(Pods.assignment(ns, "web", 0, changed), Pods.assignment(ns, "web", 1, changed));
        Await.until(WAIT, "two new containers running, old ones gone", () -> {
            List<String> now = Pods.running(cri, ns);
            return now.size() == 2 && now.stream().noneMatch(first::contains) && Pods.containers(cri, ns).size() == 2;
        }, () -> Pods.containers(cri, ns).toString());
        assertEquals(2, Pods.sandboxes(cri, ns).size());

        // Scale to 0: everything goes.
        desire();
        Await.until(WAIT, "no pods left", () -> Pods.sandboxes(cri, ns).isEmpty() && Pods.containers(cri, ns).isEmpty());
        Await.until(WAIT, "statuses removed", () -> status.all().isEmpty());
    }

    @Test
    void keepsWorkingAcrossAContainerdRestart() throws Exception {
        String ns = "ctdrestart";
        PodTemplate sleeper = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("main", Pods.BUSYBOX, "sleep", "3600"));
        desire(Pods.assignment(ns, "svc", 0, sleeper));
        Await.until(WAIT, "one container running", () -> Pods.running(cri, ns).size() == 1);
        List<String> before = Pods.running(cri, ns);

        containerd.restart(); // containers keep running; the agent's connection breaks and must come back
        desire(Pods.assignment(ns, "svc", 0, sleeper), Pods.assignment(ns, "svc", 1, sleeper));
        Await.until(WAIT, "scaled up after the restart, the first container untouched",
                () -> Pods.running(cri, ns).size() == 2 && Pods.running(cri, ns).containsAll(before),
                () -> String.valueOf(status.all()));
    }

    @Test
    void crashingContainerIsRestartedWithBackoffAndCounted() throws Exception {
        String ns = "crash";
        PodTemplate crasher = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("main", Pods.BUSYBOX, "sh", "-c", "exit 3"));
        desire(Pods.assignment(ns, "bad", 0, crasher));
        Await.until(WAIT, "restarted at least 3 times", () -> {
            ReplicaStatus s = status.get(ns + "/bad-0");
            return s != null && s.getRestartCount() >= 3;
        }, () -> String.valueOf(status.get(ns + "/bad-0")));
        Await.until(WAIT, "reported backing off with the exit code", () -> {
            ReplicaStatus s = status.get(ns + "/bad-0");
            return s.getLastExitCode() == 3 && s.getMessage().contains("back-off") && s.getPhase() == ReplicaStatus.Phase.PENDING;
        }, () -> String.valueOf(status.get(ns + "/bad-0")));
        assertTrue(Pods.containers(cri, ns).size() <= 2, "only the latest and the previous container are kept");
        assertEquals(1, Pods.sandboxes(cri, ns).size());
    }

    @Test
    void restartPolicyNeverLeavesAFinishedPodAlone() throws Exception {
        String ns = "once";
        desire(Pods.assignment(ns, "job", 0, Pods.template(PodTemplate.RestartPolicy.NEVER,
                Pods.container("main", Pods.BUSYBOX, "sh", "-c", "exit 0"))));
        Await.until(WAIT, "SUCCEEDED", () -> {
            ReplicaStatus s = status.get(ns + "/job-0");
            return s != null && s.getPhase() == ReplicaStatus.Phase.SUCCEEDED;
        }, () -> String.valueOf(status.get(ns + "/job-0")));
        assertEquals(0, status.get(ns + "/job-0").getRestartCount());
        assertEquals(1, Pods.containers(cri, ns).size());
    }

    @Test
    void pullsFromARegistryHonouringThePullPolicy() throws Exception {
        String ns = "pull";
        try (Registry registry = Registry.start()) {
            String image = registry.push(TestImages.BUSYBOX.archive(), "edgeplane/busybox:2");
            Container never = Pods.container("main", image, "sleep", "3600").toBuilder()
                    .setImagePullPolicy(Container.PullPolicy.NEVER).build();
            desire(Pods.assignment(ns, "pulled", 0, Pods.template(PodTemplate.RestartPolicy.ALWAYS, never)));
            Await.until(WAIT, "Never: pending, image not present", () -> {
                ReplicaStatus s = status.get(ns + "/pulled-0");
                return s != null && s.getPhase() == ReplicaStatus.Phase.PENDING && s.getMessage().contains("not present");
            }, () -> String.valueOf(status.get(ns + "/pulled-0")));
            assertTrue(cri.image(image).isEmpty());

            Container always = never.toBuilder().setImagePullPolicy(Container.PullPolicy.ALWAYS).build();
            desire(Pods.assignment(ns, "pulled", 0, Pods.template(PodTemplate.RestartPolicy.ALWAYS, always)));
            Await.until(WAIT, "Always: pulled through CRI and running", () -> Pods.running(cri, ns).size() == 1,
                    () -> String.valueOf(status.get(ns + "/pulled-0")));
            assertTrue(cri.image(image).isPresent());
            String running = Pods.running(cri, ns).get(0);
            assertNotEquals("", running);
        }
    }

    @Test
    void aNewTemplateWhoseImageCannotBePulledLeavesTheOldPodRunning() throws Exception {
        String ns = "badtag";
        try (Registry registry = Registry.start()) {
            desire(Pods.assignment(ns, "web", 0, Pods.template(PodTemplate.RestartPolicy.ALWAYS,
                    Pods.container("main", Pods.BUSYBOX, "sleep", "3600"))));
            Await.until(WAIT, "the first version running", () -> Pods.running(cri, ns).size() == 1);
            List<String> before = Pods.running(cri, ns);

            // A tag the registry does not have: the pull fails, and the running pod is not touched.
            String missing = registry.address() + "/edgeplane/busybox:no-such-tag";
            desire(Pods.assignment(ns, "web", 0, Pods.template(PodTemplate.RestartPolicy.ALWAYS,
                    Pods.container("main", missing, "sleep", "3600"))));
            Await.until(WAIT, "pending, saying the old pod keeps running", () -> {
                ReplicaStatus s = status.get(ns + "/web-0");
                return s != null && s.getPhase() == ReplicaStatus.Phase.PENDING && s.getMessage().contains("pulling image " + missing)
                        && s.getMessage().contains("the pod of the previous template keeps running");
            }, () -> String.valueOf(status.get(ns + "/web-0")));
            assertEquals(before, Pods.running(cri, ns), "the old container still runs");
            assertEquals(1, Pods.sandboxes(cri, ns).size());
        }
    }
}
