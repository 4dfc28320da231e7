package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.rpc.BadRequest;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Autoscaler;
import dev.edgeplane.api.v1.AutoscalerBehavior;
import dev.edgeplane.api.v1.AutoscalerServiceGrpc;
import dev.edgeplane.api.v1.AutoscalerSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateAutoscalerRequest;
import dev.edgeplane.api.v1.DeleteAutoscalerRequest;
import dev.edgeplane.api.v1.GetAutoscalerRequest;
import dev.edgeplane.api.v1.ListAutoscalersRequest;
import dev.edgeplane.api.v1.MetricTarget;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.Resources;
import dev.edgeplane.api.v1.ScalingPolicy;
import dev.edgeplane.api.v1.ScalingRules;
import dev.edgeplane.api.v1.ScheduledBounds;
import dev.edgeplane.api.v1.UpdateAutoscalerRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.controllers.autoscaler.AutoscalerTestProfile;
import dev.edgeplane.controlplane.store.Keys;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * AutoscalerService against real etcd: bad specs are INVALID_ARGUMENT naming each field; a target App
 * that is missing, EVERY_NODE or lacks the request of a targeted resource is FAILED_PRECONDITION naming
 * the containers; a second Autoscaler on one App is refused naming the first (the index key, in the
 * same transaction); the target cannot change; list pages and label selectors work.
 */
@QuarkusTest
@TestProfile(AutoscalerTestProfile.class)
@QuarkusTestResource(EtcdTestResource.class)
class AutoscalerApiTest {
    private static final String NS = "hpa-api";
    private TestApi api;
    private AutoscalerServiceGrpc.AutoscalerServiceBlockingStub autoscalers;

