package dev.edgeplane.storage.metadata;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The driver's state on disk: one JSON file per volume and per snapshot. Every write goes to a
 * temp file that is fsynced, renamed over the old one and followed by an fsync of the directory,
 * so after kill -9 or power loss each file is either the old or the new version, never torn.
 */
public final class MetadataStore {
    private static final String SUFFIX = ".json";
    private final Path volumesDir;
    private final Path snapshotsDir;
    /** Made at the first record read or written: an agent with no volumes loads none of Jackson (~375 classes). */
    private ObjectMapper json;

    public MetadataStore(Path stateDir) {
        this.volumesDir = stateDir.resolve("volumes");
        this.snapshotsDir = stateDir.resolve("snapshots");
        try {
            Files.createDirectories(volumesDir);
            Files.createDirectories(snapshotsDir);
            removeTempFiles(volumesDir);
            removeTempFiles(snapshotsDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare state dir " + stateDir, e);
        }
    }

    public synchronized Optional<VolumeRecord> volume(String id) {
        return read(volumesDir.resolve(id + SUFFIX), VolumeRecord.class);
    }

    public synchronized Optional<SnapshotRecord> snapshot(String id) {
        return read(snapshotsDir.resolve(id + SUFFIX), SnapshotRecord.class);
    }

    public synchronized List<VolumeRecord> volumes() {
        return readAll(volumesDir, VolumeRecord.class);
    }

    public synchronized List<SnapshotRecord> snapshots() {
        return readAll(snapshotsDir, SnapshotRecord.class);
    }

    public synchronized void put(VolumeRecord v) {
        write(volumesDir, v.id(), v);
    }

    public synchronized void put(SnapshotRecord s) {
        write(snapshotsDir, s.id(), s);
    }

    public synchronized void removeVolume(String id) {
        delete(volumesDir, id);
    }

    public synchronized void removeSnapshot(String id) {
        delete(snapshotsDir, id);
    }

    /** Callers hold this store's monitor (every public method is synchronized). */
    private ObjectMapper json() {
        if (json == null) {
            json = new ObjectMapper()
                    .enable(SerializationFeature.INDENT_OUTPUT)
                    .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
        }
        return json;
    }

    private <T> Optional<T> read(Path file, Class<T> type) {
        try {
            if (!Files.exists(file)) {
                return Optional.empty();
            }
            return Optional.of(json().readValue(file.toFile(), type));
        } catch (IOException e) {
            throw new UncheckedIOException("corrupt metadata " + file, e);
        }
    }

    private <T> List<T> readAll(Path dir, Class<T> type) {
        List<T> result = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) {
                if (f.getFileName().toString().endsWith(SUFFIX)) {
                    read(f, type).ifPresent(result::add);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
        return result;
    }

    private void write(Path dir, String id, Object value) {
        Path target = dir.resolve(id + SUFFIX);
        Path temp = dir.resolve("." + id + SUFFIX + ".tmp");
        try {
            byte[] bytes = json().writeValueAsBytes(value);
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buf = ByteBuffer.wrap(bytes);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            syncDirectory(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write metadata " + target, e);
        }
    }

    private void delete(Path dir, String id) {
        try {
            if (Files.deleteIfExists(dir.resolve(id + SUFFIX))) {
                syncDirectory(dir);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete metadata " + id, e);
        }
    }

    private static void syncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    private static void removeTempFiles(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                if (f.getFileName().toString().endsWith(".tmp")) {
                    Files.deleteIfExists(f);
                }
            }
        }
    }
}
