package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.rpc.BadRequest;
import com.google.rpc.QuotaFailure;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateQuotaRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.DeleteQuotaRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.GetQuotaRequest;
import dev.edgeplane.api.v1.ListQuotasRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Quota;
import dev.edgeplane.api.v1.QuotaAmounts;
import dev.edgeplane.api.v1.QuotaServiceGrpc;
import dev.edgeplane.api.v1.QuotaSpec;
import dev.edgeplane.api.v1.Resources;
import dev.edgeplane.api.v1.UpdateAppRequest;
import dev.edgeplane.api.v1.UpdateQuotaRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Namespace quotas: CRUD, enforcement on App create/update, release on delete, and the race for the last slot. */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class QuotaApiTest {
    private TestApi api;

    @BeforeEach
    void connect() {
        api = new TestApi();
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    private QuotaServiceGrpc.QuotaServiceBlockingStub quotas() {
        return api.withToken(QuotaServiceGrpc.newBlockingStub(api.channel), api.adminToken);
    }

    private Quota quota(String ns, String name, QuotaAmounts.Builder hard) {
        return quotas().createQuota(CreateQuotaRequest.newBuilder().setQuota(Quota.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName(name))
                .setSpec(QuotaSpec.newBuilder().setHard(hard))).build());
    }

    private App create(App app) {
        return api.apps().createApp(CreateAppRequest.newBuilder().setApp(app).build());
    }

    private static App limited(App app, long cpuMillis, long memoryBytes) {
        var template = app.getSpec().getTemplate().toBuilder();
        template.setContainers(0, template.getContainers(0).toBuilder()
                .setLimits(Resources.newBuilder().setCpuMillis(cpuMillis).setMemoryBytes(memoryBytes)));
        return app.toBuilder().setSpec(app.getSpec().toBuilder().setTemplate(template)).build();
    }

    private static StatusRuntimeException exhausted(Runnable call, String quota, String words) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().contains(quota + ": " + words), e.getStatus().getDescription());
        assertEquals(quota, AdmissionLimitsTest.detail(e, QuotaFailure.class).getViolations(0).getSubject());
        return e;
    }

    @Test
    void createsWithinQuotaPassAndTheOneOverIsRefusedNamingTheQuota() {
        String ns = "quota-a";
        quota(ns, "team", QuotaAmounts.newBuilder().setApps(3).setReplicas(5));
        create(AppApiTest.app(ns, "one", 2));
        create(AppApiTest.app(ns, "two", 3));
        exhausted(() -> create(AppApiTest.app(ns, "three", 1)), "quota quota-a/team", "replicas 6 would exceed 5");
        assertNull(api.etcdGet("/edgeplane/apps/" + ns + "/three"), "a refused create writes nothing");

        Quota read = quotas().getQuota(GetQuotaRequest.newBuilder().setNamespace(ns).setName("team").build());
        assertEquals(2, read.getStatus().getUsed().getApps());
        assertEquals(5, read.getStatus().getUsed().getReplicas());
        assertEquals(1, quotas().listQuotas(ListQuotasRequest.newBuilder().setNamespace(ns).build()).getQuotasCount());

        // Scaling over: refused, the stored App unchanged. Scaling down always passes.
        App two = api.apps().getApp(GetAppRequest.newBuilder().setNamespace(ns).setName("two").build());
        byte[] before = api.etcdGet("/edgeplane/apps/" + ns + "/two");
        exhausted(() -> api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(two.toBuilder()
                .setSpec(two.getSpec().toBuilder().setReplicas(4))).build()), "quota quota-a/team", "replicas 6 would exceed 5");
        assertArrayEquals(before, api.etcdGet("/edgeplane/apps/" + ns + "/two"));
        api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(two.toBuilder().setSpec(two.getSpec().toBuilder().setReplicas(1))).build());

        // Deleting an App frees what it used.
        create(AppApiTest.app(ns, "three", 2));
        exhausted(() -> create(AppApiTest.app(ns, "four", 0)), "quota quota-a/team", "apps 4 would exceed 3");
        api.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace(ns).setName("one").build());
        create(AppApiTest.app(ns, "four", 2));

        // A quota lowered below use refuses growth but never a shrink.
        Quota current = quotas().getQuota(GetQuotaRequest.newBuilder().setNamespace(ns).setName("team").build());
        quotas().updateQuota(UpdateQuotaRequest.newBuilder().setQuota(current.toBuilder()
                .setSpec(QuotaSpec.newBuilder().setHard(QuotaAmounts.newBuilder().setReplicas(2)))).build());
        App four = api.apps().getApp(GetAppRequest.newBuilder().setNamespace(ns).setName("four").build());
        api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(four.toBuilder().setSpec(four.getSpec().toBuilder().setReplicas(1))).build());
        exhausted(() -> create(AppApiTest.app(ns, "five", 1)), "quota quota-a/team", "replicas 5 would exceed 2");

        quotas().deleteQuota(DeleteQuotaRequest.newBuilder().setNamespace(ns).setName("team").build());
        create(AppApiTest.app(ns, "five", 1)); // no quota, no limit
    }

    @Test
    void cpuAndMemoryCountLimitsTimesReplicasAndMustBeSet() {
        String ns = "quota-cpu";
        quota(ns, "small", QuotaAmounts.newBuilder().setCpuMillis(1000).setMemoryBytes(1L << 30));
        StatusRuntimeException missing = assertThrows(StatusRuntimeException.class, () -> create(AppApiTest.app(ns, "nolimits", 1)));
        assertEquals(Status.Code.INVALID_ARGUMENT, missing.getStatus().getCode());
        BadRequest bad = AdmissionLimitsTest.detail(missing, BadRequest.class);
        assertTrue(bad.getFieldViolationsList().stream().anyMatch(v -> v.getField().equals("app.spec.template.containers[0].limits.cpu_millis")
                && v.getDescription().contains("quota quota-cpu/small")), bad.toString());

        App web = create(limited(AppApiTest.app(ns, "web", 3), 300, 256L << 20));
        exhausted(() -> api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(web.toBuilder()
                .setSpec(web.getSpec().toBuilder().setReplicas(4))).build()), "quota quota-cpu/small", "cpu_millis 1200 would exceed 1000");
        exhausted(() -> create(limited(AppApiTest.app(ns, "fat", 1), 10, 512L << 20)), "quota quota-cpu/small",
                "memory_bytes " + ((3 * 256L + 512) << 20) + " would exceed " + (1L << 30));

        // An EVERY_NODE App counts as an app only.
        App everywhere = AppApiTest.app(ns, "agent", 0);
        create(everywhere.toBuilder().setSpec(everywhere.getSpec().toBuilder().setMode(AppSpec.Mode.EVERY_NODE)).build());
        Quota read = quotas().getQuota(GetQuotaRequest.newBuilder().setNamespace(ns).setName("small").build());
        assertEquals(2, read.getStatus().getUsed().getApps());
        assertEquals(900, read.getStatus().getUsed().getCpuMillis());
    }

    @Test
    void concurrentCreatesRacingForTheLastSlotLetExactlyOneThrough() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            for (int round = 0; round < 5; round++) {
                String ns = "quota-race-" + round;
                quota(ns, "one", QuotaAmounts.newBuilder().setApps(1));
                CountDownLatch start = new CountDownLatch(1);
                List<Future<Status.Code>> outcomes = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    String name = "racer-" + i;
                    outcomes.add(pool.submit(() -> {
                        start.await();
                        try {
                            create(AppApiTest.app(ns, name, 1));
                            return Status.Code.OK;
                        } catch (StatusRuntimeException e) {
                            return e.getStatus().getCode();
                        }
                    }));
                }
                start.countDown();
                List<Status.Code> codes = new ArrayList<>();
                for (Future<Status.Code> f : outcomes) {
                    codes.add(f.get(60, TimeUnit.SECONDS));
                }
                assertEquals(1, codes.stream().filter(c -> c == Status.Code.OK).count(), "round " + round + ": " + codes);
                assertEquals(3, codes.stream().filter(c -> c == Status.Code.RESOURCE_EXHAUSTED).count(), "round " + round + ": " + codes);
                assertEquals(1, api.etcdCount("/edgeplane/apps/" + ns + "/"));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void invalidQuotasAreRefusedNamingTheField() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> quota("quota-bad", "neg", QuotaAmounts.newBuilder().setReplicas(-1)));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals("quota.spec.hard.replicas", AdmissionLimitsTest.detail(e, BadRequest.class).getFieldViolations(0).getField());
        assertEquals(0, api.etcdCount("/edgeplane/quotas/quota-bad/"));
    }
}
