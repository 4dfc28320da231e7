package dev.edgeplane.agent.volumes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigMapVolumeSource;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.KeyToPath;
import dev.edgeplane.api.v1.PodVolume;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigVolumesTest {
    @TempDir
    Path tmp;

    private static ConfigVolumes.File file(String path, String content, int mode) {
        return new ConfigVolumes.File(path, content.getBytes(StandardCharsets.UTF_8), mode);
    }

    private static Set<String> entries(Path dir) throws Exception {
        try (Stream<Path> list = Files.list(dir)) {
            return list.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        }
    }

    @Test
    void filesAreSwappedInThroughTheDataLinkAndStaleOnesGo() throws Exception {
        ConfigVolumes volumes = new ConfigVolumes();
        Path dir = tmp.resolve("web");
        volumes.write(dir, List.of(file("colour", "blue", 0644), file("conf/app.ini", "a=1", 0600)), Optional.empty());
        assertEquals("blue", Files.readString(dir.resolve("colour")));
        assertEquals("a=1", Files.readString(dir.resolve("conf/app.ini")));
        assertTrue(Files.isSymbolicLink(dir.resolve("colour")) && Files.isSymbolicLink(dir.resolve("..data")));
        assertEquals(Path.of("..data", "colour"), Files.readSymbolicLink(dir.resolve("colour")), "visible names go through ..data");
        Path first = dir.resolve(Files.readSymbolicLink(dir.resolve("..data")));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(first.resolve("conf/app.ini"))));
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(first.resolve("colour"))));

        volumes.write(dir, List.of(file("colour", "blue", 0644), file("conf/app.ini", "a=1", 0600)), Optional.empty());
        assertEquals(first, dir.resolve(Files.readSymbolicLink(dir.resolve("..data"))), "unchanged: nothing written");

        volumes.write(dir, List.of(file("colour", "green", 0644)), Optional.empty());
        assertEquals("green", Files.readString(dir.resolve("colour")));
        assertFalse(Files.exists(dir.resolve("conf")), "a key that went is gone");
        assertFalse(Files.exists(first), "the previous version is removed");
        assertEquals(3, entries(dir).size(), "..data, one version dir, colour: " + entries(dir));
    }

    @Test
    void aMissingConfigMapFailsUnlessOptionalAndAnEarlierVersionStays() throws Exception {
        ConfigVolumes volumes = new ConfigVolumes();
        Path dir = tmp.resolve("web");
        PodVolume volume = PodVolume.newBuilder().setName("web").setConfigMap(ConfigMapVolumeSource.newBuilder().setName("web")
                .addItems(KeyToPath.newBuilder().setKey("colour").setPath("c.txt").setMode(0400))).build();
        Assignment none = Assignment.newBuilder().setNamespace("ns").build();
        PodVolumes.VolumeException e = assertThrows(PodVolumes.VolumeException.class, () -> volumes.prepare(none, volume, dir));
        assertEquals("volume web: configmap \"web\" not found", e.getMessage());

        Assignment with = none.toBuilder().addConfigData(ConfigData.newBuilder().setNamespace("ns")
                .setRef(ConfigRef.newBuilder().setKind(ConfigRef.Kind.CONFIG_MAP).setName("web").setVersion(2))
                .putData("colour", ByteString.copyFromUtf8("blue"))).build();
        volumes.prepare(with, volume, dir);
        assertEquals("blue", Files.readString(dir.resolve("c.txt")), "items choose keys and paths");
        assertEquals("r--------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("c.txt"))));
        volumes.prepare(none, volume, dir);
        assertEquals("blue", Files.readString(dir.resolve("c.txt")), "gone under a running pod: the files stay");

        PodVolume optional = volume.toBuilder().setConfigMap(volume.getConfigMap().toBuilder().setOptional(true)).build();
        Path other = tmp.resolve("optional");
        volumes.prepare(none, optional, other);
        assertEquals(Set.of("..data", entries(other).stream().filter(n -> n.startsWith("..") && !n.equals("..data")).findFirst().orElseThrow()),
                entries(other), "optional and missing: an empty volume");
    }
}
