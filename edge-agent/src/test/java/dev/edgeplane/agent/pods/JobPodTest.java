package dev.edgeplane.agent.pods;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.agent.Await;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import org.junit.jupiter.api.Test;

/**
 * A Job's pod on the agent, against a real containerd: it runs to SUCCEEDED or FAILED once; the
 * control plane marking it counted (Assignment.job_pod_counted) changes nothing on the node; after an
 * agent restart it is adopted finished (not run again) and its end is reported again; it goes when
 * its assignment goes.
 */
class JobPodTest extends ReconcilerHarness {
    private static Assignment jobPod(String ns, String replica, PodTemplate.RestartPolicy policy, String script) {
        return Assignment.newBuilder().setNode("node-1").setNamespace(ns).setApp("job.pi").setReplica(replica).setGeneration(1)
                .setTemplate(Pods.template(policy, Pods.container("main", Pods.BUSYBOX, "sh", "-c", script))).build();
    }

    private void awaitPhase(String key, ReplicaStatus.Phase phase) {
        Await.until(WAIT, key + " " + phase, () -> replica(key).getPhase() == phase, () -> replica(key).toString());
    }

    @Test
    void aFinishedJobPodStaysFinishedWhenCountedAndAcrossAnAgentRestartAndGoesWithItsAssignment() throws Exception {
        String ns = "jobpods";
        Assignment ok = jobPod(ns, "pi-b2x4k", PodTemplate.RestartPolicy.NEVER, "echo done; exit 0");
        Assignment bad = jobPod(ns, "pi-9zzkq", PodTemplate.RestartPolicy.NEVER, "exit 7");
        desire(ok, bad);
        awaitPhase(ns + "/pi-b2x4k", ReplicaStatus.Phase.SUCCEEDED);
        awaitPhase(ns + "/pi-9zzkq", ReplicaStatus.Phase.FAILED);
        assertEquals(7, replica(ns + "/pi-9zzkq").getLastExitCode());
        assertEquals("job.pi", replica(ns + "/pi-b2x4k").getApp());
        assertEquals(2, Pods.containers(cri, ns).size());

        // Counted by the control plane: the same template, so nothing happens to the finished pods.
        desire(ok.toBuilder().setJobPodCounted(true).build(), bad.toBuilder().setJobPodCounted(true).build());
        Thread.sleep(2_000); // four sync periods
        assertEquals(2, Pods.containers(cri, ns).size());
        assertEquals(0, Pods.running(cri, ns).size());
        assertEquals(ReplicaStatus.Phase.SUCCEEDED, replica(ns + "/pi-b2x4k").getPhase());

        // An agent restart: adopted as they are, reported again, not run again.
        restartReconciler();
        awaitPhase(ns + "/pi-b2x4k", ReplicaStatus.Phase.SUCCEEDED);
        awaitPhase(ns + "/pi-9zzkq", ReplicaStatus.Phase.FAILED);
        Thread.sleep(2_000);
        assertEquals(2, Pods.containers(cri, ns).size(), "not run again after the restart");
        assertEquals(0, replica(ns + "/pi-b2x4k").getRestartCount());
        assertEquals(0, replica(ns + "/pi-9zzkq").getRestartCount());

        // The Job deleted: its pods leave the node.
        desire();
        Await.until(WAIT, "job pods removed", () -> Pods.containers(cri, ns).isEmpty() && Pods.sandboxes(cri, ns).isEmpty());
    }

    @Test
    void anOnFailurePodIsRestartedInPlaceAndItsRestartsAreReported() throws Exception {
        String ns = "jobretry";
        desire(jobPod(ns, "pi-x2rtz", PodTemplate.RestartPolicy.ON_FAILURE, "exit 2"));
        Await.until(WAIT, "restarted in place twice", () -> replica(ns + "/pi-x2rtz").getRestartCount() >= 2,
                () -> replica(ns + "/pi-x2rtz").toString());
        assertEquals(1, Pods.sandboxes(cri, ns).size(), "the same pod");
    }
}
