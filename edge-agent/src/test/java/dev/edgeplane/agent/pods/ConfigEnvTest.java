package dev.edgeplane.agent.pods;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigMapEnvSource;
import dev.edgeplane.api.v1.ConfigMapKeySelector;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.EnvFromSource;
import dev.edgeplane.api.v1.EnvVar;
import dev.edgeplane.api.v1.EnvVarSource;
import dev.edgeplane.api.v1.ObjectFieldSelector;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.SecretEnvSource;
import dev.edgeplane.api.v1.SecretKeySelector;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ConfigEnvTest {
    private static ConfigData data(ConfigRef.Kind kind, String name, Map<String, String> values) {
        ConfigData.Builder data = ConfigData.newBuilder().setNamespace("shop")
                .setRef(ConfigRef.newBuilder().setKind(kind).setName(name).setVersion(7));
        values.forEach((k, v) -> data.putData(k, ByteString.copyFromUtf8(v)));
        return data.build();
    }

    private static Assignment assignment(ConfigData... data) {
        return Pods.assignment("shop", "web", 3, Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("c", "i:1")))
                .toBuilder().addAllConfigData(List.of(data)).build();
    }

    private static EnvVar field(String name, String path) {
        return EnvVar.newBuilder().setName(name).setValueFrom(EnvVarSource.newBuilder()
                .setFieldRef(ObjectFieldSelector.newBuilder().setFieldPath(path))).build();
    }

    private static EnvVar configKey(String name, String map, String key, boolean optional) {
        return EnvVar.newBuilder().setName(name).setValueFrom(EnvVarSource.newBuilder()
                .setConfigMapKeyRef(ConfigMapKeySelector.newBuilder().setName(map).setKey(key).setOptional(optional))).build();
    }

    @Test
    void downwardApiEnvVarsTakeTheReplicasOwnValues() {
        Container c = Container.newBuilder().setName("c").addEnv(field("A", "metadata.name")).addEnv(field("B", "metadata.namespace"))
                .addEnv(field("C", "spec.nodeName")).addEnv(EnvVar.newBuilder().setName("D").setValue("plain")).build();
        assertEquals(Map.of("A", "web-3", "B", "shop", "C", "node-1", "D", "plain"), ConfigEnv.of(assignment(), c).env());
    }

    @Test
    void envFromComesFirstInKeyOrderAndEnvEntriesWin() {
        Container c = Container.newBuilder().setName("c")
                .addEnvFrom(EnvFromSource.newBuilder().setConfigMapRef(ConfigMapEnvSource.newBuilder().setName("web")))
                .addEnvFrom(EnvFromSource.newBuilder().setPrefix("DB_").setSecretRef(SecretEnvSource.newBuilder().setName("db")))
                .addEnv(EnvVar.newBuilder().setName("COLOUR").setValue("red"))
                .addEnv(EnvVar.newBuilder().setName("SECRET_FROM_KEY").setValueFrom(EnvVarSource.newBuilder()
                        .setSecretKeyRef(SecretKeySelector.newBuilder().setName("db").setKey("password")))).build();
        ConfigEnv env = ConfigEnv.of(assignment(data(ConfigRef.Kind.CONFIG_MAP, "web", Map.of("SIZE", "L", "COLOUR", "blue", "bad key", "x")),
                data(ConfigRef.Kind.SECRET, "db", Map.of("password", "s3cret"))), c);
        assertEquals(Optional.empty(), env.problem());
        assertEquals(List.of("SIZE", "DB_password", "COLOUR", "SECRET_FROM_KEY"), List.copyOf(env.env().keySet()));
        assertEquals("red", env.env().get("COLOUR"));
        assertEquals("s3cret", env.env().get("DB_password"));
        assertEquals(List.of("bad key"), env.skipped());
    }

    @Test
    void aMissingObjectOrKeyHoldsTheContainerBackUnlessOptional() {
        Container needsMap = Container.newBuilder().setName("c").addEnv(configKey("X", "web", "k", false)).build();
        assertEquals(Optional.of("configmap \"web\" not found"), ConfigEnv.of(assignment(), needsMap).problem());
        assertEquals(Optional.of("couldn't find key k in configmap \"web\""),
                ConfigEnv.of(assignment(data(ConfigRef.Kind.CONFIG_MAP, "web", Map.of("other", "1"))), needsMap).problem());
        ConfigData missing = data(ConfigRef.Kind.CONFIG_MAP, "web", Map.of()).toBuilder().setMissing(true).build();
        assertEquals(Optional.of("configmap \"web\" not found"), ConfigEnv.of(assignment(missing), needsMap).problem());

        Container optional = Container.newBuilder().setName("c").addEnv(configKey("X", "web", "k", true))
                .addEnvFrom(EnvFromSource.newBuilder().setSecretRef(SecretEnvSource.newBuilder().setName("gone").setOptional(true))).build();
        ConfigEnv env = ConfigEnv.of(assignment(), optional);
        assertEquals(Optional.empty(), env.problem());
        assertEquals(Map.of(), env.env(), "optional references to missing things leave the variables unset");
    }
}
