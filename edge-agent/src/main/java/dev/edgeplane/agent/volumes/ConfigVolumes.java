package dev.edgeplane.agent.volumes;

import dev.edgeplane.agent.configs.AssignedConfigs;
import dev.edgeplane.api.ConfigRefs;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.KeyToPath;
import dev.edgeplane.api.v1.PodVolume;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/**
 * ConfigMap and Secret volumes: the object's keys as files in a directory the containers mount, laid
 * out as the kubelet's AtomicWriter does so an update is atomic for readers: the files live in a
 * hidden timestamped directory, {@code ..data} is a symlink to it, and each visible name is a symlink
 * through {@code ..data}. An update writes a new directory and renames a new {@code ..data} link over
 * the old one (one rename), so a reader sees the old files or the new ones, never a mix. Files are
 * mode 0644 (ConfigMap) or 0600 (Secret) unless told, owned by the pod's run_as_user/run_as_group
 * when it sets them, under the agent's state dir (mode 0700).
 */
final class ConfigVolumes {
    private static final Logger LOG = Logger.getLogger(ConfigVolumes.class.getName());
    private static final String DATA = "..data";
    private static final Set<PosixFilePermission> DIRECTORY = PosixFilePermissions.fromString("rwxr-xr-x");

    /** One file of the volume. */
    record File(String path, byte[] content, int mode) {}

    /** Who the files belong to. */
    record Owner(long uid, long gid) {}

    /** Directory -> digest of what it holds now: an unchanged object costs no write. */
    private final Map<Path, String> written = new ConcurrentHashMap<>();

    /**
     * Makes {@code dir} hold the volume's files now. A missing object (or key) that is not optional is a
     * VolumeException, unless the directory holds an earlier version: that stays (as the kubelet keeps it).
     */
    void prepare(Assignment assignment, PodVolume volume, Path dir) throws PodVolumes.VolumeException, IOException {
        boolean secret = volume.hasSecret();
        ConfigRef.Kind kind = secret ? ConfigRef.Kind.SECRET : ConfigRef.Kind.CONFIG_MAP;
        String name = secret ? volume.getSecret().getSecretName() : volume.getConfigMap().getName();
        List<KeyToPath> items = secret ? volume.getSecret().getItemsList() : volume.getConfigMap().getItemsList();
        boolean optional = secret ? volume.getSecret().getOptional() : volume.getConfigMap().getOptional();
        int defaultMode = secret ? (volume.getSecret().hasDefaultMode() ? volume.getSecret().getDefaultMode() : 0600)
                : (volume.getConfigMap().hasDefaultMode() ? volume.getConfigMap().getDefaultMode() : 0644);
        String what = new ConfigRefs.Name(kind, name).describe();
        Optional<ConfigData> data = AssignedConfigs.find(assignment, kind, name);
        if (data.isEmpty() && !optional) {
            if (Files.exists(dir.resolve(DATA), LinkOption.NOFOLLOW_LINKS)) {
                return; // it went away under a running pod: keep what the pod has
            }
            throw new PodVolumes.VolumeException("volume " + volume.getName() + ": " + what + " not found", null);
        }
        Map<String, com.google.protobuf.ByteString> values = data.map(ConfigData::getDataMap).orElse(Map.of());
        List<File> files = new ArrayList<>();
        if (items.isEmpty()) {
            new TreeMap<>(values).forEach((key, value) -> files.add(new File(key, value.toByteArray(), defaultMode)));
        } else {
            for (KeyToPath item : items) {
                var value = values.get(item.getKey());
                if (value == null) {
                    if (optional) {
                        continue;
                    }
                    throw new PodVolumes.VolumeException("volume " + volume.getName() + ": " + what + " has no key " + item.getKey(), null);
                }
                files.add(new File(item.getPath(), value.toByteArray(), item.hasMode() ? item.getMode() : defaultMode));
            }
        }
        write(dir, files, owner(assignment));
    }

