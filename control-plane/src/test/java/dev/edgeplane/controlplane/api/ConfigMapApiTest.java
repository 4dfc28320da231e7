package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.rpc.BadRequest;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.ConfigMap;
import dev.edgeplane.api.v1.ConfigMapEnvSource;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateConfigMapRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.DeleteConfigMapRequest;
import dev.edgeplane.api.v1.EnvFromSource;
import dev.edgeplane.api.v1.GetConfigMapRequest;
import dev.edgeplane.api.v1.ListConfigMapsRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.UpdateConfigMapRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** ConfigMapService against a real etcd: CRUD with resource_version, key and size rules, delete refused while used. */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class ConfigMapApiTest {
    private TestApi api;

    @BeforeEach
    void connect() {
        api = new TestApi();
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    static ConfigMap configMap(String ns, String name) {
        return ConfigMap.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName(name).putLabels("tier", "web"))
                .putData("app.properties", "greeting=hello\n").putBinaryData("logo.png", ByteString.copyFrom(new byte[] {1, 2, 3}))
                .build();
    }

    private ConfigMap create(ConfigMap configMap) {
        return api.configMaps().createConfigMap(CreateConfigMapRequest.newBuilder().setConfigMap(configMap).build());
    }

    static StatusRuntimeException fails(Status.Code code, Executable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call);
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        return e;
    }

    /** INVALID_ARGUMENT with a violation on {@code field} whose description contains {@code words}. */
    static void invalid(String field, String words, Executable call) {
        StatusRuntimeException e = fails(Status.Code.INVALID_ARGUMENT, call);
        BadRequest bad = AdmissionLimitsTest.detail(e, BadRequest.class);
        assertTrue(bad.getFieldViolationsList().stream().anyMatch(v -> v.getField().equals(field) && v.getDescription().contains(words)),
                bad.toString());
    }

    /** An App of {@code ns} whose containers take env vars from configmap {@code configMap}. */
    static App appUsing(String ns, String name, EnvFromSource from) {
        App app = AppApiTest.app(ns, name, 1);
        var template = app.getSpec().getTemplate().toBuilder();
        template.setContainers(0, template.getContainers(0).toBuilder().addEnvFrom(from));
        return app.toBuilder().setSpec(app.getSpec().toBuilder().setTemplate(template)).build();
    }

    @Test
    void createGetListUpdateDeleteWithResourceVersions() {
        ConfigMap created = create(configMap("", "web-config"));
        assertEquals("default", created.getMetadata().getNamespace(), "namespace defaults to default");
        assertTrue(created.getMetadata().getResourceVersion() > 0);
        assertEquals(1, created.getMetadata().getGeneration());
        fails(Status.Code.ABORTED, () -> create(configMap("default", "web-config")));

        ConfigMap read = api.configMaps().getConfigMap(GetConfigMapRequest.newBuilder().setName("web-config").build());
        assertEquals(created, read);
        assertEquals(List.of(read), api.configMaps().listConfigMaps(ListConfigMapsRequest.newBuilder().setNamespace("default")
                .setLabelSelector("tier=web").build()).getConfigMapsList().stream()
                .filter(c -> c.getMetadata().getName().equals("web-config")).toList());

        ConfigMap changed = api.configMaps().updateConfigMap(UpdateConfigMapRequest.newBuilder().setConfigMap(read.toBuilder()
                .putData("app.properties", "greeting=bye\n")).build());
        assertTrue(changed.getMetadata().getResourceVersion() > read.getMetadata().getResourceVersion());
        assertEquals(2, changed.getMetadata().getGeneration());
        assertEquals(read.getMetadata().getUid(), changed.getMetadata().getUid());
        StatusRuntimeException stale = fails(Status.Code.ABORTED, () -> api.configMaps().updateConfigMap(
                UpdateConfigMapRequest.newBuilder().setConfigMap(read.toBuilder().putData("x", "y")).build()));
        assertTrue(stale.getStatus().getDescription().contains("configmap \"default/web-config\""), stale.getStatus().getDescription());
        fails(Status.Code.ABORTED, () -> api.configMaps().deleteConfigMap(DeleteConfigMapRequest.newBuilder().setName("web-config")
                .setResourceVersion(read.getMetadata().getResourceVersion()).build()));

        api.configMaps().deleteConfigMap(DeleteConfigMapRequest.newBuilder().setName("web-config")
                .setResourceVersion(changed.getMetadata().getResourceVersion()).build());
        fails(Status.Code.NOT_FOUND, () -> api.configMaps().getConfigMap(GetConfigMapRequest.newBuilder().setName("web-config").build()));
        fails(Status.Code.NOT_FOUND, () -> api.configMaps().updateConfigMap(UpdateConfigMapRequest.newBuilder().setConfigMap(read).build()));
    }

    @Test
    void badKeysAndNamesAreRefusedNamingTheField() {
        invalid("config_map.data[\"bad/key\"]", "key must be", () -> create(configMap("cm-bad", "a").toBuilder().putData("bad/key", "v").build()));
        invalid("config_map.data[\"..hidden\"]", "start with \"..\"", () -> create(configMap("cm-bad", "a").toBuilder().putData("..hidden", "v").build()));
        invalid("config_map.binary_data[\".\"]", "must not be \".\"", () -> create(configMap("cm-bad", "a").toBuilder()
                .putBinaryData(".", ByteString.EMPTY).build()));
        String longKeyField = "config_map.data[\"" + "k".repeat(254) + "\"]";
        invalid(longKeyField.substring(0, Validation.MAX_TEXT - 3) + "...", "key must be 1-253", () -> create(configMap("cm-bad", "a").toBuilder()
                .putData("k".repeat(254), "v").build()));
        invalid("config_map.binary_data[\"app.properties\"]", "share one key space", () -> create(configMap("cm-bad", "a").toBuilder()
                .putBinaryData("app.properties", ByteString.EMPTY).build()));
        invalid("config_map.metadata.name", "DNS-1123", () -> create(configMap("cm-bad", "Not_A_Name")));
        invalid("config_map.metadata.labels[bad key]", "label key", () -> create(configMap("cm-bad", "a").toBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("a").putLabels("bad key", "v")).build()));
        assertEquals(0, api.etcdCount("/edgeplane/configmaps/cm-bad/"));
    }

    @Test
    void dataAndBinaryDataTogetherAreAtMostOneMebibyte() {
        String half = "x".repeat(512 * 1024);
        // "a" + half + "b" + half + the two keys of configMap(): just over 1 MiB.
        ConfigMap tooBig = configMap("cm-size", "big").toBuilder().putData("a", half)
                .putBinaryData("b", ByteString.copyFromUtf8(half)).build();
        invalid("config_map.data", "over the limit of 1048576 bytes (1 MiB)", () -> create(tooBig));
        ConfigMap fits = ConfigMap.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace("cm-size").setName("big"))
                .putData("a", half).putBinaryData("b", ByteString.copyFromUtf8(half.substring(2))).build();
        assertEquals("big", create(fits).getMetadata().getName(), "exactly 1 MiB of keys and values fits");
    }

    @Test
    void deleteIsRefusedNamingTheAppsThatUseItAndAllowedOnceTheyAreGone() {
        String ns = "cm-used";
        create(configMap(ns, "web-config"));
        EnvFromSource from = EnvFromSource.newBuilder().setConfigMapRef(ConfigMapEnvSource.newBuilder().setName("web-config")).build();
        for (int i = 0; i < 7; i++) {
            api.apps().createApp(CreateAppRequest.newBuilder().setApp(appUsing(ns, "web-" + i, from)).build());
        }
        // Same name in another namespace, and an App of this one using something else: neither counts.
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(appUsing("cm-other", "web", from)).build());
        api.apps().createApp(CreateAppRequest.newBuilder().setApp(AppApiTest.app(ns, "plain", 1)).build());
        DeleteConfigMapRequest delete = DeleteConfigMapRequest.newBuilder().setNamespace(ns).setName("web-config").build();
        TestApi.await("the informer to see all seven Apps", Duration.ofSeconds(10), () -> {
            try {
                api.configMaps().deleteConfigMap(delete);
                throw new AssertionError("deleted while used");
            } catch (StatusRuntimeException e) {
                return e.getStatus().getDescription().contains("(and 2 more)");
            }
        });
        StatusRuntimeException e = fails(Status.Code.FAILED_PRECONDITION, () -> api.configMaps().deleteConfigMap(delete));
        assertEquals("configmap \"web-config\" is used by app \"cm-used/web-0\", app \"cm-used/web-1\", app \"cm-used/web-2\", "
                + "app \"cm-used/web-3\", app \"cm-used/web-4\" (and 2 more): remove it from their templates (or delete them) first",
                e.getStatus().getDescription());

        for (int i = 0; i < 7; i++) {
            api.apps().deleteApp(DeleteAppRequest.newBuilder().setNamespace(ns).setName("web-" + i).build());
        }
        TestApi.await("the delete to pass once no App uses it", Duration.ofSeconds(10), () -> {
            try {
                api.configMaps().deleteConfigMap(delete);
                return true;
            } catch (StatusRuntimeException refused) {
                assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
                return false;
            }
        });
        assertEquals(0, api.etcdCount("/edgeplane/configmaps/" + ns + "/"));
    }
}
