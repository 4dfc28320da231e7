package dev.edgeplane.e2e;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Autoscaler;
import dev.edgeplane.api.v1.AutoscalerBehavior;
import dev.edgeplane.api.v1.AutoscalerSpec;
import dev.edgeplane.api.v1.CreateAutoscalerRequest;
import dev.edgeplane.api.v1.GetAutoscalerRequest;
import dev.edgeplane.api.v1.HostPathSource;
import dev.edgeplane.api.v1.MetricTarget;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.Resources;
import dev.edgeplane.api.v1.ScalingRules;
import dev.edgeplane.api.v1.VolumeMount;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A CPU burner App for the autoscaling tests: busybox spinning a shell loop while the file "burn"
 * exists in a host directory every replica mounts (the test creates and deletes it: load on and off
 * for all replicas at once), sleeping otherwise. Requests 100m, limited to 200m by a CFS quota (the
 * machine is shared): burning is 200% of the request, idle about 0%.
 */
final class Burner {
    static final long REQUEST_MILLIS = 100;
    static final long LIMIT_MILLIS = 200;

    private final Path gate;

    Burner(Path dir) throws IOException {
        this.gate = Files.createDirectories(dir.resolve("gate"));
    }

    App app(EdgeCluster cluster, String name) {
        App app = cluster.app(name, 1, "sh", "-c", "while :; do if [ -f /gate/burn ]; then :; else sleep 1; fi; done");
        return app.toBuilder().setSpec(app.getSpec().toBuilder().setTemplate(app.getSpec().getTemplate().toBuilder()
                .setContainers(0, app.getSpec().getTemplate().getContainers(0).toBuilder()
                        .setRequests(Resources.newBuilder().setCpuMillis(REQUEST_MILLIS))
                        .setLimits(Resources.newBuilder().setCpuMillis(LIMIT_MILLIS))
                        .addVolumeMounts(VolumeMount.newBuilder().setName("gate").setMountPath("/gate").setReadOnly(true)))
                .addVolumes(PodVolume.newBuilder().setName("gate").setHostPath(HostPathSource.newBuilder().setPath(gate.toString())))))
                .build();
    }

    void on() throws IOException {
        Files.writeString(gate.resolve("burn"), "1");
    }

    void off() throws IOException {
        Files.deleteIfExists(gate.resolve("burn"));
    }

    /** An Autoscaler on {@code app}: CPU at 50% of the requests, 1..max, the scale-down window given. */
    static Autoscaler autoscaler(EdgeCluster cluster, String name, String app, int max, int downWindowSeconds) {
        return cluster.cloud.autoscalers().createAutoscaler(CreateAutoscalerRequest.newBuilder().setAutoscaler(Autoscaler.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(AutoscalerSpec.newBuilder().setTargetApp(app).setMinReplicas(1).setMaxReplicas(max)
                        .addMetrics(MetricTarget.newBuilder().setResource(MetricTarget.Resource.CPU).setTargetAverageUtilization(50))
                        .setBehavior(AutoscalerBehavior.newBuilder().setScaleDown(ScalingRules.newBuilder()
                                .setStabilizationWindowSeconds(downWindowSeconds))))).build());
    }

    static Autoscaler get(EdgeCluster cluster, String name) {
        return cluster.cloud.autoscalers().getAutoscaler(GetAutoscalerRequest.newBuilder().setNamespace("default").setName(name).build());
    }
}
