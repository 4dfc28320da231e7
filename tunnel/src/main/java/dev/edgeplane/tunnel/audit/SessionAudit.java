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
        return "audit side=" + quote(side) + " session=" + quote(sessionId) + " subject=" + quote(subject) + " node=" + quote(node)
                + " verb=" + quote(verb) + " target=" + quote(target) + " start=" + started + " duration_ms=" + duration.toMillis()
                + " bytes_in=" + bytesIn + " bytes_out=" + bytesOut + " outcome=" + quote(outcome);
    }

    static String quote(String s) {
        if (!s.isEmpty() && s.chars().noneMatch(c -> c <= ' ' || c == '"' || c == '=' || c == '\\' || escaped((char) c))) {
            return s;
        }
        StringBuilder out = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (escaped(c)) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }

    /** Control characters (C0, DEL, C1) and the Unicode line separators: what could break or fake a line. */
    private static boolean escaped(char c) {
        return c < ' ' || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0x2028 || c == 0x2029;
    }
}
