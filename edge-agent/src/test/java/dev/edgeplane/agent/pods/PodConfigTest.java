package dev.edgeplane.agent.pods;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.edgeplane.agent.Await;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigMapVolumeSource;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.ContainerStatus;
import dev.edgeplane.api.v1.EnvFromSource;
import dev.edgeplane.api.v1.HostPathSource;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.SecretEnvSource;
import dev.edgeplane.api.v1.SecretVolumeSource;
import dev.edgeplane.api.v1.VolumeMount;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** ConfigMaps and Secrets as env vars and files, against real containers (containerd, runc). */
class PodConfigTest extends ReconcilerHarness {
    private static ConfigData data(ConfigRef.Kind kind, String name, long version, Map<String, String> values) {
        ConfigData.Builder data = ConfigData.newBuilder().setNamespace("cfg")
                .setRef(ConfigRef.newBuilder().setKind(kind).setName(name).setVersion(version));
        values.forEach((k, v) -> data.putData(k, ByteString.copyFromUtf8(v)));
        return data.build();
    }

    private static Assignment withConfigs(Assignment assignment, ConfigData... data) {
        Assignment.Builder b = assignment.toBuilder();
        for (ConfigData d : data) {
            b.addConfigs(d.getRef()).addConfigData(d);
        }
        return b.build();
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file).trim() : "";
        } catch (java.io.IOException e) {
            return "";
        }
    }

    private PodTemplate reader(Path out) {
        return Pods.template(PodTemplate.RestartPolicy.ALWAYS,
                        Pods.container("app", Pods.BUSYBOX, "sh", "-c",
                                "echo \"$COLOUR $DB_password\" > /out/env; "
                                        + "while true; do cat /etc/web/colour > /out/seen.tmp; mv /out/seen.tmp /out/seen; "
                                        + "cat /etc/db/password > /out/secret; sleep 0.1; done").toBuilder()
                                .addEnvFrom(EnvFromSource.newBuilder().setConfigMapRef(
                                        dev.edgeplane.api.v1.ConfigMapEnvSource.newBuilder().setName("web")))
                                .addEnvFrom(EnvFromSource.newBuilder().setPrefix("DB_").setSecretRef(SecretEnvSource.newBuilder().setName("db")))
                                .addVolumeMounts(VolumeMount.newBuilder().setName("out").setMountPath("/out"))
                                .addVolumeMounts(VolumeMount.newBuilder().setName("web").setMountPath("/etc/web").setReadOnly(true))
                                .addVolumeMounts(VolumeMount.newBuilder().setName("db").setMountPath("/etc/db").setReadOnly(true))
                                .build())
                .toBuilder()
                .addVolumes(PodVolume.newBuilder().setName("out").setHostPath(HostPathSource.newBuilder().setPath(out.toString())))
                .addVolumes(PodVolume.newBuilder().setName("web").setConfigMap(ConfigMapVolumeSource.newBuilder().setName("web")))
                .addVolumes(PodVolume.newBuilder().setName("db").setSecret(SecretVolumeSource.newBuilder().setSecretName("db")))
                .build();
    }

    @Test
    void configAndSecretsReachEnvAndFilesAndAConfigMapUpdateReachesTheFileWithoutARestart() throws Exception {
        Path out = Files.createDirectories(tmp.resolve("out"));
        Assignment base = Pods.assignment("cfg", "web", 0, reader(out));
        ConfigData secret = data(ConfigRef.Kind.SECRET, "db", 4, Map.of("password", "s3cret"));
        desire(withConfigs(base, data(ConfigRef.Kind.CONFIG_MAP, "web", 3, Map.of("colour", "blue", "COLOUR", "blue")), secret));
        String key = "cfg/web-0";
        Await.until(WAIT, "the container sees its env and files", () -> read(out.resolve("seen")).equals("blue")
                && read(out.resolve("secret")).equals("s3cret"), () -> replica(key).toString());
        assertEquals("blue s3cret", read(out.resolve("env")), "env_from a ConfigMap and (prefixed) a Secret");
        String container = replica(key).getContainers(0).getContainerId();

        // Secret files on the host: owner-only, under the agent's state dir.
        try (Stream<Path> files = Files.walk(tmp.resolve("volumes"))) {
            List<Path> secretFiles = files.filter(p -> p.getFileName().toString().equals("password") && Files.isRegularFile(p,
                    java.nio.file.LinkOption.NOFOLLOW_LINKS)).toList();
            assertEquals(1, secretFiles.size(), "one copy of the secret on the host");
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(secretFiles.get(0))));
        }

        long changed = System.nanoTime();
        desire(withConfigs(base, data(ConfigRef.Kind.CONFIG_MAP, "web", 9, Map.of("colour", "green", "COLOUR", "green")), secret));
        Await.until(WAIT, "the mounted file changed", () -> read(out.resolve("seen")).equals("green"));
        System.out.printf("BENCH configmap_update_to_file_ms=%d (desired state to file seen by the container)%n",
                (System.nanoTime() - changed) / 1_000_000);
        ReplicaStatus after = replica(key);
        assertEquals(container, after.getContainers(0).getContainerId(), "the same container: no restart for a file update");
        assertEquals(0, after.getRestartCount());
        assertEquals("blue s3cret", read(out.resolve("env")), "env is read at start: it changes at the next start only");
    }

    @Test
    void aMissingConfigMapIsAClearStatusUntilItArrives() throws Exception {
        Path out = Files.createDirectories(tmp.resolve("out"));
        PodTemplate template = Pods.template(PodTemplate.RestartPolicy.ALWAYS,
                Pods.container("app", Pods.BUSYBOX, "sh", "-c", "echo $COLOUR > /out/env; sleep 3600").toBuilder()
                        .addEnvFrom(EnvFromSource.newBuilder().setConfigMapRef(dev.edgeplane.api.v1.ConfigMapEnvSource.newBuilder().setName("web")))
                        .addVolumeMounts(VolumeMount.newBuilder().setName("out").setMountPath("/out")).build())
                .toBuilder().addVolumes(PodVolume.newBuilder().setName("out").setHostPath(HostPathSource.newBuilder().setPath(out.toString())))
                .build();
        Assignment base = Pods.assignment("cfg", "web", 0, template);
        ConfigData missing = data(ConfigRef.Kind.CONFIG_MAP, "web", 0, Map.of()).toBuilder().setMissing(true).build();
        desire(withConfigs(base, missing));
        String key = "cfg/web-0";
        Await.until(WAIT, "the container waits with the reason", () -> replica(key).getContainersCount() == 1
                && replica(key).getContainers(0).getReason().equals("CreateContainerConfigError"), () -> replica(key).toString());
        ContainerStatus waiting = replica(key).getContainers(0);
        assertEquals("configmap \"web\" not found", waiting.getMessage());
        assertEquals(0, waiting.getRestartCount(), "waiting, not crash-looping");
        assertTrue(Pods.running(cri, "cfg").isEmpty());
        assertTrue(events.stream().anyMatch(e -> e.equals("Failed: configmap \"web\" not found")), events.toString());

        desire(withConfigs(base, data(ConfigRef.Kind.CONFIG_MAP, "web", 5, Map.of("COLOUR", "blue"))));
        Await.until(WAIT, "it starts once the ConfigMap exists", () -> read(out.resolve("env")).equals("blue"), () -> replica(key).toString());
    }
}
