package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Autoscaler;
import dev.edgeplane.api.v1.AutoscalerCondition;
import dev.edgeplane.api.v1.AutoscalerStatus;
import dev.edgeplane.api.v1.MetricStatus;
import dev.edgeplane.api.v1.MetricTarget;
import dev.edgeplane.api.v1.ScalingPolicy;
import dev.edgeplane.api.v1.ScalingRecord;
import com.google.protobuf.Timestamp;
import java.io.PrintWriter;
import java.io.StringReader;
import java.io.StringWriter;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Autoscaler manifests (the API's JSON names, Kubernetes' HPA fields), the table and the describe view with its history. */
class AutoscalersTest {
    @Test
    void manifestTableAndDescribeWithHistory() {
        List<Manifests.Manifest> read = Manifests.read(new StringReader("""
                kind: Autoscaler
                metadata: {name: web-hpa, namespace: shop}
                spec:
                  targetApp: web
                  minReplicas: 2
                  maxReplicas: 10
                  metrics: [{resource: CPU, targetAverageUtilization: 60}]
                  behavior:
                    scaleDown:
                      stabilizationWindowSeconds: 120
                      policies: [{type: PODS, value: 1, periodSeconds: 60}]
                  schedules:
                    - {name: business-hours, schedule: "0 8 * * 1-5", timeZone: Europe/Berlin, durationSeconds: 43200, minReplicas: 4}
                """), "test");
        Autoscaler a = assertInstanceOf(Manifests.AutoscalerManifest.class, read.get(0)).autoscaler();
        assertEquals("web", a.getSpec().getTargetApp());
        assertEquals(120, a.getSpec().getBehavior().getScaleDown().getStabilizationWindowSeconds());
        assertEquals(ScalingPolicy.Type.PODS, a.getSpec().getBehavior().getScaleDown().getPolicies(0).getType());
        assertEquals(4, a.getSpec().getSchedules(0).getMinReplicas());

        Instant now = Instant.parse("2026-03-02T10:00:00Z");
        Autoscaler shown = a.toBuilder().setMetadata(a.getMetadata().toBuilder().setCreateTime(Timestamp.newBuilder()
                        .setSeconds(now.minusSeconds(3600).getEpochSecond())))
                .setStatus(AutoscalerStatus.newBuilder().setCurrentReplicas(4).setDesiredReplicas(6).setEffectiveMinReplicas(4)
                        .setEffectiveMaxReplicas(10).setActiveSchedule("business-hours")
                        .addCurrentMetrics(MetricStatus.newBuilder().setResource(MetricTarget.Resource.CPU).setCurrentAverageUtilization(85))
                        .addConditions(AutoscalerCondition.newBuilder().setType("AbleToScale").setStatus("True").setReason("SucceededRescale"))
                        .addHistory(ScalingRecord.newBuilder().setTime(Timestamp.newBuilder().setSeconds(now.minusSeconds(30).getEpochSecond()))
                                .setFromReplicas(4).setToReplicas(6).setReason("cpu resource utilization (percentage of request) above target")))
                .build();
        assertEquals(List.of("shop", "web-hpa", "app/web", "cpu: 85%/60%", "4", "10", "4", "business-hours"),
                Autoscalers.row(shown, now).subList(0, 8));
        assertEquals("cpu: <unknown>/60%", Autoscalers.targets(a));
        StringWriter text = new StringWriter();
        Autoscalers.describe(new PrintWriter(text, true), shown, now);
        String out = text.toString();
        assertTrue(out.contains("now 4/10 by schedule business-hours"), out);
        assertTrue(out.contains("AbleToScale  True    SucceededRescale"), out);
        assertTrue(out.contains("4 -> 6"), out);
        assertTrue(out.contains("above target"), out);
        assertEquals(ResourceKind.AUTOSCALER, ResourceKind.parse("hpa"));
        assertEquals(ResourceKind.AUTOSCALER, ResourceKind.parse("autoscalers"));
    }
}
