package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.rpc.BadRequest;
import dev.edgeplane.api.v1.ExecAction;
import dev.edgeplane.api.v1.GRPCAction;
import dev.edgeplane.api.v1.HTTPGetAction;
import dev.edgeplane.api.v1.HTTPHeader;
import dev.edgeplane.api.v1.Lifecycle;
import dev.edgeplane.api.v1.LifecycleHandler;
import dev.edgeplane.api.v1.Probe;
import dev.edgeplane.api.v1.TCPSocketAction;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppEvent;
import dev.edgeplane.api.v1.AppServiceGrpc;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.ContainerPort;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.ListAppsRequest;
import dev.edgeplane.api.v1.ListAppsResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.UpdateAppRequest;
import dev.edgeplane.api.v1.WatchAppsRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class AppApiTest {
    private TestApi api;

    @BeforeEach
    void connect() {
        api = new TestApi();
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    static App app(String namespace, String name, int replicas) {
        return App.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name).setNamespace(namespace).putLabels("tier", "web"))
                .setSpec(AppSpec.newBuilder()
                        .setReplicas(replicas)
                        .putNodeSelector("never", "matches") // keep the scheduler out of these tests
                        .setTemplate(PodTemplate.newBuilder().addContainers(Container.newBuilder()
                                .setName("main").setImage("busybox:1").addCommand("sleep").addArgs("3600")
                                .addPorts(ContainerPort.newBuilder().setContainerPort(8080)))))
                .build();
    }

    @Test
    void createGetUpdateDelete() {
        App created = api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("", "crud", 2)).build());
        assertEquals("default", created.getMetadata().getNamespace(), "namespace defaults to default");
        assertEquals(1, created.getMetadata().getGeneration());
        assertTrue(created.getMetadata().getResourceVersion() > 0);
        assertFalse(created.getMetadata().getUid().isEmpty());

        App got = api.apps().getApp(GetAppRequest.newBuilder().setName("crud").build());
        assertEquals(created.getMetadata().getResourceVersion(), got.getMetadata().getResourceVersion());
        assertEquals(2, got.getStatus().getDesiredReplicas());

        StatusRuntimeException again = assertThrows(StatusRuntimeException.class,
                () -> api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("", "crud", 1)).build()));
        assertEquals(Status.Code.ABORTED, again.getStatus().getCode());
        assertTrue(again.getStatus().getDescription().contains("already exists"));

        App scaled = got.toBuilder().setSpec(got.getSpec().toBuilder().setReplicas(3)).build();
        App updated = api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(scaled).build());
        assertEquals(2, updated.getMetadata().getGeneration(), "a spec change bumps generation");
        assertTrue(updated.getMetadata().getResourceVersion() > got.getMetadata().getResourceVersion());

        App relabelled = updated.toBuilder().setMetadata(updated.getMetadata().toBuilder().putLabels("extra", "x")).build();
        App labelOnly = api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(relabelled).build());
        assertEquals(2, labelOnly.getMetadata().getGeneration(), "a label change leaves generation alone");

        // Stale resource_version: refused, nothing overwritten.
        StatusRuntimeException stale = assertThrows(StatusRuntimeException.class, () -> api.apps().updateApp(
                UpdateAppRequest.newBuilder().setApp(scaled.toBuilder().setSpec(scaled.getSpec().toBuilder().setReplicas(9))).build()));
        assertEquals(Status.Code.ABORTED, stale.getStatus().getCode());
        assertEquals(3, api.apps().getApp(GetAppRequest.newBuilder().setName("crud").build()).getSpec().getReplicas());

        StatusRuntimeException staleDelete = assertThrows(StatusRuntimeException.class, () -> api.apps().deleteApp(
                DeleteAppRequest.newBuilder().setName("crud").setResourceVersion(got.getMetadata().getResourceVersion()).build()));
        assertEquals(Status.Code.ABORTED, staleDelete.getStatus().getCode());

        api.apps().deleteApp(DeleteAppRequest.newBuilder().setName("crud")
                .setResourceVersion(labelOnly.getMetadata().getResourceVersion()).build());
        StatusRuntimeException gone = assertThrows(StatusRuntimeException.class,
                () -> api.apps().getApp(GetAppRequest.newBuilder().setName("crud").build()));
        assertEquals(Status.Code.NOT_FOUND, gone.getStatus().getCode());
        assertTrue(gone.getStatus().getDescription().contains("default/crud"), gone.getStatus().getDescription());
        assertEquals(Status.Code.NOT_FOUND, assertThrows(StatusRuntimeException.class,
                () -> api.apps().deleteApp(DeleteAppRequest.newBuilder().setName("crud").build())).getStatus().getCode());
        assertEquals(Status.Code.NOT_FOUND, assertThrows(StatusRuntimeException.class,
                () -> api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(app("", "crud", 1)).build())).getStatus().getCode());
    }

    @Test
    void listPagesAndFiltersByLabels() {
        String ns = "paging";
        for (int i = 0; i < 7; i++) {
            App a = app(ns, "app-" + i, 1);
            a = a.toBuilder().setMetadata(a.getMetadata().toBuilder().putLabels("parity", i % 2 == 0 ? "even" : "odd")
                    .putLabels(i == 3 ? "special" : "plain", "yes")).build();
            api.apps().createApp(CreateAppRequest.newBuilder().setApp(a).build());
        }
        List<String> seen = new ArrayList<>();
        String token = "";
        int pages = 0;
        do {
            ListAppsResponse page = api.apps().listApps(ListAppsRequest.newBuilder().setNamespace(ns).setPageSize(3).setPageToken(token).build());
            assertTrue(page.getAppsCount() <= 3);
            page.getAppsList().forEach(a -> seen.add(a.getMetadata().getName()));
            token = page.getNextPageToken();
            pages++;
        } while (!token.isEmpty() && pages < 10);
        assertEquals(List.of("app-0", "app-1", "app-2", "app-3", "app-4", "app-5", "app-6"), seen);
        assertTrue(pages >= 3);

        assertEquals(Set.of("app-1", "app-3", "app-5"), names(list(ns, "parity=odd")));
        assertEquals(Set.of("app-0", "app-2", "app-4", "app-6"), names(list(ns, "parity!=odd")));
        assertEquals(Set.of("app-3"), names(list(ns, "special")));
        assertEquals(Set.of("app-1", "app-5"), names(list(ns, "parity=odd,!special")));
        assertEquals(Set.of(), names(list("other-ns", "")));

        // Paging with a selector: pages are full of matches.
        ListAppsResponse first = api.apps().listApps(ListAppsRequest.newBuilder().setNamespace(ns).setPageSize(2).setLabelSelector("parity=even").build());
        assertEquals(List.of("app-0", "app-2"), first.getAppsList().stream().map(a -> a.getMetadata().getName()).toList());
        ListAppsResponse second = api.apps().listApps(ListAppsRequest.newBuilder().setNamespace(ns).setPageSize(2)
                .setLabelSelector("parity=even").setPageToken(first.getNextPageToken()).build());
        assertEquals(List.of("app-4", "app-6"), second.getAppsList().stream().map(a -> a.getMetadata().getName()).toList());

        StatusRuntimeException bad = assertThrows(StatusRuntimeException.class, () -> list(ns, "a=b=c,=x"));
        assertEquals(Status.Code.INVALID_ARGUMENT, bad.getStatus().getCode());
    }

    private ListAppsResponse list(String ns, String selector) {
        return api.apps().listApps(ListAppsRequest.newBuilder().setNamespace(ns).setLabelSelector(selector).build());
    }

    private static Set<String> names(ListAppsResponse response) {
        Set<String> names = new HashSet<>();
        response.getAppsList().forEach(a -> names.add(a.getMetadata().getName()));
        return names;
    }

    @Test
    void invalidSpecsAreRefusedNamingTheFieldAndNothingIsWritten() {
        String ns = "invalid";
        assertInvalid(app(ns, "Bad_Name", 1), "app.metadata.name");
        assertInvalid(app(ns, "x".repeat(64), 1), "app.metadata.name");
        assertInvalid(app(ns, "negative", -1), "app.spec.replicas");
        assertInvalid(withContainer(app(ns, "noimage", 1), c -> c.setImage("")), "app.spec.template.containers[0].image");
        assertInvalid(withContainer(app(ns, "port-high", 1), c -> c.setPorts(0, ContainerPort.newBuilder().setContainerPort(70000))),
                "app.spec.template.containers[0].ports[0].container_port");
        assertInvalid(withContainer(app(ns, "port-zero", 1), c -> c.setPorts(0, ContainerPort.newBuilder().setContainerPort(0))),
                "app.spec.template.containers[0].ports[0].container_port");
        assertInvalid(withContainer(app(ns, "host-port", 1), c -> c.setPorts(0, ContainerPort.newBuilder().setContainerPort(80).setHostPort(8080))),
                "app.spec.template.containers[0].ports[0].host_port");
        assertInvalid(withContainer(app(ns, "badcname", 1), c -> c.setName("Main")), "app.spec.template.containers[0].name");
        App noContainers = app(ns, "empty", 1);
        noContainers = noContainers.toBuilder().setSpec(noContainers.getSpec().toBuilder().setTemplate(PodTemplate.getDefaultInstance())).build();
        assertInvalid(noContainers, "app.spec.template.containers");
        App dup = app(ns, "dup", 1);
        dup = dup.toBuilder().setSpec(dup.getSpec().toBuilder().setTemplate(dup.getSpec().getTemplate().toBuilder()
                .addContainers(dup.getSpec().getTemplate().getContainers(0)))).build();
        assertInvalid(dup, "app.spec.template.containers[1].name");
        App badLabel = app(ns, "badlabel", 1);
        badLabel = badLabel.toBuilder().setMetadata(badLabel.getMetadata().toBuilder().putLabels("bad key!", "v")).build();
        assertInvalid(badLabel, "app.metadata.labels[bad key!]");

        assertEquals(0, api.etcdCount("/edgeplane/apps/" + ns + "/"), "an invalid request writes nothing to etcd");

        // An invalid update leaves the stored App untouched.
        App valid = api.apps().createApp(CreateAppRequest.newBuilder().setApp(app(ns, "valid", 1)).build());
        byte[] before = api.etcdGet("/edgeplane/apps/" + ns + "/valid");
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> api.apps().updateApp(UpdateAppRequest.newBuilder()
                .setApp(valid.toBuilder().setSpec(valid.getSpec().toBuilder().setReplicas(-3))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals(new String(before), new String(api.etcdGet("/edgeplane/apps/" + ns + "/valid")));
    }

    @Test
    void podSpecFieldsAreCheckedByKubernetesRulesNamingTheField() {
        String ns = "probes";
        String c0 = "app.spec.template.containers[0]";
        Probe http = Probe.newBuilder().setHttpGet(HTTPGetAction.newBuilder().setPath("/healthz").setPort(8080)).build();
        assertInvalid(withContainer(app(ns, "nohandler", 1), c -> c.setLivenessProbe(Probe.newBuilder().setPeriodSeconds(5))),
                c0 + ".liveness_probe");
        assertInvalid(withContainer(app(ns, "port", 1), c -> c.setReadinessProbe(Probe.newBuilder()
                .setTcpSocket(TCPSocketAction.newBuilder().setPort(65536)))), c0 + ".readiness_probe.tcp_socket.port");
        assertInvalid(withContainer(app(ns, "success", 1), c -> c.setLivenessProbe(http.toBuilder().setSuccessThreshold(2))),
                c0 + ".liveness_probe.success_threshold");
        assertInvalid(withContainer(app(ns, "startup", 1), c -> c.setStartupProbe(http.toBuilder().setSuccessThreshold(3))),
                c0 + ".startup_probe.success_threshold");
        assertInvalid(withContainer(app(ns, "period", 1), c -> c.setReadinessProbe(http.toBuilder().setPeriodSeconds(-1))),
                c0 + ".readiness_probe.period_seconds");
        assertInvalid(withContainer(app(ns, "failures", 1), c -> c.setReadinessProbe(http.toBuilder().setFailureThreshold(1_000_000))),
                c0 + ".readiness_probe.failure_threshold");
        assertInvalid(withContainer(app(ns, "noexec", 1), c -> c.setLivenessProbe(Probe.newBuilder().setExec(ExecAction.getDefaultInstance()))),
                c0 + ".liveness_probe.exec.command");
        assertInvalid(withContainer(app(ns, "header", 1), c -> c.setReadinessProbe(http.toBuilder().setHttpGet(http.getHttpGet().toBuilder()
                .addHttpHeaders(HTTPHeader.newBuilder().setName("Bad Header").setValue("x"))))),
                c0 + ".readiness_probe.http_get.http_headers[0].name");
        assertInvalid(withContainer(app(ns, "grpc", 1), c -> c.setReadinessProbe(Probe.newBuilder().setGrpc(GRPCAction.newBuilder()))),
                c0 + ".readiness_probe.grpc.port");
        assertInvalid(withContainer(app(ns, "hook", 1), c -> c.setLifecycle(Lifecycle.newBuilder().setPreStop(LifecycleHandler.getDefaultInstance()))),
                c0 + ".lifecycle.pre_stop");
        assertInvalid(withContainer(app(ns, "hookport", 1), c -> c.setLifecycle(Lifecycle.newBuilder().setPostStart(LifecycleHandler.newBuilder()
                .setHttpGet(HTTPGetAction.newBuilder().setPort(0))))), c0 + ".lifecycle.post_start.http_get.port");
        App init = app(ns, "init", 1);
        Container initContainer = Container.newBuilder().setName("setup").setImage("img:1").setReadinessProbe(http).build();
        init = init.toBuilder().setSpec(init.getSpec().toBuilder().setTemplate(init.getSpec().getTemplate().toBuilder()
                .addInitContainers(initContainer))).build();
        assertInvalid(init, "app.spec.template.init_containers[0].readiness_probe");
        App sameName = init.toBuilder().setSpec(init.getSpec().toBuilder().setTemplate(init.getSpec().getTemplate().toBuilder()
                .setInitContainers(0, initContainer.toBuilder().clearReadinessProbe().setName(init.getSpec().getTemplate().getContainers(0).getName())))).build();
        assertInvalid(sameName, "app.spec.template.containers[0].name");
        assertInvalid(withContainer(app(ns, "rootuser", 1), c -> c.setSecurityContext(dev.edgeplane.api.v1.SecurityContext.newBuilder()
                .setRunAsNonRoot(true).setRunAsUser(0))), c0 + ".security_context.run_as_user");
        assertInvalid(withContainer(app(ns, "caps", 1), c -> c.setSecurityContext(dev.edgeplane.api.v1.SecurityContext.newBuilder()
                .setCapabilities(dev.edgeplane.api.v1.Capabilities.newBuilder().addAdd("NET_ADMIN").addAdd("net admin")))),
                c0 + ".security_context.capabilities.add[1]");
        assertInvalid(withContainer(app(ns, "downward", 1), c -> c.addEnv(dev.edgeplane.api.v1.EnvVar.newBuilder().setName("X")
                .setValueFrom(dev.edgeplane.api.v1.EnvVarSource.newBuilder().setFieldRef(dev.edgeplane.api.v1.ObjectFieldSelector.newBuilder()
                        .setFieldPath("status.podIP"))))), c0 + ".env[0].value_from.field_ref.field_path");
        assertInvalid(withContainer(app(ns, "negreq", 1), c -> c.setRequests(dev.edgeplane.api.v1.Resources.newBuilder().setCpuMillis(-1))),
                c0 + ".requests.cpu_millis");
        assertInvalid(withContainer(app(ns, "cmkey", 1), c -> c.addEnv(dev.edgeplane.api.v1.EnvVar.newBuilder().setName("X")
                .setValueFrom(dev.edgeplane.api.v1.EnvVarSource.newBuilder().setConfigMapKeyRef(dev.edgeplane.api.v1.ConfigMapKeySelector.newBuilder()
                        .setName("web").setKey("../etc"))))), c0 + ".env[0].value_from.config_map_key_ref.key");
        assertInvalid(withContainer(app(ns, "envfrom", 1), c -> c.addEnvFrom(dev.edgeplane.api.v1.EnvFromSource.newBuilder().setPrefix("1 bad")
                .setSecretRef(dev.edgeplane.api.v1.SecretEnvSource.newBuilder().setName("db")))), c0 + ".env_from[0].prefix");
        App volumes = app(ns, "cmvolume", 1);
        volumes = volumes.toBuilder().setSpec(volumes.getSpec().toBuilder().setTemplate(volumes.getSpec().getTemplate().toBuilder()
                .addVolumes(dev.edgeplane.api.v1.PodVolume.newBuilder().setName("cfg").setConfigMap(dev.edgeplane.api.v1.ConfigMapVolumeSource
                        .newBuilder().setName("web").addItems(dev.edgeplane.api.v1.KeyToPath.newBuilder().setKey("a").setPath("../../etc/passwd"))))
                .addVolumes(dev.edgeplane.api.v1.PodVolume.newBuilder().setName("sec").setSecret(dev.edgeplane.api.v1.SecretVolumeSource
                        .newBuilder().setSecretName("db").setDefaultMode(01000)))
                .addImagePullSecrets(dev.edgeplane.api.v1.LocalObjectReference.newBuilder().setName("Not_A_Name")))).build();
        assertInvalid(volumes, "app.spec.template.volumes[0].config_map.items[0].path");
        assertInvalid(volumes, "app.spec.template.volumes[1].secret.default_mode");
        assertInvalid(volumes, "app.spec.template.image_pull_secrets[0].name");
        assertEquals(0, api.etcdCount("/edgeplane/apps/" + ns + "/"), "an invalid request writes nothing to etcd");

        App ok = withContainer(app(ns, "ok", 1), c -> c.setReadinessProbe(http.toBuilder().setSuccessThreshold(2))
                .setLivenessProbe(http).setStartupProbe(http.toBuilder().setFailureThreshold(30).setPeriodSeconds(10)));
        App created = api.apps().createApp(CreateAppRequest.newBuilder().setApp(ok).build());
        assertEquals(ok.getSpec().getTemplate().getContainers(0).getReadinessProbe(),
                created.getSpec().getTemplate().getContainers(0).getReadinessProbe(), "stored as given; the agent applies the defaults");
    }

    private static App withContainer(App app, UnaryOperator<Container.Builder> change) {
        Container c = change.apply(app.getSpec().getTemplate().getContainers(0).toBuilder()).build();
        return app.toBuilder().setSpec(app.getSpec().toBuilder().setTemplate(app.getSpec().getTemplate().toBuilder().setContainers(0, c))).build();
    }

    private void assertInvalid(App app, String field) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> api.apps().createApp(CreateAppRequest.newBuilder().setApp(app).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        com.google.rpc.Status status = StatusProto.fromThrowable(e);
        BadRequest bad;
        try {
            bad = status.getDetails(0).unpack(BadRequest.class);
        } catch (Exception ex) {
            throw new AssertionError("no BadRequest detail in " + status, ex);
        }
        assertTrue(bad.getFieldViolationsList().stream().anyMatch(v -> v.getField().equals(field)),
                "expected a violation of " + field + " in " + bad);
    }

    @Test
    void watchStartsWithCurrentStateThenStreamsChanges() throws Exception {
        String ns = "watched";
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app(ns, "before", 1)).build());
        LinkedBlockingQueue<AppEvent> events = new LinkedBlockingQueue<>();
        var stub = api.withToken(AppServiceGrpc.newStub(api.channel), api.adminToken).withDeadlineAfter(60, TimeUnit.SECONDS);
        io.grpc.Context.CancellableContext context = io.grpc.Context.current().withCancellation();
        try {
            context.run(() -> stub.watchApps(WatchAppsRequest.newBuilder().setNamespace(ns).build(), new StreamObserver<>() {
                public void onNext(AppEvent value) {
                    events.add(value);
                }

                public void onError(Throwable t) {}

                public void onCompleted() {}
            }));
            AppEvent first = events.poll(10, TimeUnit.SECONDS);
            assertEquals(AppEvent.Type.ADDED, first.getType());
            assertEquals("before", first.getApp().getMetadata().getName());

            App after = api.apps().createApp(CreateAppRequest.newBuilder().setApp(app(ns, "after", 1)).build());
            api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("elsewhere", "unrelated", 1)).build());
            api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(after.toBuilder().setSpec(after.getSpec().toBuilder().setReplicas(2))).build());
            api.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace(ns).setName("after").build());

            List<String> seen = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                AppEvent e = events.poll(10, TimeUnit.SECONDS);
                assertNotEquals(null, e, "missing event after " + seen);
                seen.add(e.getType() + " " + e.getApp().getMetadata().getName());
            }
            assertEquals(List.of("ADDED after", "MODIFIED after", "DELETED after"), seen);
        } finally {
            context.cancel(null);
        }
    }
}
