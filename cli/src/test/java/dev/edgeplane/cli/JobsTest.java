package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.JobCondition;
import dev.edgeplane.api.v1.JobPod;
import dev.edgeplane.api.v1.JobStatus;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import java.io.PrintWriter;
import java.io.StringReader;
import java.io.StringWriter;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Job manifests, the `get jobs` row (kubectl's columns plus STATUS) and `describe job`. */
class JobsTest {
    private static Timestamp at(String text) {
        return Timestamp.newBuilder().setSeconds(Instant.parse(text).getEpochSecond()).build();
    }

    @Test
    void manifestRowAndDescribe() {
        List<Manifests.Manifest> read = Manifests.read(new StringReader("""
                kind: Job
                metadata: {name: pi, namespace: shop}
                spec:
                  completions: 3
                  parallelism: 2
                  backoffLimit: 2
                  template:
                    restartPolicy: NEVER
                    containers: [{name: main, image: busybox, command: [sh, -c, "exit 0"]}]
                """), "test");
        Job job = assertInstanceOf(Manifests.JobManifest.class, read.get(0)).job();
        assertEquals(3, job.getSpec().getCompletions());
        assertEquals(2, job.getSpec().getParallelism());
        assertEquals(2, job.getSpec().getBackoffLimit());
        assertEquals(PodTemplate.RestartPolicy.NEVER, job.getSpec().getTemplate().getRestartPolicy());

        Job done = job.toBuilder().setMetadata(job.getMetadata().toBuilder().setCreateTime(at("2026-03-01T11:00:00Z")))
                .setStatus(JobStatus.newBuilder().setSucceeded(3).setStartTime(at("2026-03-01T11:00:00Z"))
                        .setCompletionTime(at("2026-03-01T11:00:42Z"))
                        .addConditions(JobCondition.newBuilder().setType("Complete").setStatus(true))
                        .addPods(JobPod.newBuilder().setName("pi-b2x4k").setNode("edge-1").setPhase(ReplicaStatus.Phase.SUCCEEDED)
                                .setStartTime(at("2026-03-01T11:00:01Z")))
                        .addPods(JobPod.newBuilder().setName("pi-9zzkq").setNode("edge-1").setPhase(ReplicaStatus.Phase.SUCCEEDED)
                                .setStartTime(at("2026-03-01T11:00:20Z"))))
                .build();
        Instant now = Instant.parse("2026-03-01T12:00:00Z");
        assertEquals(List.of("shop", "pi", "Complete", "3/3", "42s", "1h"), Jobs.row(done, now));
        assertEquals("Running", Jobs.status(job));
        StringWriter text = new StringWriter();
        Jobs.describe(new PrintWriter(text, true), done, now);
        assertTrue(text.toString().contains("Complete=True"), text.toString());
        assertTrue(text.toString().contains("0 active / 3 succeeded / 0 failed"), text.toString());
        assertTrue(text.toString().contains("pi-9zzkq"), text.toString());
        assertEquals(ResourceKind.JOB, ResourceKind.parse("jobs"));
        assertEquals(ResourceKind.JOB, ResourceKind.parse("job"));
    }
}
