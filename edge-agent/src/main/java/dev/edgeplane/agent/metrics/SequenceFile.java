package dev.edgeplane.agent.metrics;

import dev.edgeplane.agent.io.DurableFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Batch sequences that only grow for the life of the state dir, across restarts: the file holds the
 * end of a reserved block, written (durably) once per {@link #BLOCK} sequences, so a restart skips the
 * rest of a block instead of ever reusing a number.
 */
final class SequenceFile {
    static final long BLOCK = 1024;
    private final Path file;
    private long next;
    private long reservedUpTo;

    SequenceFile(Path file) throws IOException {
        this.file = file;
        long stored = 0;
        if (Files.exists(file)) {
            try {
                stored = Long.parseLong(Files.readString(file, StandardCharsets.US_ASCII).trim());
            } catch (NumberFormatException e) {
                // A torn write: the block before it was at most this far; start well past any plausible value.
                stored = System.currentTimeMillis();
            }
        }
        this.next = stored + 1;
        this.reservedUpTo = stored;
    }

    synchronized long next() {
        if (next > reservedUpTo) {
            reserve(next + BLOCK - 1);
        }
        return next++;
    }

    private void reserve(long upTo) {
        try {
            DurableFiles.writeAtomically(file, Long.toString(upTo).getBytes(StandardCharsets.US_ASCII), DurableFiles.OWNER_ONLY);
            reservedUpTo = upTo;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot record metrics batch sequences in " + file, e);
        }
    }
}
