package dev.edgeplane.agent.pods;

import com.google.protobuf.ByteString;
import dev.edgeplane.agent.images.RegistryCredentials;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.cri.v1.ContainerState;
import dev.edgeplane.cri.v1.PodSandbox;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/** Test helpers: assignments, and what the runtime runs for a namespace. */
public final class Pods {
    public static final String BUSYBOX = "localhost/edgeplane/busybox:1";

    private Pods() {}

    public static Container container(String name, String image, String... command) {
        return Container.newBuilder().setName(name).setImage(image).addAllCommand(Arrays.asList(command)).build();
    }

    public static Assignment assignment(String namespace, String app, int ordinal, PodTemplate template) {
        return Assignment.newBuilder().setNode("node-1").setNamespace(namespace).setApp(app)
                .setReplica(app + "-" + ordinal).setTemplate(template).setGeneration(1).build();
    }

    public static PodTemplate template(PodTemplate.RestartPolicy policy, Container... containers) {
        return PodTemplate.newBuilder().addAllContainers(List.of(containers)).setRestartPolicy(policy)
                .setTerminationGraceSeconds(1).build();
    }

    /** A Secret as the agent gets it in config_data, holding a dockerconfigjson. */
    public static ConfigData secret(String name, Secret.Type type, String dockerConfigJson) {
        return ConfigData.newBuilder().setNamespace("ns")
                .setRef(ConfigRef.newBuilder().setKind(ConfigRef.Kind.SECRET).setName(name).setVersion(7))
                .setSecretType(type)
                .putData(RegistryCredentials.DOCKER_CONFIG_JSON, ByteString.copyFromUtf8(dockerConfigJson)).build();
    }

    public static ConfigData registrySecret(String name, String dockerConfigJson) {
        return secret(name, Secret.Type.REGISTRY_CREDENTIALS, dockerConfigJson);
    }

    /** {"auths": {key: {"username": user, "password": password}}} */
    public static String dockerConfigJson(String key, String user, String password) {
        return "{\"auths\": {\"" + key + "\": {\"username\": \"" + user + "\", \"password\": \"" + password + "\"}}}";
    }

    /** IDs of running managed containers in a namespace, sorted. */
    public static List<String> running(CriRuntime cri, String namespace) {
        return List.copyOf(new TreeSet<>(cri.listContainers(Map.of(PodLabels.MANAGED, "true", PodLabels.NAMESPACE, namespace)).stream()
                .filter(c -> c.getState() == ContainerState.CONTAINER_RUNNING)
                .map(dev.edgeplane.cri.v1.Container::getId).toList()));
    }

    /** Every managed container (any state) in a namespace. */
    public static List<dev.edgeplane.cri.v1.Container> containers(CriRuntime cri, String namespace) {
        return cri.listContainers(Map.of(PodLabels.MANAGED, "true", PodLabels.NAMESPACE, namespace));
    }

    public static List<PodSandbox> sandboxes(CriRuntime cri, String namespace) {
        return cri.listSandboxes(Map.of(PodLabels.MANAGED, "true", PodLabels.NAMESPACE, namespace));
    }

    /** Removes every managed pod, directly through CRI (test cleanup). */
    public static void removeAll(CriRuntime cri) {
        for (PodSandbox sandbox : cri.listSandboxes(PodLabels.managed())) {
            try {
                cri.stopSandbox(sandbox.getId());
                cri.removeSandbox(sandbox.getId());
            } catch (RuntimeException ignored) {
                // best effort
            }
        }
    }
}