    @BeforeEach
    void connect() {
        api = new TestApi();
        autoscalers = api.withToken(AutoscalerServiceGrpc.newBlockingStub(api.channel), api.adminToken);
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    private void app(String name, Container... containers) {
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(App.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(NS).setName(name))
                .setSpec(AppSpec.newBuilder().setReplicas(1).setTemplate(PodTemplate.newBuilder().addAllContainers(List.of(containers)))))
                .build());
    }

    private static Container container(String name, long cpuMillis, long memoryBytes) {
        return Container.newBuilder().setName(name).setImage("busybox:1")
                .setRequests(Resources.newBuilder().setCpuMillis(cpuMillis).setMemoryBytes(memoryBytes)).build();
    }

    static Autoscaler autoscaler(String name, String app, UnaryOperator<AutoscalerSpec.Builder> change) {
        AutoscalerSpec.Builder spec = AutoscalerSpec.newBuilder().setTargetApp(app).setMinReplicas(1).setMaxReplicas(5)
                .addMetrics(MetricTarget.newBuilder().setResource(MetricTarget.Resource.CPU).setTargetAverageUtilization(60));
        return Autoscaler.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace(NS).setName(name).putLabels("tier", "web"))
                .setSpec(change.apply(spec)).build();
    }

    private Autoscaler create(Autoscaler a) {
        return autoscalers.createAutoscaler(CreateAutoscalerRequest.newBuilder().setAutoscaler(a).build());
    }

    private static List<String> fields(StatusRuntimeException e) {
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
        return AdmissionLimitsTest.detail(e, BadRequest.class).getFieldViolationsList().stream()
                .map(BadRequest.FieldViolation::getField).toList();
    }

    private void invalid(Autoscaler a, String... expected) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create(a));
        List<String> fields = fields(e);
        for (String field : expected) {
            assertTrue(fields.contains(field), field + " not in " + fields + ": " + e.getStatus().getDescription());
        }
        assertNull(api.etcdGet(Keys.autoscaler(NS, a.getMetadata().getName())), "a refused create writes nothing");
    }

    private StatusRuntimeException precondition(Autoscaler a, String words) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create(a));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().contains(words), e.getStatus().getDescription());
        return e;
    }

    @Test
    void badSpecsAreRefusedNamingEachField() {
        app("web", container("main", 500, 64 << 20));
        invalid(autoscaler("a", "web", s -> s.setMinReplicas(-1)), "autoscaler.spec.min_replicas");
        invalid(autoscaler("a", "web", s -> s.setMinReplicas(4).setMaxReplicas(3)), "autoscaler.spec.max_replicas");
        invalid(autoscaler("a", "web", s -> s.setMaxReplicas(10_001)), "autoscaler.spec.max_replicas");
        invalid(autoscaler("a", "web", s -> s.clearMetrics()), "autoscaler.spec.metrics");
        invalid(autoscaler("a", "web", s -> s.setMetrics(0, s.getMetrics(0).toBuilder().setTargetAverageUtilization(0))),
                "autoscaler.spec.metrics[0].target_average_utilization");
        invalid(autoscaler("a", "web", s -> s.addMetrics(MetricTarget.newBuilder().setResource(MetricTarget.Resource.CPU)
                .setTargetAverageUtilization(1001))), "autoscaler.spec.metrics[1].resource", "autoscaler.spec.metrics[1].target_average_utilization");
        invalid(autoscaler("a", "Web_", s -> s), "autoscaler.spec.target_app");
        invalid(autoscaler("a", "web", s -> s.setBehavior(AutoscalerBehavior.newBuilder()
                .setScaleDown(ScalingRules.newBuilder().setStabilizationWindowSeconds(3601)
                        .addPolicies(ScalingPolicy.newBuilder().setType(ScalingPolicy.Type.PERCENT).setValue(0).setPeriodSeconds(1801)))
                .setScaleUp(ScalingRules.newBuilder().addPolicies(ScalingPolicy.newBuilder().setValue(1).setPeriodSeconds(15))))),
                "autoscaler.spec.behavior.scale_down.stabilization_window_seconds", "autoscaler.spec.behavior.scale_down.policies[0].value",
                "autoscaler.spec.behavior.scale_down.policies[0].period_seconds", "autoscaler.spec.behavior.scale_up.policies[0].type");
        StatusRuntimeException cron = assertThrows(StatusRuntimeException.class, () -> create(autoscaler("a", "web",
                s -> s.addSchedules(ScheduledBounds.newBuilder().setName("peak").setSchedule("61 8 * * *").setDurationSeconds(3600)
                        .setMinReplicas(3)))));
        assertEquals(List.of("autoscaler.spec.schedules[0].schedule"), fields(cron));
        assertTrue(cron.getStatus().getDescription().contains("minute"), cron.getStatus().getDescription());
        invalid(autoscaler("a", "web", s -> s.addSchedules(ScheduledBounds.newBuilder().setName("peak").setSchedule("0 8 * * *")
                .setTimeZone("Mars/Olympus").setDurationSeconds(0).setMinReplicas(9))),
                "autoscaler.spec.schedules[0].time_zone", "autoscaler.spec.schedules[0].duration_seconds", "autoscaler.spec.schedules[0]");
        invalid(autoscaler("a", "web", s -> s.addSchedules(ScheduledBounds.newBuilder().setName("peak").setSchedule("@daily")
                .setDurationSeconds(60))), "autoscaler.spec.schedules[0]");
    }

    @Test
    void theTargetMustExistBeReplicatedAndRequestWhatIsTargeted() {
        precondition(autoscaler("ghost", "nowhere", s -> s), "target app \"" + NS + "/nowhere\" does not exist");
        app("no-requests", Container.newBuilder().setName("side").setImage("busybox:1").build(), container("main", 500, 0));
        precondition(autoscaler("nr", "no-requests", s -> s), "cpu: side");
        precondition(autoscaler("nr", "no-requests", s -> s.setMetrics(0, MetricTarget.newBuilder()
                .setResource(MetricTarget.Resource.MEMORY).setTargetAverageUtilization(80))), "memory: side, main");
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(App.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(NS).setName("daemon"))
                .setSpec(AppSpec.newBuilder().setMode(AppSpec.Mode.EVERY_NODE)
                        .setTemplate(PodTemplate.newBuilder().addContainers(container("main", 100, 0))))).build());
        precondition(autoscaler("d", "daemon", s -> s), "EVERY_NODE");
        // Limits stand in for requests, as the scheduler reads them.
        app("limited", Container.newBuilder().setName("main").setImage("busybox:1").setLimits(Resources.newBuilder().setCpuMillis(200)).build());
        Autoscaler created = create(autoscaler("lim", "limited", s -> s));
        assertEquals(1, created.getMetadata().getGeneration());
    }

    @Test
    void anAppHasAtMostOneAutoscalerAndItsTargetCannotChange() {
        app("shop", container("main", 250, 32 << 20));
        app("other", container("main", 250, 32 << 20));
        Autoscaler first = create(autoscaler("shop-hpa", "shop", s -> s));
        assertEquals("shop-hpa", new String(api.etcdGet(Keys.autoscalerTarget(NS, "shop")), StandardCharsets.UTF_8));
        precondition(autoscaler("shop-hpa-2", "shop", s -> s), "already has autoscaler \"" + NS + "/shop-hpa\"");
        StatusRuntimeException taken = assertThrows(StatusRuntimeException.class, () -> create(autoscaler("shop-hpa", "other", s -> s)));
        assertEquals(Status.Code.ABORTED, taken.getStatus().getCode());
        assertNull(api.etcdGet(Keys.autoscalerTarget(NS, "other")), "the refused create left no index behind");

        StatusRuntimeException moved = assertThrows(StatusRuntimeException.class, () -> autoscalers.updateAutoscaler(
                UpdateAutoscalerRequest.newBuilder().setAutoscaler(unversioned(first).setSpec(first.getSpec().toBuilder()
                        .setTargetApp("other"))).build()));
        assertEquals(List.of("autoscaler.spec.target_app"), fields(moved));
        // (unversioned: the controller writes the status meanwhile)
        Autoscaler updated = autoscalers.updateAutoscaler(UpdateAutoscalerRequest.newBuilder().setAutoscaler(unversioned(first)
                .setSpec(first.getSpec().toBuilder().setMaxReplicas(8))).build());
        assertEquals(2, updated.getMetadata().getGeneration());
        StatusRuntimeException stale = assertThrows(StatusRuntimeException.class, () -> autoscalers.updateAutoscaler(
                UpdateAutoscalerRequest.newBuilder().setAutoscaler(first).build()));
        assertEquals(Status.Code.ABORTED, stale.getStatus().getCode());

        autoscalers.deleteAutoscaler(DeleteAutoscalerRequest.newBuilder().setNamespace(NS).setName("shop-hpa").build());
        assertNull(api.etcdGet(Keys.autoscalerTarget(NS, "shop")), "the index goes with it");
        create(autoscaler("shop-hpa-2", "shop", s -> s));
        StatusRuntimeException gone = assertThrows(StatusRuntimeException.class,
                () -> autoscalers.getAutoscaler(GetAutoscalerRequest.newBuilder().setNamespace(NS).setName("shop-hpa").build()));
        assertEquals(Status.Code.NOT_FOUND, gone.getStatus().getCode());
    }

    private static Autoscaler.Builder unversioned(Autoscaler a) {
        return a.toBuilder().setMetadata(a.getMetadata().toBuilder().setResourceVersion(0));
    }

    @Test
    void listsPageAndFilterByLabels() {
        String ns = "hpa-list";
        for (int i = 0; i < 3; i++) {
            api.apps().createApp(CreateAppRequest.newBuilder().setApp(App.newBuilder()
                    .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName("app-" + i))
                    .setSpec(AppSpec.newBuilder().setReplicas(1).setTemplate(PodTemplate.newBuilder().addContainers(container("main", 100, 0)))))
                    .build());
            Autoscaler a = autoscaler("hpa-" + i, "app-" + i, s -> s);
            create(a.toBuilder().setMetadata(a.getMetadata().toBuilder().setNamespace(ns).putLabels("tier", i == 1 ? "db" : "web")).build());
        }
        var page = autoscalers.listAutoscalers(ListAutoscalersRequest.newBuilder().setNamespace(ns).setPageSize(2).build());
        assertEquals(2, page.getAutoscalersCount());
        var rest = autoscalers.listAutoscalers(ListAutoscalersRequest.newBuilder().setNamespace(ns).setPageSize(2)
                .setPageToken(page.getNextPageToken()).build());
        assertEquals(1, rest.getAutoscalersCount());
        var db = autoscalers.listAutoscalers(ListAutoscalersRequest.newBuilder().setNamespace(ns).setLabelSelector("tier=db").build());
        assertEquals(List.of("hpa-1"), db.getAutoscalersList().stream().map(a -> a.getMetadata().getName()).toList());
    }
}
