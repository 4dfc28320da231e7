package dev.edgeplane.agent.journal;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import dev.edgeplane.agent.identity.StateDir;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.api.v1.StatusReport;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * The agent's crash-safe journal: desired state (assignments + applied revision) and the last known
 * pod state, in one file with a SHA-256 checksum, written by tmp + fsync + rename. The previous good
 * generation is kept next to it, so a torn or corrupt current file falls back to the last good copy.
 *
 * <p>File layout: "EPJ1" | payload length (8 bytes, big endian) | payload | sha256(magic+length+payload).
 * The payload is a length-delimited {@link Snapshot} (revision + assignments) followed by a
 * length-delimited {@link StatusReport} (the last known replica statuses): the wire types the agent
 * already speaks, so the journal needs no schema of its own.
 */
public final class JournalStore {
    private static final Logger LOG = Logger.getLogger(JournalStore.class.getName());
    private static final byte[] MAGIC = "EPJ1".getBytes(StandardCharsets.US_ASCII);
    private static final int HEADER = MAGIC.length + Long.BYTES;
    private static final int DIGEST = 32;

    /** One journal generation as read back. */
    public record Contents(Snapshot desired, List<ReplicaStatus> pods) {}

    /** Where a load came from. */
    public enum Source { CURRENT, PREVIOUS, NONE }

    /**
     * The result of {@link #load()}.
     *
     * @param problem why the current file was not used (corrupt, torn), or empty
     */
    public record Loaded(Source source, Optional<Contents> contents, Optional<String> problem) {}

    private final Path dir;
    private final Path current;
    private final Path previous;

    public JournalStore(Path dir) {
        this.dir = dir;
        this.current = dir.resolve("journal.bin");
        this.previous = dir.resolve("journal.prev.bin");
    }

    public Path currentFile() {
        return current;
    }

    public Path previousFile() {
        return previous;
    }

    /** Reads the current generation, falling back to the previous one if the current is missing or bad. */
    public synchronized Loaded load() {
        String problem = null;
        try {
            return new Loaded(Source.CURRENT, Optional.of(read(current)), Optional.empty());
        } catch (NoSuchFileException e) {
            // a crash between the two renames of write(), or never written: try the previous one
        } catch (IOException e) {
            problem = current + ": " + e.getMessage();
            LOG.warning("journal " + problem + "; falling back to the previous generation");
        }
        try {
            Contents contents = read(previous);
            return new Loaded(Source.PREVIOUS, Optional.of(contents), Optional.ofNullable(problem));
        } catch (NoSuchFileException e) {
            return new Loaded(Source.NONE, Optional.empty(), Optional.ofNullable(problem));
        } catch (IOException e) {
            String both = (problem == null ? "" : problem + "; ") + previous + ": " + e.getMessage();
            LOG.warning("journal: no good generation (" + both + ")");
            return new Loaded(Source.NONE, Optional.empty(), Optional.of(both));
        }
    }

    /** Writes a new generation durably; returns once it is on disk. The old good one becomes previous. */
    public synchronized void write(Contents contents) throws IOException {
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir);
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        }
        byte[] bytes = encode(contents);
        Path tmp = dir.resolve("journal.tmp");
        dev.edgeplane.agent.io.DurableFiles.writeAtomically(tmp, bytes, PosixFilePermissions.fromString("rw-------"));
        // Keep the current file as the previous generation only if it is good: a corrupt current must
        // never push out the last good copy.
        if (Files.exists(current) && isGood(current)) {
            move(current, previous);
        }
        move(tmp, current);
        dev.edgeplane.agent.io.DurableFiles.fsyncDir(dir);
    }

    private static boolean isGood(Path file) {
        try {
            read(file);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    static byte[] encode(Contents contents) throws IOException {
        ByteArrayOutputStream payload = new ByteArrayOutputStream();
        CodedOutputStream out = CodedOutputStream.newInstance(payload);
        out.useDeterministicSerialization();
        out.writeUInt32NoTag(contents.desired().getSerializedSize());
        contents.desired().writeTo(out);
        StatusReport pods = StatusReport.newBuilder().addAllReplicas(contents.pods()).setFull(true).build();
        out.writeUInt32NoTag(pods.getSerializedSize());
        pods.writeTo(out);
        out.flush();
        byte[] body = payload.toByteArray();
        ByteBuffer file = ByteBuffer.allocate(HEADER + body.length + DIGEST);
        file.put(MAGIC).putLong(body.length).put(body);
        file.put(sha256(file.array(), HEADER + body.length));
        return file.array();
    }

    static Contents read(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        if (bytes.length < HEADER + DIGEST || !Arrays.equals(Arrays.copyOf(bytes, MAGIC.length), MAGIC)) {
            throw new IOException("not a journal file (bad header, " + bytes.length + " bytes)");
        }
        long length = ByteBuffer.wrap(bytes, MAGIC.length, Long.BYTES).getLong();
        if (length < 0 || length != bytes.length - HEADER - DIGEST) {
            throw new IOException("torn journal file: header says " + length + " payload bytes, file has "
                    + (bytes.length - HEADER - DIGEST));
        }
        byte[] expected = Arrays.copyOfRange(bytes, bytes.length - DIGEST, bytes.length);
        if (!MessageDigest.isEqual(expected, sha256(bytes, bytes.length - DIGEST))) {
            throw new IOException("journal checksum mismatch (corrupt file)");
        }
        CodedInputStream in = CodedInputStream.newInstance(bytes, HEADER, (int) length);
        int limit = in.pushLimit(in.readRawVarint32());
        Snapshot desired = Snapshot.parseFrom(in);
        in.popLimit(limit);
        limit = in.pushLimit(in.readRawVarint32());
        StatusReport pods = StatusReport.parseFrom(in);
        in.popLimit(limit);
        return new Contents(desired, pods.getReplicasList());
    }

    private static byte[] sha256(byte[] data, int length) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            digest.update(data, 0, length);
            return digest.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
