package dev.edgeplane.tunnel.audit;

import java.time.Duration;
import java.time.Instant;

/** One finished session as both ends record it: who, what, when, how much, how it ended. */
public record SessionAudit(String side, String sessionId, String subject, String node, String verb, String target,
                           Instant started, Duration duration, long bytesIn, long bytesOut, String outcome) {

    /**
     * One line of logfmt, easy to grep and to parse. Every text field is quoted when it needs to be and
     * its control characters escaped: a peer's error text cannot end the line and forge another record.
     */
    public String line() {
        return "audit side=" + Logfmt.quote(side) + " session=" + Logfmt.quote(sessionId) + " subject=" + Logfmt.quote(subject) + " node=" + Logfmt.quote(node)
                + " verb=" + Logfmt.quote(verb) + " target=" + Logfmt.quote(target) + " start=" + started + " duration_ms=" + duration.toMillis()
                + " bytes_in=" + bytesIn + " bytes_out=" + bytesOut + " outcome=" + Logfmt.quote(outcome);
    }
}
