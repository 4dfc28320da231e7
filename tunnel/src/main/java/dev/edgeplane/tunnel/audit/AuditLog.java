package dev.edgeplane.tunnel.audit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * Where session audit records go: the "edgeplane.audit" logger always, an append-only file when one
 * is configured, and a small in-memory window that tests and status pages read.
 */
public final class AuditLog {
    private static final Logger LOG = Logger.getLogger("edgeplane.audit");
    private static final int RECENT = 256;

    private final Optional<Path> file;
    private final Deque<SessionAudit> recent = new ArrayDeque<>();

    public AuditLog(Optional<Path> file) {
        this.file = file;
        file.ifPresent(f -> {
            try {
                if (f.getParent() != null) {
                    Files.createDirectories(f.getParent());
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create the directory of the audit log " + f, e);
            }
        });
    }

    public static AuditLog inMemory() {
        return new AuditLog(Optional.empty());
    }

    public void record(SessionAudit audit) {
        String line = audit.line();
        LOG.info(line);
        synchronized (this) {
            recent.addLast(audit);
            while (recent.size() > RECENT) {
                recent.removeFirst();
            }
            if (file.isPresent()) {
                try {
                    Files.writeString(file.get(), line + "\n", StandardCharsets.UTF_8,
                            StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
                } catch (IOException e) {
                    LOG.warning("cannot append to the audit log " + file.get() + ": " + e);
                }
            }
        }
    }

    public synchronized List<SessionAudit> recent() {
        return List.copyOf(recent);
    }
}
