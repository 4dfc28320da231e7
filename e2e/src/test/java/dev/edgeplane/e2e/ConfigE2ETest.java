package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.ConfigMap;
import dev.edgeplane.api.v1.ConfigMapVolumeSource;
import dev.edgeplane.api.v1.CreateConfigMapRequest;
import dev.edgeplane.api.v1.CreateSecretRequest;
import dev.edgeplane.api.v1.DeleteConfigMapRequest;
import dev.edgeplane.api.v1.EnvVar;
import dev.edgeplane.api.v1.EnvVarSource;
import dev.edgeplane.api.v1.GetConfigMapRequest;
import dev.edgeplane.api.v1.HostPathSource;
import dev.edgeplane.api.v1.LocalObjectReference;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.api.v1.SecretKeySelector;
import dev.edgeplane.api.v1.SecretVolumeSource;
import dev.edgeplane.api.v1.UpdateConfigMapRequest;
import dev.edgeplane.api.v1.VolumeMount;
import dev.edgeplane.testkit.Registry;
import dev.edgeplane.testkit.TestImages;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ConfigMaps and Secrets end to end: control plane (real etcd), two agents with their own containerd.
 * A pod reads a ConfigMap file and a Secret as env and file; a ConfigMap update reaches the file
 * without a restart; the Secret reaches only the host that runs the pod, sits there owner-only and
 * appears in no log; an object in use cannot be deleted.
 */
class ConfigE2ETest {
    @TempDir
    Path dir;