    /** The uid and gid the files belong to: the first container (init containers first) that runs as a given user. */
    private static Optional<Owner> owner(Assignment assignment) {
        List<Container> containers = new ArrayList<>(assignment.getTemplate().getInitContainersList());
        containers.addAll(assignment.getTemplate().getContainersList());
        for (Container c : containers) {
            if (c.getSecurityContext().hasRunAsUser()) {
                long uid = c.getSecurityContext().getRunAsUser();
                long gid = c.getSecurityContext().hasRunAsGroup() ? c.getSecurityContext().getRunAsGroup() : uid;
                return Optional.of(new Owner(uid, gid));
            }
        }
        return Optional.empty();
    }

    /** Makes {@code dir} hold exactly {@code files}, swapped in atomically; nothing happens when they are there already. */
    void write(Path dir, List<File> files, Optional<Owner> owner) throws IOException {
        String digest = digest(files, owner);
        if (digest.equals(written.get(dir)) && Files.exists(dir.resolve(DATA))) {
            return;
        }
        Files.createDirectories(dir);
        Files.setPosixFilePermissions(dir, DIRECTORY);
        Path version = Files.createTempDirectory(dir, "..");
        Files.setPosixFilePermissions(version, DIRECTORY);
        Set<String> visible = new TreeSet<>();
        for (File file : files) {
            Path target = version.resolve(file.path()).normalize();
            if (!target.startsWith(version) || target.equals(version)) {
                throw new IOException("config file path \"" + file.path() + "\" leaves its volume"); // checked before, kept as a guard
            }
            Files.createDirectories(target.getParent());
            for (Path p = target.getParent(); !p.equals(version); p = p.getParent()) {
                Files.setPosixFilePermissions(p, DIRECTORY);
            }
            // Created owner-only, then given its mode: never readable by others while being written.
            Files.write(target, file.content(), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            Files.setPosixFilePermissions(target, EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE));
            if (owner.isPresent()) {
                Files.setAttribute(target, "unix:uid", (int) owner.get().uid(), LinkOption.NOFOLLOW_LINKS);
                Files.setAttribute(target, "unix:gid", (int) owner.get().gid(), LinkOption.NOFOLLOW_LINKS);
            }
            Files.setPosixFilePermissions(target, permissions(file.mode()));
            visible.add(Path.of(file.path()).getName(0).toString());
        }
        Path next = dir.resolve("..data_tmp");
        Files.deleteIfExists(next);
        Files.createSymbolicLink(next, version.getFileName());
        Files.move(next, dir.resolve(DATA), StandardCopyOption.ATOMIC_MOVE); // rename(2): the swap readers see
        for (String name : visible) {
            Path link = dir.resolve(name);
            if (!Files.isSymbolicLink(link)) {
                Files.deleteIfExists(link);
                Files.createSymbolicLink(link, Path.of(DATA, name));
            }
        }
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path entry : entries) {
                String name = entry.getFileName().toString();
                if (name.startsWith("..") ? !name.equals(DATA) && !entry.equals(version) : !visible.contains(name)) {
                    PodVolumes.deleteTree(entry);
                }
            }
        }
        written.put(dir, digest);
        LOG.fine(() -> "config volume " + dir + ": " + files.size() + " files");
    }

    /** The pod's directory went: forget what was written under it. */
    void forget(Path podDir) {
        written.keySet().removeIf(dir -> dir.startsWith(podDir));
    }

    private static Set<PosixFilePermission> permissions(int mode) {
        Set<PosixFilePermission> set = EnumSet.noneOf(PosixFilePermission.class);
        PosixFilePermission[] bits = {PosixFilePermission.OTHERS_EXECUTE, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_READ,
                PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_READ,
                PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_READ};
        for (int i = 0; i < bits.length; i++) {
            if ((mode & (1 << i)) != 0) {
                set.add(bits[i]);
            }
        }
        return set;
    }

    private static String digest(List<File> files, Optional<Owner> owner) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (File file : files) {
                sha.update(file.path().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                sha.update((byte) 0);
                sha.update(Integer.toString(file.mode()).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                sha.update((byte) 0);
                sha.update(Integer.toString(file.content().length).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                sha.update((byte) 0);
                sha.update(file.content());
            }
            owner.ifPresent(o -> sha.update((o.uid() + ":" + o.gid()).getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }
}
