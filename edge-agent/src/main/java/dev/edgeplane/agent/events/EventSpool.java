package dev.edgeplane.agent.events;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.Timestamp;
import dev.edgeplane.agent.identity.StateDir;
import dev.edgeplane.api.v1.AgentEventRecord;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.EventReport;
import dev.edgeplane.api.v1.ObjectReference;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Instant;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * This node's events until the control plane has them, kept ON DISK so they survive an agent restart
 * while offline.
 *
 * <ul>
 *   <li>Aggregated: repeats of (involved object, reason) between two uploads are one record
 *       (count, last time, latest message), as the control plane stores them.</li>
 *   <li>Bounded: at most {@code capacity} records; beyond it the record whose last occurrence is
 *       oldest is dropped and its occurrences counted, and the next report says how many.</li>
 *   <li>Acked: {@link #next()} hands out one report with a sequence and keeps it until
 *       {@link #ack} covers that sequence; until then the same report (same sequence) is handed out
 *       again, so a batch in flight when the link dies is re-sent and the control plane can tell a
 *       re-send from new news. Sequences start at the spool's creation time in microseconds, so a
 *       wiped spool never reuses one.</li>
 *   <li>Crash-safe: the file is written tmp + fsync + rename, with a SHA-256 over it. A report's
 *       sequence is on disk before it is sent, and an ack is on disk before the next report;
 *       plain occurrences are written at most once a second, so a crash loses at most the last
 *       second of them. A torn or corrupt file is detected, set aside, and reported as an event.</li>
 * </ul>
 *
 * <p>File: "EPE1" | payload length (8 bytes) | payload | sha256(all before). Payload: next sequence
 * (varint), dropped (varint), whether a report is in flight (bool) and then that report
 * (length-delimited {@link EventReport}), then the pending records as one length-delimited
 * EventReport: the wire types the agent already speaks.
 */
public final class EventSpool implements EventRecorder, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(EventSpool.class.getName());
    public static final int DEFAULT_CAPACITY = 256;
    static final int MAX_BATCH = 100;
    private static final byte[] MAGIC = "EPE1".getBytes(StandardCharsets.US_ASCII);
    private static final int HEADER = MAGIC.length + Long.BYTES;
    private static final int DIGEST = 32;
    private static final long PERSIST_DELAY_MS = 1000;
    private static final int MAX_MESSAGE = 1024;

    private record Key(String kind, String namespace, String name, String reason) {}

    private final Path file;
    private final int capacity;
    private final int maxBatch;
    private final Clock clock;
    private final Object writeLock = new Object();
    private final ScheduledExecutorService persister = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "event-spool");
        t.setDaemon(true);
        return t;
    });
    /** Records not yet in a report, least recently occurred first. */
    private final LinkedHashMap<Key, AgentEventRecord> pending = new LinkedHashMap<>();
    private EventReport inFlight;
    private long nextSequence;
    private long dropped;
    private long droppedTotal;
    private boolean persistQueued;
    private boolean closed;

    private EventSpool(Path file, int capacity, Clock clock) {
        this.file = file;
        this.capacity = capacity;
        this.maxBatch = Math.max(1, Math.min(MAX_BATCH, capacity / 2));
        this.clock = clock;
    }

    /** Opens the spool in {@code dir} (created 0700), reading back what an earlier run left. */
    public static EventSpool open(Path dir, int capacity, Clock clock) throws IOException {
        if (capacity < 2) {
            throw new IllegalArgumentException("capacity must be at least 2");
        }
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir);
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        }
        EventSpool spool = new EventSpool(dir.resolve("events.bin"), capacity, clock);
        spool.load();
        return spool;
    }

    public Path file() {
        return file;
    }

    private void load() {
        String problem = null;
        try {
            decode(Files.readAllBytes(file));
            int records = pending.size() + (inFlight == null ? 0 : inFlight.getEventsCount());
            if (records > 0) {
                LOG.info(() -> "events: " + records + " records from the previous run wait for upload");
            }
            return;
        } catch (NoSuchFileException e) {
            // first start
        } catch (IOException | RuntimeException e) {
            problem = e.getMessage();
            Path aside = file.resolveSibling("events.bin.corrupt");
            try {
                Files.move(file, aside, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException moveFailed) {
                LOG.fine(() -> "cannot set the corrupt spool aside: " + moveFailed);
            }
            LOG.warning("events: " + file + " is unreadable (" + problem + "); set aside as " + aside + ", starting empty");
        }
        pending.clear();
        inFlight = null;
        dropped = 0;
        nextSequence = Math.max(1, clock.millis() * 1000);
        if (problem != null) {
            warning(EventRecorder.node(""), "EventSpoolCorrupt",
                    "the agent's event spool could not be read (" + problem + "); events buffered before are lost");
        }
    }

    @Override
    public void record(EventLevel level, ObjectReference object, String reason, String message) {
        Instant now = clock.instant();
        Timestamp at = Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()).build();
        String text = message.length() > MAX_MESSAGE ? message.substring(0, MAX_MESSAGE - 3) + "..." : message;
        synchronized (this) {
            Key key = new Key(object.getKind(), object.getNamespace(), object.getName(), reason);
            AgentEventRecord existing = pending.remove(key);
            AgentEventRecord updated;
            if (existing != null) {
                updated = existing.toBuilder().setCount(existing.getCount() + 1).setLastTime(at).setMessage(text).setLevel(level).build();
            } else {
                int room = capacity - (inFlight == null ? 0 : inFlight.getEventsCount());
                Iterator<Map.Entry<Key, AgentEventRecord>> oldest = pending.entrySet().iterator();
                while (pending.size() >= room && oldest.hasNext()) {
                    long count = oldest.next().getValue().getCount();
                    oldest.remove();
                    dropped += count;
                    if (droppedTotal++ % 100 == 0) {
                        LOG.warning("events: buffer full (" + capacity + " records); dropping the oldest");
                    }
                }
                updated = AgentEventRecord.newBuilder().setLevel(level).setInvolvedObject(object).setReason(reason)
                        .setMessage(text).setFirstTime(at).setLastTime(at).setCount(1).build();
            }
            pending.put(key, updated);
            if (persistQueued || closed) {
                return;
            }
            persistQueued = true;
        }
        try {
            persister.schedule(this::persistQuietly, PERSIST_DELAY_MS, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // closing: close() writes the file
        }
    }

    /**
     * The report to send now: the one in flight if it is not acked yet (same sequence), else a new
     * one with up to 100 records (oldest first) and the drop count. Its sequence is on disk first.
     */
    public Optional<EventReport> next() {
        synchronized (this) {
            if (inFlight != null) {
                return Optional.of(inFlight);
            }
            if (pending.isEmpty() && dropped == 0) {
                return Optional.empty();
            }
            EventReport.Builder report = EventReport.newBuilder().setSequence(nextSequence++).setDropped(dropped);
            Iterator<AgentEventRecord> records = pending.values().iterator();
            while (records.hasNext() && report.getEventsCount() < maxBatch) {
                report.addEvents(records.next());
                records.remove();
            }
            dropped = 0;
            inFlight = report.build();
        }
        persistQuietly();
        synchronized (this) {
            return Optional.ofNullable(inFlight);
        }
    }

    /** The control plane has everything up to {@code sequence}: forget it (durably). */
    public void ack(long sequence) {
        synchronized (this) {
            if (inFlight == null || inFlight.getSequence() > sequence) {
                return;
            }
            inFlight = null;
        }
        persistQuietly();
    }

    /** Records buffered, in flight included. */
    public synchronized int size() {
        return pending.size() + (inFlight == null ? 0 : inFlight.getEventsCount());
    }

    /** Occurrences dropped because the buffer was full, not yet reported. */
    public synchronized long droppedNotReported() {
        return dropped + (inFlight == null ? 0 : inFlight.getDropped());
    }

    private void persistQuietly() {
        try {
            persist();
        } catch (IOException e) {
            LOG.warning("events: cannot write " + file + ": " + e.getMessage());
        }
    }

    /** Writes the current state; writers are serialised and each writes a snapshot taken in turn. */
    void persist() throws IOException {
        synchronized (writeLock) {
            byte[] bytes;
            synchronized (this) {
                persistQueued = false;
                bytes = encode();
            }
            dev.edgeplane.agent.io.DurableFiles.writeAtomically(file, bytes, PosixFilePermissions.fromString("rw-------"));
        }
    }

    private byte[] encode() {
        try {
            ByteArrayOutputStream payload = new ByteArrayOutputStream();
            CodedOutputStream out = CodedOutputStream.newInstance(payload);
            out.writeUInt64NoTag(nextSequence);
            out.writeInt64NoTag(dropped);
            out.writeBoolNoTag(inFlight != null);
            if (inFlight != null) {
                out.writeUInt32NoTag(inFlight.getSerializedSize());
                inFlight.writeTo(out);
            }
            EventReport rest = EventReport.newBuilder().addAllEvents(pending.values()).build();
            out.writeUInt32NoTag(rest.getSerializedSize());
            rest.writeTo(out);
            out.flush();
            byte[] body = payload.toByteArray();
            ByteBuffer bytes = ByteBuffer.allocate(HEADER + body.length + DIGEST);
            bytes.put(MAGIC).putLong(body.length).put(body);
            bytes.put(sha256(bytes.array(), HEADER + body.length));
            return bytes.array();
        } catch (IOException e) {
            throw new IllegalStateException("encoding into memory cannot fail", e);
        }
    }

    private void decode(byte[] bytes) throws IOException {
        if (bytes.length < HEADER + DIGEST || !Arrays.equals(Arrays.copyOf(bytes, MAGIC.length), MAGIC)) {
            throw new IOException("not an event spool (bad header, " + bytes.length + " bytes)");
        }
        long length = ByteBuffer.wrap(bytes, MAGIC.length, Long.BYTES).getLong();
        if (length < 0 || length != bytes.length - HEADER - DIGEST) {
            throw new IOException("torn event spool: header says " + length + " payload bytes, file has " + (bytes.length - HEADER - DIGEST));
        }
        byte[] expected = Arrays.copyOfRange(bytes, bytes.length - DIGEST, bytes.length);
        if (!MessageDigest.isEqual(expected, sha256(bytes, bytes.length - DIGEST))) {
            throw new IOException("event spool checksum mismatch (corrupt file)");
        }
        CodedInputStream in = CodedInputStream.newInstance(bytes, HEADER, (int) length);
        long sequence = in.readUInt64();
        long droppedBefore = in.readInt64();
        EventReport flight = null;
        if (in.readBool()) {
            int limit = in.pushLimit(in.readRawVarint32());
            flight = EventReport.parseFrom(in);
            in.popLimit(limit);
        }
        int limit = in.pushLimit(in.readRawVarint32());
        EventReport rest = EventReport.parseFrom(in);
        in.popLimit(limit);
        nextSequence = sequence;
        dropped = droppedBefore;
        inFlight = flight;
        for (AgentEventRecord r : rest.getEventsList()) {
            ObjectReference o = r.getInvolvedObject();
            pending.put(new Key(o.getKind(), o.getNamespace(), o.getName(), r.getReason()), r);
        }
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

    /** Writes what is buffered and stops the background writer. */
    @Override
    public void close() {
        synchronized (this) {
            closed = true;
        }
        persister.shutdownNow();
        persistQuietly();
    }
}
