package dev.edgeplane.controlplane.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.DescriptorProtos;
import dev.edgeplane.api.v1.AccessServiceGrpc;
import dev.edgeplane.api.v1.ApiToken;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppServiceGrpc;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.AuditRecord;
import dev.edgeplane.api.v1.AuditServiceGrpc;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateApiTokenRequest;
import dev.edgeplane.api.v1.CreateApiTokenResponse;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateRoleBindingRequest;
import dev.edgeplane.api.v1.DeleteApiTokenRequest;
import dev.edgeplane.api.v1.DeleteRoleBindingRequest;
import dev.edgeplane.api.v1.ExecRequest;
import dev.edgeplane.api.v1.ExecResponse;
import dev.edgeplane.api.v1.ExecStart;
import dev.edgeplane.api.v1.GetApiTokenRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.ListApiTokensRequest;
import dev.edgeplane.api.v1.ListAppsRequest;
import dev.edgeplane.api.v1.ListAuditRecordsRequest;
import dev.edgeplane.api.v1.ListRoleBindingsRequest;
import dev.edgeplane.api.v1.LogsRequest;
import dev.edgeplane.api.v1.LogsResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.OpsServiceGrpc;
import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.RevokeApiTokenRequest;
import dev.edgeplane.api.v1.Role;
import dev.edgeplane.api.v1.RoleBinding;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.Keys;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.options.GetOption;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Named API tokens and role bindings against the real control plane and etcd: who may do what. */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class AccessApiTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private TestApi api;

    @BeforeEach
    void connect() {
        api = new TestApi();
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    private AccessServiceGrpc.AccessServiceBlockingStub access() {
        return api.withToken(AccessServiceGrpc.newBlockingStub(api.channel), api.adminToken);
    }

    private AppServiceGrpc.AppServiceBlockingStub apps(String token) {
        return api.withToken(AppServiceGrpc.newBlockingStub(api.channel), token);
    }

    /** A token bound to {@code role} in {@code namespace} ("" cluster-wide); returns its secret once the binding is in effect. */
    private String tokenWithRole(String name, Role role, String namespace) {
        String secret = access().createApiToken(CreateApiTokenRequest.newBuilder().setApiToken(ApiToken.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name)).setDescription("test")).build()).getSecret();
        access().createRoleBinding(CreateRoleBindingRequest.newBuilder().setRoleBinding(RoleBinding.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name + "-" + role.name().toLowerCase())).setRole(role)
                .setSubject("token:" + name).setNamespace(namespace)).build());
        // The binding reaches the authoriser through the etcd watch: a read in the namespace proves it.
        String ns = namespace.isEmpty() ? "default" : namespace;
        TestApi.await("binding of " + name + " in effect", WAIT, () -> {
            try {
                apps(secret).listApps(ListAppsRequest.newBuilder().setNamespace(ns).build());
                return true;
            } catch (StatusRuntimeException e) {
                return false;
            }
        });
        return secret;
    }

    private static App app(String namespace, String name) {
        return App.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace(namespace).setName(name))
                .setSpec(AppSpec.newBuilder().setReplicas(0).setTemplate(PodTemplate.newBuilder()
                        .addContainers(Container.newBuilder().setName("main").setImage("img:1")))).build();
    }

    private static Status.Code code(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run).getStatus().getCode();
    }

    @Test
    void aViewerReadsButItsCreateIsDeniedAndChangesNothing() {
        String viewer = tokenWithRole("viewer-1", Role.VIEWER, "");
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("viewed", "existing")).build());
        assertEquals("existing", apps(viewer).getApp(GetAppRequest.newBuilder().setNamespace("viewed").setName("existing").build())
                .getMetadata().getName());
        assertEquals(1, apps(viewer).listApps(ListAppsRequest.newBuilder().setNamespace("viewed").build()).getAppsCount());

        StatusRuntimeException denied = assertThrows(StatusRuntimeException.class,
                () -> apps(viewer).createApp(CreateAppRequest.newBuilder().setApp(app("viewed", "new")).build()));
        assertEquals(Status.Code.PERMISSION_DENIED, denied.getStatus().getCode());
        String why = denied.getStatus().getDescription();
        assertTrue(why.contains("token:viewer-1") && why.contains("deployer") && why.contains("\"viewed\""), why);
        assertEquals(1, api.etcdCount(Keys.APPS + "viewed/"), "nothing was written");
    }

    @Test
    void aNamespaceBoundDeployerCreatesInItsNamespaceOnly() {
        String deployer = tokenWithRole("deployer-a", Role.DEPLOYER, "team-a");
        apps(deployer).createApp(CreateAppRequest.newBuilder().setApp(app("team-a", "web")).build());
        assertEquals(1, api.etcdCount(Keys.APPS + "team-a/"));
        assertEquals(Status.Code.PERMISSION_DENIED,
                code(() -> apps(deployer).createApp(CreateAppRequest.newBuilder().setApp(app("team-b", "web")).build())));
        assertEquals(0, api.etcdCount(Keys.APPS + "team-b/"));
        StatusRuntimeException everyNamespace = assertThrows(StatusRuntimeException.class,
                () -> apps(deployer).listApps(ListAppsRequest.getDefaultInstance()));
        assertEquals(Status.Code.PERMISSION_DENIED, everyNamespace.getStatus().getCode());
        assertTrue(everyNamespace.getStatus().getDescription().contains("[team-a]"), everyNamespace.getStatus().getDescription());
        assertEquals(Status.Code.PERMISSION_DENIED, code(() -> api.withToken(AccessServiceGrpc.newBlockingStub(api.channel), deployer)
                .listApiTokens(ListApiTokensRequest.getDefaultInstance())), "tokens are the admin's");
    }

    private Status.Code logs(String token) {
        Iterator<LogsResponse> lines = api.withToken(OpsServiceGrpc.newBlockingStub(api.channel), token)
                .logs(LogsRequest.newBuilder().setTarget(OpsTarget.newBuilder().setNamespace("ops-ns").setReplica("missing-0")).build());
        return code(lines::hasNext);
    }

    /** The status a bidi Exec ends with after {@code first} (null: half-close without any message). */
    private Status.Code exec(String token, ExecRequest first) throws Exception {
        CompletableFuture<Status.Code> end = new CompletableFuture<>();
        StreamObserver<ExecRequest> requests = api.withToken(OpsServiceGrpc.newStub(api.channel), token).exec(new StreamObserver<>() {
            public void onNext(ExecResponse value) {}

            public void onError(Throwable t) {
                end.complete(Status.fromThrowable(t).getCode());
            }

            public void onCompleted() {
                end.complete(Status.Code.OK);
            }
        });
        if (first != null) {
            requests.onNext(first);
        }
        requests.onCompleted();
        return end.get(10, TimeUnit.SECONDS);
    }

    @Test
    void aBidiStreamIsCheckedOnItsFirstMessageBeforeTheServiceSeesIt() throws Exception {
        String operator = tokenWithRole("operator-exec", Role.OPERATOR, "ops-ns");
        String viewer = tokenWithRole("viewer-exec", Role.VIEWER, "ops-ns");
        ExecRequest start = ExecRequest.newBuilder().setStart(ExecStart.newBuilder().addCommand("sh")
                .setTarget(OpsTarget.newBuilder().setNamespace("ops-ns").setReplica("missing-0"))).build();
        assertEquals(Status.Code.NOT_FOUND, exec(operator, start), "past authorisation: the replica is missing");
        assertEquals(Status.Code.PERMISSION_DENIED, exec(viewer, start));
        assertEquals(Status.Code.INVALID_ARGUMENT, exec(operator, null), "no first message, nothing to authorise");
    }

    @Test
    void anOperatorGetsPastAuthorisationToLogsAndAViewerDoesNot() {
        String operator = tokenWithRole("operator-1", Role.OPERATOR, "ops-ns");
        String viewer = tokenWithRole("viewer-ops", Role.VIEWER, "ops-ns");
        Status.Code operatorCode = logs(operator);
        assertNotEquals(Status.Code.PERMISSION_DENIED, operatorCode);
        assertNotEquals(Status.Code.UNAUTHENTICATED, operatorCode);
        assertEquals(Status.Code.NOT_FOUND, operatorCode, "no such replica: the call reached the Ops service");
        assertEquals(Status.Code.PERMISSION_DENIED, logs(viewer));
    }

    @Test
    void anExpiredTokenAndARevokedOneAreUnauthenticated() throws Exception {
        Instant expiry = Instant.now().plusSeconds(2);
        String shortLived = access().createApiToken(CreateApiTokenRequest.newBuilder().setApiToken(ApiToken.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("short-lived"))
                .setExpireTime(Joiner.timestamp(expiry))).build()).getSecret();
        String revoked = tokenWithRole("to-revoke", Role.VIEWER, "");
        access().createRoleBinding(CreateRoleBindingRequest.newBuilder().setRoleBinding(RoleBinding.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("short-lived-viewer")).setRole(Role.VIEWER).setSubject("token:short-lived")).build());

        ApiToken after = access().revokeApiToken(RevokeApiTokenRequest.newBuilder().setName("to-revoke").build());
        assertTrue(after.hasRevokeTime());
        TestApi.await("revocation in effect", WAIT, () -> {
            try {
                apps(revoked).listApps(ListAppsRequest.getDefaultInstance());
                return false;
            } catch (StatusRuntimeException e) {
                return e.getStatus().getCode() == Status.Code.UNAUTHENTICATED;
            }
        });
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> apps(revoked).listApps(ListAppsRequest.getDefaultInstance()));
        assertTrue(refused.getStatus().getDescription().contains("revoked"), refused.getStatus().getDescription());

        Thread.sleep(Math.max(0, Duration.between(Instant.now(), expiry).toMillis() + 100));
        StatusRuntimeException expired = assertThrows(StatusRuntimeException.class, () -> apps(shortLived).listApps(ListAppsRequest.getDefaultInstance()));
        assertEquals(Status.Code.UNAUTHENTICATED, expired.getStatus().getCode());
        assertTrue(expired.getStatus().getDescription().contains("expired"), expired.getStatus().getDescription());

        access().deleteApiToken(DeleteApiTokenRequest.newBuilder().setName("to-revoke").build());
        assertEquals(Status.Code.NOT_FOUND, code(() -> access().getApiToken(GetApiTokenRequest.newBuilder().setName("to-revoke").build())));
        TestApi.await("deletion in effect", WAIT, () -> {
            try {
                apps(revoked).listApps(ListAppsRequest.getDefaultInstance());
                return false;
            } catch (StatusRuntimeException e) {
                return "invalid bearer token".equals(e.getStatus().getDescription());
            }
        });
    }

    @Test
    void aTokensSecretIsNeverStoredNorListedAndItsCallsAreAuditedByName() throws Exception {
        Instant start = Instant.now().minusMillis(5);
        CreateApiTokenResponse created = access().createApiToken(CreateApiTokenRequest.newBuilder().setApiToken(ApiToken.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("ci")).setDescription("the CI pipeline")).build());
        String secret = created.getSecret();
        assertTrue(secret.startsWith("ept_") && secret.length() > 40, secret.length() + " characters");
        Instant expires = Instant.ofEpochSecond(created.getApiToken().getExpireTime().getSeconds());
        assertTrue(Duration.between(Instant.now(), expires).toDays() >= 89, "expires by default in 90 days: " + expires);

        for (KeyValue kv : api.etcd.getKVClient().get(ByteSequence.from("\0", StandardCharsets.UTF_8),
                GetOption.builder().withRange(ByteSequence.from(new byte[] {(byte) 0xff})).build()).get(10, TimeUnit.SECONDS).getKvs()) {
            assertFalse(new String(kv.getValue().getBytes(), StandardCharsets.ISO_8859_1).contains(secret),
                    "the secret is stored at " + kv.getKey().toString(StandardCharsets.UTF_8));
            assertFalse(new String(kv.getKey().getBytes(), StandardCharsets.ISO_8859_1).contains(secret));
        }
        assertTrue(access().listApiTokens(ListApiTokensRequest.getDefaultInstance()).getApiTokensList().stream()
                .anyMatch(t -> t.getMetadata().getName().equals("ci") && t.getDescription().equals("the CI pipeline")));
        assertFalse(access().listApiTokens(ListApiTokensRequest.getDefaultInstance()).toString().contains(secret));

        access().createRoleBinding(CreateRoleBindingRequest.newBuilder().setRoleBinding(RoleBinding.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("ci-deployer")).setRole(Role.DEPLOYER).setSubject("token:ci")
                .setNamespace("ci-ns")).build());
        TestApi.await("ci's create", WAIT, () -> {
            try {
                apps(secret).createApp(CreateAppRequest.newBuilder().setApp(app("ci-ns", "built")).build());
                return true;
            } catch (StatusRuntimeException e) {
                return false;
            }
        });
        AuditServiceGrpc.AuditServiceBlockingStub audit = api.withToken(AuditServiceGrpc.newBlockingStub(api.channel), api.adminToken);
        TestApi.await("the audit records", WAIT, () -> {
            List<AuditRecord> records = audit.listAuditRecords(ListAuditRecordsRequest.newBuilder().setSince(Joiner.timestamp(start)).build())
                    .getRecordsList();
            return records.stream().anyMatch(r -> r.getMethod().endsWith("AppService/CreateApp") && r.getCode().equals("OK")
                    && r.getSubject().equals("token:ci"))
                    && records.stream().anyMatch(r -> r.getMethod().endsWith("AccessService/CreateApiToken")
                    && r.getSubject().equals("admin") && r.getObject().getKind().equals("ApiToken") && r.getObject().getName().equals("ci")
                    && r.getObject().getNamespace().isEmpty())
                    && records.stream().anyMatch(r -> r.getMethod().endsWith("AccessService/CreateRoleBinding")
                    && r.getObject().getKind().equals("RoleBinding") && r.getObject().getName().equals("ci-deployer"));
        });
        access().revokeApiToken(RevokeApiTokenRequest.newBuilder().setName("ci").build());
        TestApi.await("the revocation's audit record", WAIT, () -> audit.listAuditRecords(ListAuditRecordsRequest.newBuilder()
                .setSince(Joiner.timestamp(start)).setMethod("RevokeApiToken").build()).getRecordsList().stream()
                .anyMatch(r -> r.getCode().equals("OK") && r.getObject().getKind().equals("ApiToken") && r.getObject().getName().equals("ci")));
        assertFalse(audit.listAuditRecords(ListAuditRecordsRequest.newBuilder().setSince(Joiner.timestamp(start)).build())
                .toString().contains(secret));
    }

    @Test
    void tokenAndBindingInputIsValidated() {
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> access().createApiToken(CreateApiTokenRequest.newBuilder()
                .setApiToken(ApiToken.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("Not_A_Name"))).build())));
        StatusRuntimeException tooLong = assertThrows(StatusRuntimeException.class, () -> access().createApiToken(CreateApiTokenRequest.newBuilder()
                .setApiToken(ApiToken.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("forever"))
                        .setExpireTime(Joiner.timestamp(Instant.now().plus(Duration.ofDays(400))))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, tooLong.getStatus().getCode());
        assertTrue(tooLong.getStatus().getDescription().contains("api_token.expire_time"), tooLong.getStatus().getDescription());
        StatusRuntimeException badSubject = assertThrows(StatusRuntimeException.class, () -> access().createRoleBinding(
                CreateRoleBindingRequest.newBuilder().setRoleBinding(RoleBinding.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("bad"))
                        .setRole(Role.VIEWER).setSubject("someone")).build()));
        assertTrue(badSubject.getStatus().getDescription().contains("role_binding.subject"), badSubject.getStatus().getDescription());
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> access().createRoleBinding(CreateRoleBindingRequest.newBuilder()
                .setRoleBinding(RoleBinding.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("no-role")).setSubject("token:x")).build())));
        access().createRoleBinding(CreateRoleBindingRequest.newBuilder().setRoleBinding(RoleBinding.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("twice")).setRole(Role.VIEWER).setSubject("group:devs")).build());
        assertEquals(Status.Code.ABORTED, code(() -> access().createRoleBinding(CreateRoleBindingRequest.newBuilder()
                .setRoleBinding(RoleBinding.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("twice")).setRole(Role.VIEWER)
                        .setSubject("group:devs")).build())));
        assertTrue(access().listRoleBindings(ListRoleBindingsRequest.getDefaultInstance()).getRoleBindingsList().stream()
                .anyMatch(b -> b.getMetadata().getName().equals("twice")));
        access().deleteRoleBinding(DeleteRoleBindingRequest.newBuilder().setName("twice").build());
        assertEquals(Status.Code.NOT_FOUND, code(() -> access().deleteRoleBinding(DeleteRoleBindingRequest.newBuilder().setName("twice").build())));
    }

    /** One request on a fresh reflection stream. */
    private ServerReflectionResponse reflect(ServerReflectionRequest request) throws Exception {
        CompletableFuture<ServerReflectionResponse> answer = new CompletableFuture<>();
        var observer = ServerReflectionGrpc.newStub(api.channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .serverReflectionInfo(new StreamObserver<>() {
                    public void onNext(ServerReflectionResponse value) {
                        answer.complete(value);
                    }

                    public void onError(Throwable t) {
                        answer.completeExceptionally(t);
                    }

                    public void onCompleted() {}
                });
        observer.onNext(request);
        ServerReflectionResponse response = answer.get(10, TimeUnit.SECONDS);
        observer.onCompleted();
        return response;
    }

    @Test
    void everyMethodTheServerServesHasAnAuthorisationRule() throws Exception {
        Set<String> served = new TreeSet<>();
        for (var service : reflect(ServerReflectionRequest.newBuilder().setListServices("").build())
                .getListServicesResponse().getServiceList()) {
            String name = service.getName();
            if (name.startsWith("grpc.")) {
                continue; // reflection and health: open by design
            }
            ServerReflectionResponse files = reflect(ServerReflectionRequest.newBuilder().setFileContainingSymbol(name).build());
            for (var bytes : files.getFileDescriptorResponse().getFileDescriptorProtoList()) {
                DescriptorProtos.FileDescriptorProto file = DescriptorProtos.FileDescriptorProto.parseFrom(bytes);
                for (DescriptorProtos.ServiceDescriptorProto s : file.getServiceList()) {
                    if ((file.getPackage() + "." + s.getName()).equals(name)) {
                        s.getMethodList().forEach(m -> served.add(name + "/" + m.getName()));
                    }
                }
            }
        }
        assertTrue(served.size() > 50, "the services' methods were found: " + served);
        assertTrue(served.contains("edgeplane.v1.AccessService/CreateRoleBinding"), served.toString());
        List<String> missing = new ArrayList<>();
        for (String method : served) {
            if (MethodRules.of(method).isEmpty()) {
                missing.add(method);
            }
        }
        assertEquals(List.of(), missing, "methods without an authorisation rule (refused to everyone)");
        Set<String> stale = new TreeSet<>(MethodRules.all().keySet());
        stale.removeAll(served);
        assertEquals(Set.of(), stale, "rules for methods the server does not serve");
    }
}
