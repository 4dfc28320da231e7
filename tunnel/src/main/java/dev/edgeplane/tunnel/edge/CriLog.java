package dev.edgeplane.tunnel.edge;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Optional;

/**
 * One line of a CRI container log: {@code <RFC3339Nano> <stdout|stderr> <P|F> <content>}. A P
 * (partial) line continues in the next one; F ends it.
 */
record CriLog(Instant time, String timestamp, String stream, boolean partial, String content) {

    static Optional<CriLog> parse(String line) {
        int a = line.indexOf(' ');
        int b = a < 0 ? -1 : line.indexOf(' ', a + 1);
        int c = b < 0 ? -1 : line.indexOf(' ', b + 1);
        if (c < 0) {
            // "<ts> stdout F" with empty content has no third space
            if (b > 0 && line.length() > b + 1) {
                c = line.length();
            } else {
                return Optional.empty();
            }
        }
        String timestamp = line.substring(0, a);
        Instant time;
        try {
            time = Instant.parse(timestamp);
        } catch (DateTimeParseException e) {
            return Optional.empty();
        }
        String tags = line.substring(b + 1, Math.min(c, line.length()));
        String content = c >= line.length() ? "" : line.substring(c + 1);
        return Optional.of(new CriLog(time, timestamp, line.substring(a + 1, b), tags.startsWith("P"), content));
    }

    /** What the operator sees for this line (a partial line's content has no newline). */
    byte[] render(boolean withTimestamp, boolean continuation) {
        String prefix = withTimestamp && !continuation ? timestamp + " " : "";
        return (prefix + content + (partial ? "" : "\n")).getBytes(StandardCharsets.UTF_8);
    }
}
