package dev.edgeplane.tunnel.audit;

import java.time.Duration;
import java.time.Instant;

/** One finished session as both ends record it: who, what, when, how much, how it ended. */
public record SessionAudit(String side, String sessionId, String subject, String node, String verb, String target,
                           Instant started, Duration duration, long bytesIn, long bytesOut, String outcome) {

    /** One line of logfmt, easy to grep and to parse. */
    public String line() {
        return "audit side=" + side + " session=" + sessionId + " subject=" + quote(subject) + " node=" + node
                + " verb=" + verb + " target=" + quote(target) + " start=" + started + " duration_ms=" + duration.toMillis()
                + " bytes_in=" + bytesIn + " bytes_out=" + bytesOut + " outcome=" + quote(outcome);
    }

    private static String quote(String s) {
        return s.isEmpty() || s.chars().anyMatch(c -> c == ' ' || c == '"' || c == '=')
                ? '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"' : s;
    }
}
