package dev.edgeplane.agent.pods;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.Await;
import dev.edgeplane.api.v1.ExecAction;
import dev.edgeplane.api.v1.HTTPGetAction;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.Probe;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.TCPSocketAction;
import dev.edgeplane.testkit.FreePorts;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Probes against real containers (containerd, runc, busybox's httpd) with no control plane at all:
 * the agent acts on them on its own.
 */
class PodProbesTest extends ReconcilerHarness {
    @Test
    void aHungHttpServerIsRestartedByItsLivenessProbe() throws Exception {
        String ns = "liveness";
        int port = FreePorts.next();
        // httpd answers for 3 s, then is stopped (SIGSTOP): connections are accepted and never answered.
        PodTemplate hangs = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("web", Pods.BUSYBOX, "sh", "-c",
                "mkdir -p /www && echo ok > /www/healthz && httpd -f -p 127.0.0.1:" + port + " -h /www & sleep 3; kill -STOP $!; sleep 3600")
                .toBuilder().setLivenessProbe(Probe.newBuilder().setHttpGet(HTTPGetAction.newBuilder().setPath("/healthz").setPort(port))
                        .setPeriodSeconds(1).setTimeoutSeconds(1).setFailureThreshold(2)).build());
        desire(Pods.assignment(ns, "web", 0, hangs));
        String key = ns + "/web-0";
        Await.until(WAIT, "running and live", () -> replica(key).getPhase() == ReplicaStatus.Phase.RUNNING && replica(key).getReady(),
                () -> replica(key).toString());
        List<String> first = Pods.running(cri, ns);

        Await.until(WAIT, "killed by its liveness probe and restarted", () -> replica(key).getRestartCount() >= 1
                && replica(key).getPhase() == ReplicaStatus.Phase.RUNNING && !Pods.running(cri, ns).equals(first), () -> replica(key) + " " + events);
        assertTrue(events.stream().anyMatch(e -> e.startsWith("Unhealthy: container web: Liveness probe failed: HTTP GET")
                && e.contains("timed out")), events.toString());
        assertTrue(events.stream().anyMatch(e -> e.startsWith("Killing: container web: Liveness probe failed")), events.toString());
        assertEquals(1, Pods.sandboxes(cri, ns).size(), "the container restarts in its pod; the pod stays");
    }

    @Test
    void aFailingReadinessProbeKeepsTheReplicaRunningButNotReady() throws Exception {
        String ns = "readiness";
        int port = FreePorts.next();
        // Ready (by an exec probe through CRI ExecSync) only once /tmp/ready exists, after 4 s; alive (TCP) throughout.
        PodTemplate slowStart = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("web", Pods.BUSYBOX, "sh", "-c",
                "httpd -p 127.0.0.1:" + port + " -h /; sleep 4; touch /tmp/ready; sleep 3600")
                .toBuilder()
                .setReadinessProbe(Probe.newBuilder().setExec(ExecAction.newBuilder().addCommand("test").addCommand("-f").addCommand("/tmp/ready"))
                        .setPeriodSeconds(1).setFailureThreshold(1))
                .setLivenessProbe(Probe.newBuilder().setTcpSocket(TCPSocketAction.newBuilder().setPort(port)).setPeriodSeconds(1))
                .build());
        desire(Pods.assignment(ns, "web", 0, slowStart));
        String key = ns + "/web-0";
        Await.until(WAIT, "running, not ready, saying why", () -> replica(key).getPhase() == ReplicaStatus.Phase.RUNNING
                && !replica(key).getReady() && replica(key).getContainers(0).getProbeFailure().startsWith("Readiness probe failed: command exited with code 1"),
                () -> replica(key).toString());
        assertTrue(replica(key).getContainers(0).getStarted(), "started (no startup probe) but not ready");

        Await.until(WAIT, "ready once the file exists", () -> replica(key).getReady(), () -> replica(key).toString());
        ReplicaStatus ready = replica(key);
        assertTrue(ready.getContainers(0).getReady());
        assertEquals("", ready.getContainers(0).getProbeFailure(), "the failure is gone once it passes");
        assertTrue(ready.hasReadyTransitionTime());
        assertEquals(0, ready.getRestartCount(), "readiness never restarts, and the TCP liveness probe kept passing");
    }
}
