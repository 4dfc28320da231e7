package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.CronJob;
import dev.edgeplane.api.v1.CronJobSpec;
import dev.edgeplane.api.v1.CronJobStatus;
import dev.edgeplane.api.v1.PodTemplate;
import java.io.PrintWriter;
import java.io.StringReader;
import java.io.StringWriter;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** CronJob manifests (Kubernetes' field names), the `get cronjobs` table and the describe view. */
class CronJobsTest {
    @Test
    void manifestTableAndDescribe() {
        List<Manifests.Manifest> read = Manifests.read(new StringReader("""
                kind: CronJob
                metadata: {name: site-backup, namespace: shop}
                spec:
                  schedule: "*/5 * * * * *"
                  timeZone: Europe/Berlin
                  concurrencyPolicy: FORBID
                  runOnEdge: true
                  successfulJobsHistoryLimit: 2
                  jobTemplate:
                    spec:
                      nodeSelector: {site: alpha}
                      template:
                        restartPolicy: NEVER
                        containers: [{name: work, image: busybox, command: [sh, -c, "date"]}]
                """), "test");
        CronJob cronJob = assertInstanceOf(Manifests.CronJobManifest.class, read.get(0)).cronJob();
        assertEquals("*/5 * * * * *", cronJob.getSpec().getSchedule());
        assertEquals(CronJobSpec.ConcurrencyPolicy.FORBID, cronJob.getSpec().getConcurrencyPolicy());
        assertTrue(cronJob.getSpec().getRunOnEdge());
        assertEquals(2, cronJob.getSpec().getSuccessfulJobsHistoryLimit());
        assertEquals(PodTemplate.RestartPolicy.NEVER, cronJob.getSpec().getJobTemplate().getSpec().getTemplate().getRestartPolicy());
        assertEquals("alpha", cronJob.getSpec().getJobTemplate().getSpec().getNodeSelectorMap().get("site"));

        Instant now = Instant.parse("2026-03-01T12:00:00Z");
        CronJob shown = cronJob.toBuilder().setMetadata(cronJob.getMetadata().toBuilder()
                        .setCreateTime(Timestamp.newBuilder().setSeconds(now.getEpochSecond() - 3600)))
                .setStatus(CronJobStatus.newBuilder().addActive("site-backup-edge-1-1772366395").addEdgeNodes("edge-1").addEdgeNodes("edge-2")
                        .setLastScheduleTime(Timestamp.newBuilder().setSeconds(now.getEpochSecond() - 5))).build();
        List<String> row = CronJobs.row(shown, now);
        assertEquals(List.of("shop", "site-backup", "*/5 * * * * *", "Europe/Berlin", "false", "1"), row.subList(0, 6));
        assertEquals("2 nodes", row.get(8));
        StringWriter text = new StringWriter();
        CronJobs.describe(new PrintWriter(text, true), shown, now);
        assertTrue(text.toString().contains("Next times:         2026-03-01T13:00:05+01:00"), text.toString());
        assertTrue(text.toString().contains("Edge Nodes:         edge-1, edge-2"), text.toString());
        assertTrue(text.toString().contains("Concurrency Policy: FORBID"), text.toString());
        assertEquals(ResourceKind.CRONJOB, ResourceKind.parse("cj"));
        assertEquals(ResourceKind.CRONJOB, ResourceKind.parse("cronjobs"));
    }
}
