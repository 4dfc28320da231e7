package dev.edgeplane.agent.metrics;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.edgeplane.api.v1.MetricsBatch;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.logging.Logger;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * The frames recorded while no metrics stream is up, on disk in the state dir so that they survive a
 * restart, until a MetricsAck covers them. Append-only segment files named by their first record id;
 * each record is self-contained (its own series definitions, deflated) and checksummed:
 *
 * <pre>magic u32 | length u32 | id u64 | time_unix_ms u64 | crc32c(id, time, payload) u32 | payload</pre>
 *
 * A torn or corrupt tail (a crash mid-write) ends its segment: it is cut off at open, never fatal.
 * Bounded in bytes and in age: whole oldest segments go first, and their unacked records are counted
 * as dropped. What the control plane acked is remembered in {@code acked} and its segments deleted.
 */
public final class MetricsRing implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(MetricsRing.class.getName());
    private static final int MAGIC = 0x4D524731; // "MRG1"
    static final int HEADER = 4 + 4 + 8 + 8 + 4;
    private static final int MAX_RECORD = 16 * 1024 * 1024;

    /** One stored frame. */
    public record Record(long id, Frame frame) {}

    private static final class Segment {
        final Path path;
        final long firstId;
        long lastId;
        long bytes;
        long newestTimeMs;

        Segment(Path path, long firstId) {
            this.path = path;
            this.firstId = firstId;
            this.lastId = firstId - 1;
        }

        long pendingAfter(long acked) {
            return Math.max(0, lastId - Math.max(firstId - 1, acked));
        }
    }

    private final Path dir;
    private final long maxBytes;
    private final long segmentBytes;
    private final Duration retention;
    private final Clock clock;
    private final TreeMap<Long, Segment> segments = new TreeMap<>();
    private FileChannel writing;
    private long nextId;
    private long acked;
    private long dropped;
    private long nextDropLog;

    private MetricsRing(Path dir, long maxBytes, Duration retention, Clock clock) {
        this.dir = dir;
        this.maxBytes = maxBytes;
        this.segmentBytes = Math.max(16 * 1024, maxBytes / 8);
        this.retention = retention;
        this.clock = clock;
    }

    /** Opens (or creates) the ring in dir, cutting off a torn tail and forgetting what was acked. */
    public static MetricsRing open(Path dir, long maxBytes, Duration retention, Clock clock) throws IOException {
        if (maxBytes < 4096) {
            throw new IllegalArgumentException("the metrics ring needs at least 4096 bytes, got " + maxBytes);
        }
        Files.createDirectories(dir);
        MetricsRing ring = new MetricsRing(dir, maxBytes, retention, clock);
        ring.load();
        return ring;
    }

    private void load() throws IOException {
        Path ackedFile = dir.resolve("acked");
        if (Files.exists(ackedFile)) {
            try {
                acked = Long.parseLong(Files.readString(ackedFile, StandardCharsets.US_ASCII).trim());
            } catch (NumberFormatException e) {
                LOG.warning("metrics ring: unreadable " + ackedFile + "; uploading everything it holds again");
            }
        }
        List<Path> files;
        try (Stream<Path> list = Files.list(dir)) {
            files = list.filter(p -> p.getFileName().toString().endsWith(".seg")).sorted().toList();
        }
        long maxId = acked;
        for (int i = 0; i < files.size(); i++) {
            Path file = files.get(i);
            long firstId;
            try {
                firstId = Long.parseLong(file.getFileName().toString().replace(".seg", ""));
            } catch (NumberFormatException e) {
                continue;
            }
            Segment segment = new Segment(file, firstId);
            long good = scan(segment, Files.readAllBytes(file), null, Long.MIN_VALUE, 0);
            if (good < Files.size(file)) {
                LOG.warning("metrics ring: " + file.getFileName() + " ends in a torn or corrupt record after " + good
                        + " bytes; cutting it off");
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                    ch.truncate(good);
                    ch.force(true);
                }
            }
            if (segment.lastId < segment.firstId || segment.lastId <= acked) {
                Files.deleteIfExists(file);
                continue;
            }
            segments.put(firstId, segment);
            maxId = Math.max(maxId, segment.lastId);
        }
        nextId = maxId + 1;
        enforceBounds();
    }

    /**
     * Walks the records of one segment's bytes, updating its bounds; adds those with id > after to out
     * (if given) until it holds max. Returns how many bytes were good (of what was walked).
     */
    private static long scan(Segment segment, byte[] bytes, List<Record> out, long after, int max) {
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        long good = 0;
        segment.bytes = 0;
        while (buf.remaining() >= HEADER) {
            int start = buf.position();
            int magic = buf.getInt();
            int length = buf.getInt();
            long id = buf.getLong();
            long time = buf.getLong();
            int crc = buf.getInt();
            if (magic != MAGIC || length < 0 || length > MAX_RECORD || length > buf.remaining()) {
                break;
            }
            byte[] payload = new byte[length];
            buf.get(payload);
            if (crc != checksum(id, time, payload)) {
                break;
            }
            good = buf.position();
            segment.lastId = id;
            segment.bytes = good;
            segment.newestTimeMs = Math.max(segment.newestTimeMs, time);
            if (out != null && id > after) {
                if (out.size() >= max) {
                    break;
                }
                try {
                    out.add(new Record(id, WireFormat.frames(MetricsBatch.parseFrom(inflate(payload))).get(0)));
                } catch (InvalidProtocolBufferException | DataFormatException | RuntimeException e) {
                    LOG.warning("metrics ring: record " + id + " does not decode (" + e + "); skipping it");
                }
            }
            if (start == buf.position()) {
                break;
            }
        }
        return good;
    }

    /** Stores a frame durably; may drop the oldest segments to stay within bytes and retention. */
    public synchronized long append(Frame frame) throws IOException {
        if (frame.values().isEmpty()) {
            return -1;
        }
        MetricsBatch.Builder batch = MetricsBatch.newBuilder();
        WireFormat.append(batch, List.of(frame), new WireFormat.Ids());
        byte[] payload = deflate(batch.build().toByteArray());
        long id = nextId++;
        ByteBuffer record = ByteBuffer.allocate(HEADER + payload.length);
        record.putInt(MAGIC).putInt(payload.length).putLong(id).putLong(frame.timeUnixMs())
                .putInt(checksum(id, frame.timeUnixMs(), payload)).put(payload).flip();
        Segment segment = segments.isEmpty() ? null : segments.lastEntry().getValue();
        if (segment == null || writing == null || segment.bytes + record.remaining() > segmentBytes) {
            if (writing != null) {
                writing.close();
            }
            segment = new Segment(dir.resolve(String.format("%020d.seg", id)), id);
            writing = FileChannel.open(segment.path, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
            segments.put(id, segment);
        }
        while (record.hasRemaining()) {
            writing.write(record);
        }
        writing.force(false);
        segment.lastId = id;
        segment.bytes += HEADER + payload.length;
        segment.newestTimeMs = Math.max(segment.newestTimeMs, frame.timeUnixMs());
        enforceBounds();
        return id;
    }

    /** Up to max records with id > after, oldest first (what a backfill batch carries). */
    public synchronized List<Record> readAfter(long after, int max) throws IOException {
        List<Record> out = new ArrayList<>();
        long from = Math.max(after, acked);
        for (Segment segment : segments.values()) {
            if (segment.lastId <= from) {
                continue;
            }
            scan(new Segment(segment.path, segment.firstId), Files.readAllBytes(segment.path), out, from, max);
            if (out.size() >= max) {
                break;
            }
        }
        return out;
    }

    /** The control plane holds every record up to id: remember that, and delete what no longer holds anything else. */
    public synchronized void ackThrough(long id) throws IOException {
        if (id <= acked) {
            return;
        }
        acked = id;
        Path tmp = dir.resolve("acked.tmp");
        Files.writeString(tmp, Long.toString(acked), StandardCharsets.US_ASCII);
        Files.move(tmp, dir.resolve("acked"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        while (!segments.isEmpty() && segments.firstEntry().getValue().lastId <= acked) {
            remove(segments.firstEntry().getValue());
        }
    }

    /** Records not acked yet. */
    public synchronized long pending() {
        long n = 0;
        for (Segment s : segments.values()) {
            n += s.pendingAfter(acked);
        }
        return n;
    }

    /** Records dropped (space or age) before they were acked, since this process opened the ring. */
    public synchronized long dropped() {
        return dropped;
    }

    public synchronized long bytes() {
        return segments.values().stream().mapToLong(s -> s.bytes).sum();
    }

    private void enforceBounds() throws IOException {
        long oldestKept = clock.millis() - retention.toMillis();
        while (!segments.isEmpty()) {
            Segment oldest = segments.firstEntry().getValue();
            boolean tooBig = bytes() > maxBytes && segments.size() > 1;
            boolean tooOld = oldest.newestTimeMs < oldestKept;
            if (!tooBig && !tooOld) {
                return;
            }
            long lost = oldest.pendingAfter(acked);
            dropped += lost;
            if (lost > 0 && clock.millis() >= nextDropLog) { // at most once a minute: a long outage drops all the time
                LOG.warning("metrics ring: dropped " + dropped + " unsent frames so far, oldest first (" + (tooBig ? "over " + maxBytes
                        + " bytes" : "older than " + retention) + ")");
                nextDropLog = clock.millis() + 60_000;
            }
            remove(oldest);
        }
    }

    private void remove(Segment segment) throws IOException {
        segments.remove(segment.firstId);
        if (segments.isEmpty() && writing != null) {
            writing.close();
            writing = null;
        }
        Files.deleteIfExists(segment.path);
    }

    private static int checksum(long id, long time, byte[] payload) {
        CRC32C crc = new CRC32C();
        crc.update(ByteBuffer.allocate(16).putLong(id).putLong(time).flip());
        crc.update(payload);
        return (int) crc.getValue();
    }

    private static byte[] deflate(byte[] bytes) {
        Deflater deflater = new Deflater(Deflater.BEST_SPEED);
        try {
            deflater.setInput(bytes);
            deflater.finish();
            ByteArrayOutputStream out = new ByteArrayOutputStream(bytes.length / 2 + 64);
            byte[] buf = new byte[4096];
            while (!deflater.finished()) {
                out.write(buf, 0, deflater.deflate(buf));
            }
            return out.toByteArray();
        } finally {
            deflater.end();
        }
    }

    private static byte[] inflate(byte[] bytes) throws DataFormatException {
        Inflater inflater = new Inflater();
        try {
            inflater.setInput(bytes);
            ByteArrayOutputStream out = new ByteArrayOutputStream(bytes.length * 4);
            byte[] buf = new byte[4096];
            while (!inflater.finished()) {
                int n = inflater.inflate(buf);
                if (n == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                    throw new DataFormatException("truncated");
                }
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        } finally {
            inflater.end();
        }
    }

    @Override
    public synchronized void close() throws IOException {
        if (writing != null) {
            writing.close();
            writing = null;
        }
    }

    /** For tests and logs: segment file -> bytes. */
    synchronized Map<String, Long> segmentSizes() {
        Map<String, Long> sizes = new TreeMap<>();
        segments.values().forEach(s -> sizes.put(s.path.getFileName().toString(), s.bytes));
        return sizes;
    }
}
