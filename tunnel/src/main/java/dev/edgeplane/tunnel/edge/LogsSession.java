package dev.edgeplane.tunnel.edge;

import dev.edgeplane.api.v1.Grant;
import dev.edgeplane.api.v1.LogsRequest;
import dev.edgeplane.api.v1.TunnelFrame;
import dev.edgeplane.cri.v1.ContainerStatus;
import dev.edgeplane.tunnel.audit.SessionAudit;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.function.Consumer;

/**
 * A container's logs, read from its CRI log file on the host (so logs written while the host was
 * offline are there too): tail, since, timestamps, previous instance, follow.
 */
final class LogsSession extends EdgeSession {
    private static final int CHUNK = 32 * 1024;
    private static final long FOLLOW_POLL_MS = 200;
    private static final long RUNNING_CHECK_MS = 1_000;

    private final CriContainers containers;
    private final LogsRequest request;
    private FileChannel file;

    LogsSession(Grant grant, CriContainers containers, Clock clock, Consumer<SessionAudit> onEnd) {
        super(grant, clock, onEnd);
        this.containers = containers;
        this.request = grant.getRequest().getLogs();
    }

    @Override
    protected void serve() throws IOException, InterruptedException {
        ContainerStatus container;
        try {
            container = containers.find(grant.getRequest().getTarget(), request.getPrevious());
        } catch (StatusRuntimeException e) {
            fail(e.getStatus());
            return;
        }
        if (container.getLogPath().isEmpty()) {
            fail(Status.NOT_FOUND.withDescription("container " + container.getMetadata().getName() + " has no log file"));
            return;
        }
        try {
            file = FileChannel.open(Path.of(container.getLogPath()), StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            fail(Status.NOT_FOUND.withDescription("the log file " + container.getLogPath() + " is gone"));
            return;
        }
        startReceiving();
        Instant since = request.hasSinceTime()
                ? Instant.ofEpochSecond(request.getSinceTime().getSeconds(), request.getSinceTime().getNanos()) : null;
        LineReader lines = new LineReader(file);
        // What is in the file now: filtered by since, then the last tail_lines of it.
        Deque<CriLog> backlog = new ArrayDeque<>();
        int tail = request.getTailLines();
        int complete = 0;
        for (String line; (line = lines.next()) != null; ) {
            CriLog log = CriLog.parse(line).orElse(null);
            if (log == null || (since != null && log.time().isBefore(since))) {
                continue;
            }
            backlog.addLast(log);
            if (!log.partial()) {
                complete++;
            }
            while (tail > 0 && complete > tail) {
                // drop the oldest whole line (its partial pieces first)
                CriLog dropped = backlog.removeFirst();
                if (!dropped.partial()) {
                    complete--;
                }
            }
        }
        Output out = new Output();
        for (CriLog log : backlog) {
            out.add(log);
        }
        out.flush();
        if (!request.getFollow() || request.getPrevious()) {
            finish();
            return;
        }
        long lastRunningCheck = System.currentTimeMillis();
        while (!isClosed()) {
            String line = lines.next();
            if (line != null) {
                CriLog log = CriLog.parse(line).orElse(null);
                if (log != null) {
                    out.add(log);
                }
                continue;
            }
            out.flush();
            if (System.currentTimeMillis() - lastRunningCheck >= RUNNING_CHECK_MS) {
                lastRunningCheck = System.currentTimeMillis();
                if (!containers.running(container.getId())) {
                    while ((line = lines.next()) != null) {
                        CriLog.parse(line).ifPresent(out::add);
                    }
                    out.flush();
                    finish();
                    return;
                }
            }
            if (file.size() < lines.position()) {
                lines.restart(); // truncated (copy-truncate rotation)
            }
            Thread.sleep(FOLLOW_POLL_MS);
        }
    }

    /** Batches rendered lines into frames of up to CHUNK bytes. */
    private final class Output {
        private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        private boolean continuation;

        void add(CriLog log) {
            byte[] bytes = log.render(request.getTimestamps(), continuation);
            continuation = log.partial();
            buffer.writeBytes(bytes);
            if (buffer.size() >= CHUNK) {
                try {
                    flush();
                } catch (Closed | InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
        }

        void flush() throws Closed, InterruptedException {
            if (buffer.size() > 0) {
                byte[] bytes = buffer.toByteArray();
                buffer.reset();
                sendData(bytes, bytes.length);
            }
        }
    }

    /** Lines of a growing file; an unfinished last line is held back until its newline arrives. */
    private static final class LineReader {
        private final FileChannel channel;
        private final ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
        private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
        private long position;

        LineReader(FileChannel channel) {
            this.channel = channel;
            buffer.flip();
        }

        long position() {
            return position;
        }

        void restart() {
            position = 0;
            pending.reset();
            buffer.clear().flip();
        }

        String next() throws IOException {
            while (true) {
                while (buffer.hasRemaining()) {
                    byte b = buffer.get();
                    if (b == '\n') {
                        String line = pending.toString(StandardCharsets.UTF_8);
                        pending.reset();
                        return line;
                    }
                    pending.write(b);
                }
                buffer.clear();
                int n = channel.read(buffer, position);
                buffer.flip();
                if (n <= 0) {
                    return null;
                }
                position += n;
            }
        }
    }

    @Override
    protected void onFrame(TunnelFrame frame) {
        // nothing comes from the operator on a logs session
    }

    @Override
    protected void release() {
        try {
            if (file != null) {
                file.close();
            }
        } catch (IOException e) {
            // nothing to do
        }
    }
}