    @Test
    void configAndSecretsReachOnlyThePodsHostAndAnUpdateReachesTheFileInPlace() throws Exception {
        try (EdgeCluster cluster = EdgeCluster.start(dir, java.util.Map.of(), EdgeCluster.FAST_AGENT, "edge-1", "edge-2")) {
            String secretValue = "e2e-" + UUID.randomUUID();
            cluster.cloud.configMaps().createConfigMap(CreateConfigMapRequest.newBuilder().setConfigMap(ConfigMap.newBuilder()
                    .setMetadata(ObjectMeta.newBuilder().setName("web-config")).putData("greeting", "hello v1")).build());
            cluster.cloud.secrets().createSecret(CreateSecretRequest.newBuilder().setSecret(Secret.newBuilder()
                    .setMetadata(ObjectMeta.newBuilder().setName("web-secret")).setType(Secret.Type.OPAQUE)
                    .putData("token", ByteString.copyFromUtf8(secretValue))).build());

            Path out = Files.createDirectories(dir.resolve("out"));
            App app = cluster.app("web", 1, "sh", "-c", "echo \"$TOKEN\" > /out/env; "
                    + "while true; do cat /etc/web/greeting > /out/seen.tmp; mv /out/seen.tmp /out/seen; "
                    + "cat /etc/secret/token > /out/secret-file; sleep 0.2; done");
            var container = app.getSpec().getTemplate().getContainers(0).toBuilder()
                    .addEnv(EnvVar.newBuilder().setName("TOKEN").setValueFrom(EnvVarSource.newBuilder()
                            .setSecretKeyRef(SecretKeySelector.newBuilder().setName("web-secret").setKey("token"))))
                    .addVolumeMounts(VolumeMount.newBuilder().setName("out").setMountPath("/out"))
                    .addVolumeMounts(VolumeMount.newBuilder().setName("config").setMountPath("/etc/web").setReadOnly(true))
                    .addVolumeMounts(VolumeMount.newBuilder().setName("secret").setMountPath("/etc/secret").setReadOnly(true));
            app = app.toBuilder().setSpec(app.getSpec().toBuilder().setTemplate(app.getSpec().getTemplate().toBuilder()
                    .setContainers(0, container)
                    .addVolumes(PodVolume.newBuilder().setName("out").setHostPath(HostPathSource.newBuilder().setPath(out.toString())))
                    .addVolumes(PodVolume.newBuilder().setName("config").setConfigMap(ConfigMapVolumeSource.newBuilder().setName("web-config")))
                    .addVolumes(PodVolume.newBuilder().setName("secret").setSecret(SecretVolumeSource.newBuilder().setSecretName("web-secret")))))
                    .build();
            cluster.create(app);

            Await.until("the pod reads its config and secret", EdgeCluster.CONVERGE, cluster::diagnostics,
                    () -> read(out.resolve("seen")).equals("hello v1") && read(out.resolve("env")).equals(secretValue)
                            && read(out.resolve("secret-file")).equals(secretValue));
            EdgeHost runs = cluster.hosts.stream().filter(h -> !h.runningIds("web").isEmpty()).findFirst().orElseThrow();
            EdgeHost other = cluster.hosts.stream().filter(h -> h != runs).findFirst().orElseThrow();
            Set<String> containers = runs.runningIds("web");

            ConfigMap current = cluster.cloud.configMaps().getConfigMap(GetConfigMapRequest.newBuilder()
                    .setNamespace("default").setName("web-config").build());
            long updated = System.nanoTime();
            cluster.cloud.configMaps().updateConfigMap(UpdateConfigMapRequest.newBuilder().setConfigMap(current.toBuilder()
                    .putData("greeting", "hello v2")).build());
            Await.until("the update reaches the mounted file", EdgeCluster.CONVERGE, cluster::diagnostics,
                    () -> read(out.resolve("seen")).equals("hello v2"));
            System.out.printf("BENCH config configmap_update_to_file_ms=%d (UpdateConfigMap to the file a container reads)%n",
                    (System.nanoTime() - updated) / 1_000_000);
            assertEquals(containers, runs.runningIds("web"), "the same container: a file update restarts nothing");

            StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> cluster.cloud.configMaps()
                    .deleteConfigMap(DeleteConfigMapRequest.newBuilder().setNamespace("default").setName("web-config").build()));
            assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
            assertTrue(refused.getStatus().getDescription().contains("default/web"), refused.getStatus().getDescription());

            byte[] value = secretValue.getBytes(StandardCharsets.UTF_8);
            assertEquals(java.util.Map.of(), filesContaining(other.stateDir(), value), "a node that runs no pod using it never gets it");
            java.util.Map<Path, Set<PosixFilePermission>> holding = filesContaining(runs.stateDir(), value);
            assertFalse(holding.isEmpty(), "the node running the pod holds it (journal and volume)");
            holding.forEach((file, mode) -> assertTrue(mode.stream().noneMatch(p -> p.name().startsWith("GROUP") || p.name().startsWith("OTHERS")),
                    file + " is " + java.nio.file.attribute.PosixFilePermissions.toString(mode)));
            assertFalse(cluster.cloud.process().logText().contains(secretValue), "never logged by the control plane");
            for (EdgeHost h : cluster.hosts) {
                assertFalse(h.agent().logText().contains(secretValue), "never logged by agent " + h.name());
            }
        }
    }

    @Test
    void aRegistrySecretMadeThroughTheApiPullsFromAPrivateRegistry() throws Exception {
        try (EdgeCluster cluster = EdgeCluster.start(dir, java.util.Map.of(), EdgeCluster.FAST_AGENT, "edge-1");
             Registry registry = Registry.withBasicAuth("ci", "pull-pass")) {
            String image = registry.push(TestImages.BUSYBOX.archive(), "private/busybox:1");
            App app = cluster.app("private", 1, "sleep", "3600");
            App pulling = app.toBuilder().setSpec(app.getSpec().toBuilder().setTemplate(app.getSpec().getTemplate().toBuilder()
                    .setContainers(0, app.getSpec().getTemplate().getContainers(0).toBuilder().setImage(image))
                    .addImagePullSecrets(LocalObjectReference.newBuilder().setName("registry")))).build();
            cluster.create(pulling);
            Await.until("refused without credentials, saying so", EdgeCluster.CONVERGE, cluster::diagnostics,
                    () -> cluster.get("private").getStatus().getReplicasList().stream().anyMatch(r -> r.getMessage().contains("401")
                            || r.getContainersList().stream().anyMatch(c -> c.getMessage().contains("no image pull secret"))));
            assertTrue(cluster.host.runningIds("private").isEmpty());

            String dockerConfig = "{\"auths\":{\"" + registry.address() + "\":{\"username\":\"ci\",\"password\":\"pull-pass\"}}}";
            cluster.cloud.secrets().createSecret(CreateSecretRequest.newBuilder().setSecret(Secret.newBuilder()
                    .setMetadata(ObjectMeta.newBuilder().setName("registry")).setType(Secret.Type.REGISTRY_CREDENTIALS)
                    .putData(".dockerconfigjson", ByteString.copyFromUtf8(dockerConfig))).build());
            Await.until("pulled with the secret and running", EdgeCluster.CONVERGE, cluster::diagnostics,
                    () -> cluster.host.runningIds("private").size() == 1);
            assertFalse(cluster.host.agent().logText().contains("pull-pass"), "credentials are never logged");
        }
    }

    static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file).trim() : "";
        } catch (IOException e) {
            return "";
        }
    }

    /**
     * Regular files under {@code root} (symlinks not followed) whose bytes contain {@code needle}, with
     * their permissions as they were when read (the agent replaces its journal file meanwhile).
     */
    private static java.util.Map<Path, Set<PosixFilePermission>> filesContaining(Path root, byte[] needle) throws IOException {
        java.util.Map<Path, Set<PosixFilePermission>> found = new java.util.TreeMap<>();
        // A running agent writes and renames temp files meanwhile (the journal's): one gone mid-walk is skipped.
        Files.walkFileTree(root, new java.nio.file.SimpleFileVisitor<>() {
            @Override
            public java.nio.file.FileVisitResult visitFile(Path file, java.nio.file.attribute.BasicFileAttributes attrs) {
                if (attrs.isRegularFile()) {
                    try {
                        Set<PosixFilePermission> mode = Files.getPosixFilePermissions(file, java.nio.file.LinkOption.NOFOLLOW_LINKS);
                        if (indexOf(Files.readAllBytes(file), needle) >= 0) {
                            found.put(file, mode);
                        }
                    } catch (IOException e) {
                        // gone since it was listed
                    }
                }
                return java.nio.file.FileVisitResult.CONTINUE;
            }

            @Override
            public java.nio.file.FileVisitResult visitFileFailed(Path file, IOException e) {
                return java.nio.file.FileVisitResult.CONTINUE;
            }
        });
        return found;
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
