package dev.edgeplane.controlplane.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.ExecRequest;
import dev.edgeplane.api.v1.ExecStart;
import dev.edgeplane.api.v1.EventFilter;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.GetSecretRequest;
import dev.edgeplane.api.v1.ListAppsRequest;
import dev.edgeplane.api.v1.ListEventsRequest;
import dev.edgeplane.api.v1.LogsRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.Role;
import dev.edgeplane.api.v1.RoleBinding;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The authoriser's decisions from bindings alone: no Quarkus, no etcd. */
class AuthorizerTest {
    private final List<RoleBinding> bindings = new ArrayList<>();
    private final Authorizer authorizer = new Authorizer(subject -> bindings.stream().filter(b -> b.getSubject().equals(subject)).toList());

    private void bind(String subject, Role role, String namespace) {
        bindings.add(RoleBinding.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("b" + bindings.size()))
                .setSubject(subject).setRole(role).setNamespace(namespace).build());
    }

    private Optional<Status> check(String subject, String method, Object request) {
        return authorizer.check(Identity.of(subject), method, request);
    }

    private static CreateAppRequest createApp(String namespace) {
        return CreateAppRequest.newBuilder().setApp(App.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace(namespace).setName("a"))).build();
    }

    @Test
    void theBootstrapAdminMayCallEverythingWithoutBindings() {
        assertTrue(check("admin", "edgeplane.v1.NodeService/DeleteNode", null).isEmpty());
        assertTrue(check("admin", "edgeplane.v1.AccessService/CreateApiToken", null).isEmpty());
    }

    @Test
    void aSubjectWithoutBindingsIsDeniedNamingItselfTheRoleAndTheNamespace() {
        Status denied = check("token:ci", "edgeplane.v1.AppService/CreateApp", createApp("prod")).orElseThrow();
        assertEquals(Status.Code.PERMISSION_DENIED, denied.getCode());
        assertTrue(denied.getDescription().contains("token:ci"), denied.getDescription());
        assertTrue(denied.getDescription().contains("deployer"), denied.getDescription());
        assertTrue(denied.getDescription().contains("\"prod\""), denied.getDescription());
    }

    @Test
    void aViewerReadsButNeitherWritesNorReadsSecretValuesNorOperates() {
        bind("token:v", Role.VIEWER, "");
        assertTrue(check("token:v", "edgeplane.v1.AppService/GetApp", GetAppRequest.newBuilder().setName("a").build()).isEmpty());
        assertTrue(check("token:v", "edgeplane.v1.AppService/ListApps", ListAppsRequest.getDefaultInstance()).isEmpty());
        assertTrue(check("token:v", "edgeplane.v1.NodeService/ListNodes", null).isEmpty());
        assertFalse(check("token:v", "edgeplane.v1.AppService/CreateApp", createApp("prod")).isEmpty());
        assertFalse(check("token:v", "edgeplane.v1.SecretService/GetSecret", GetSecretRequest.newBuilder().setName("s").build()).isEmpty());
        assertFalse(check("token:v", "edgeplane.v1.OpsService/Logs", LogsRequest.getDefaultInstance()).isEmpty());
        assertFalse(check("token:v", "edgeplane.v1.AuditService/ListAuditRecords", null).isEmpty());
    }

    @Test
    void aNamespaceBoundDeployerWritesOnlyInItsNamespaceAndNeverClusterResources() {
        bind("token:d", Role.DEPLOYER, "team-a");
        assertTrue(check("token:d", "edgeplane.v1.AppService/CreateApp", createApp("team-a")).isEmpty());
        assertFalse(check("token:d", "edgeplane.v1.AppService/CreateApp", createApp("team-b")).isEmpty());
        assertFalse(check("token:d", "edgeplane.v1.AppService/CreateApp", createApp("")).isEmpty(), "empty is \"default\"");
        assertTrue(check("token:d", "edgeplane.v1.SecretService/GetSecret",
                GetSecretRequest.newBuilder().setNamespace("team-a").setName("s").build()).isEmpty());
        assertFalse(check("token:d", "edgeplane.v1.NodeService/CordonNode", null).isEmpty());
        assertFalse(check("token:d", "edgeplane.v1.QuotaService/CreateQuota", null).isEmpty(), "quotas are set by admins");
    }

    @Test
    void aNamespaceBoundSubjectListingEveryNamespaceIsRefusedAndToldWhichNamespaceToName() {
        bind("token:d", Role.VIEWER, "team-a");
        Status denied = check("token:d", "edgeplane.v1.AppService/ListApps", ListAppsRequest.getDefaultInstance()).orElseThrow();
        assertTrue(denied.getDescription().contains("cluster-wide"), denied.getDescription());
        assertTrue(denied.getDescription().contains("[team-a]"), denied.getDescription());
        assertTrue(check("token:d", "edgeplane.v1.AppService/ListApps", ListAppsRequest.newBuilder().setNamespace("team-a").build()).isEmpty());
        assertTrue(check("token:d", "edgeplane.v1.EventService/ListEvents", ListEventsRequest.newBuilder()
                .setFilter(EventFilter.newBuilder().setNamespace("team-a")).build()).isEmpty(), "the namespace of an event filter");
    }

    @Test
    void anOperatorReachesReplicasOfItsNamespaceButNodesOnlyClusterWide() {
        bind("token:o", Role.OPERATOR, "team-a");
        OpsTarget replica = OpsTarget.newBuilder().setNamespace("team-a").setReplica("web-0").build();
        assertTrue(check("token:o", "edgeplane.v1.OpsService/Logs", LogsRequest.newBuilder().setTarget(replica).build()).isEmpty());
        assertTrue(check("token:o", "edgeplane.v1.OpsService/Exec", ExecRequest.newBuilder()
                .setStart(ExecStart.newBuilder().setTarget(replica)).build()).isEmpty(), "the target of the first (start) message");
        assertFalse(check("token:o", "edgeplane.v1.OpsService/Logs", LogsRequest.newBuilder()
                .setTarget(OpsTarget.newBuilder().setNode("edge-1")).build()).isEmpty(), "a node is cluster-wide");
        assertFalse(check("token:o", "edgeplane.v1.OpsService/Ssh", null).isEmpty());
        assertFalse(check("token:o", "edgeplane.v1.AppService/CreateApp", createApp("team-a")).isEmpty(), "operators do not deploy");
    }

    @Test
    void groupsOfAnOidcIdentityGrantTheirBindings() {
        bind("group:ops", Role.ADMIN, "");
        assertTrue(authorizer.check(new Identity("oidc:alice", List.of("group:ops")), "edgeplane.v1.NodeService/DeleteNode", null).isEmpty());
        assertFalse(authorizer.check(new Identity("oidc:bob", List.of("group:dev")), "edgeplane.v1.NodeService/DeleteNode", null).isEmpty());
    }

    @Test
    void aMethodWithoutARuleIsRefusedEvenToAClusterAdmin() {
        bind("token:root", Role.ADMIN, "");
        Status denied = check("token:root", "edgeplane.v1.AppService/SomethingNew", null).orElseThrow();
        assertEquals(Status.Code.PERMISSION_DENIED, denied.getCode());
        assertTrue(denied.getDescription().contains("no authorisation rule"), denied.getDescription());
    }

    @Test
    void everyRolesPermissionsAreTheDocumentedOnes() {
        assertTrue(Permission.READ.grantedBy(Role.VIEWER));
        assertFalse(Permission.READ_SECRET_VALUES.grantedBy(Role.VIEWER));
        assertTrue(Permission.WRITE.grantedBy(Role.DEPLOYER));
        assertFalse(Permission.OPERATE.grantedBy(Role.DEPLOYER));
        assertTrue(Permission.OPERATE.grantedBy(Role.OPERATOR));
        assertFalse(Permission.WRITE.grantedBy(Role.OPERATOR));
        for (Permission p : Permission.values()) {
            assertTrue(p.grantedBy(Role.ADMIN));
            assertFalse(p.grantedBy(Role.ROLE_UNSPECIFIED));
            assertTrue(p.grantedBy(p.minimumRole()));
        }
    }
}
