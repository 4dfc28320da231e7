package dev.edgeplane.controlplane.audit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.AuditRecord;
import dev.edgeplane.api.v1.AuditServiceGrpc;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.ListAuditRecordsRequest;
import dev.edgeplane.api.v1.ListAuditRecordsResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.Keys;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.options.GetOption;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Every mutating API call leaves an audit record in etcd, under a lease, queryable; reads leave none. */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class AuditApiTest {
    private TestApi api;

    @BeforeEach
    void connect() {
        api = new TestApi();
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    private AuditServiceGrpc.AuditServiceBlockingStub audit() {
        return api.withToken(AuditServiceGrpc.newBlockingStub(api.channel), api.adminToken);
    }

    private static App app(String name) {
        return App.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace("audited").setName(name))
                .setSpec(AppSpec.newBuilder().setReplicas(0).setTemplate(PodTemplate.newBuilder()
                        .addContainers(Container.newBuilder().setName("main").setImage("img:1")))).build();
    }

    private List<AuditRecord> since(Instant start) {
        return audit().listAuditRecords(ListAuditRecordsRequest.newBuilder().setSince(Joiner.timestamp(start))
                .setMethod("AppService").build()).getRecordsList();
    }

    @Test
    void mutatingCallsRefusedOnesIncludedAreRecordedWhoWhatWhichResult() throws Exception {
        Instant start = Instant.now().minusMillis(5);
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("web")).build());
        api.apps().getApp(GetAppRequest.newBuilder().setNamespace("audited").setName("web").build());
        assertThrows(StatusRuntimeException.class, () -> api.apps().createApp(CreateAppRequest.newBuilder()
                .setApp(app("bad").toBuilder().setSpec(app("bad").getSpec().toBuilder().setReplicas(-1))).build()));
        StatusRuntimeException anonymous = assertThrows(StatusRuntimeException.class, () -> api.withToken(
                dev.edgeplane.api.v1.AppServiceGrpc.newBlockingStub(api.channel), "not-the-token")
                .deleteApp(DeleteAppRequest.newBuilder().setNamespace("audited").setName("web").build()));
        assertEquals(Status.Code.UNAUTHENTICATED, anonymous.getStatus().getCode());

        TestApi.await("three records", Duration.ofSeconds(20), () -> since(start).size() == 3);
        List<AuditRecord> records = since(start);
        AuditRecord created = records.get(0);
        assertEquals("edgeplane.v1.AppService/CreateApp", created.getMethod());
        assertEquals("App", created.getObject().getKind());
        assertEquals("audited", created.getObject().getNamespace());
        assertEquals("web", created.getObject().getName());
        assertEquals("OK", created.getCode());
        assertEquals("admin", created.getSubject(), "the bootstrap token is named, never its secret");
        assertFalse(created.getPeer().isEmpty());
        assertEquals("INVALID_ARGUMENT", records.get(1).getCode());
        assertEquals("bad", records.get(1).getObject().getName());
        assertFalse(records.get(1).getReason().isEmpty(), "why it failed");
        assertEquals("edgeplane.v1.AppService/DeleteApp", records.get(2).getMethod());
        assertEquals("UNAUTHENTICATED", records.get(2).getCode());
        assertNotEquals(created.getSubject(), records.get(2).getSubject(), "another token, another subject");
        assertEquals("App", records.get(2).getObject().getKind(), "refused before its request was read: the kind only");
        assertTrue(records.stream().noneMatch(r -> r.getMethod().endsWith("GetApp")), "reads are not audited");
        assertEquals("default", AuditInterceptor.objectOf("edgeplane.v1.ConfigMapService", dev.edgeplane.api.v1.DeleteConfigMapRequest
                .newBuilder().setName("web").build()).getNamespace(), "the namespace the API defaults to");
        assertEquals("", AuditInterceptor.objectOf("edgeplane.v1.NodeService", dev.edgeplane.api.v1.CordonNodeRequest
                .newBuilder().setName("edge-1").build()).getNamespace(), "nodes have none");

        var stored = api.etcd.getKVClient().get(ByteSequence.from(Keys.AUDIT + created.getName(), StandardCharsets.UTF_8))
                .get(10, TimeUnit.SECONDS).getKvs();
        assertEquals(1, stored.size());
        assertNotEquals(0, stored.get(0).getLease(), "kept under a lease: the retention");

        ListAuditRecordsResponse first = audit().listAuditRecords(ListAuditRecordsRequest.newBuilder()
                .setSince(Joiner.timestamp(start)).setMethod("AppService").setPageSize(2).build());
        assertEquals(2, first.getRecordsCount());
        ListAuditRecordsResponse rest = audit().listAuditRecords(ListAuditRecordsRequest.newBuilder()
                .setSince(Joiner.timestamp(start)).setMethod("AppService").setPageSize(2).setPageToken(first.getNextPageToken()).build());
        assertEquals(List.of(records.get(2)), rest.getRecordsList(), "the next page starts after the token");
        assertEquals(2, audit().listAuditRecords(ListAuditRecordsRequest.newBuilder().setSince(Joiner.timestamp(start))
                .setNamespace("audited").build()).getRecordsCount(), "by the object's namespace");

        StatusRuntimeException badToken = assertThrows(StatusRuntimeException.class, () -> audit().listAuditRecords(
                ListAuditRecordsRequest.newBuilder().setPageToken("../etc").build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, badToken.getStatus().getCode());
    }
}
