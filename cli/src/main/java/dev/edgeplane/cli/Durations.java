package dev.edgeplane.cli;

import com.google.protobuf.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Human durations in and out: "90s", "15m", "24h", "1h30m", "7d". */
final class Durations {
    private static final Pattern PART = Pattern.compile("(\\d+)([smhd])");

    private Durations() {}

    static Duration parse(String text) {
        Matcher m = PART.matcher(text);
        Duration total = Duration.ZERO;
        int end = 0;
        while (m.find() && m.start() == end) {
            long n = Long.parseLong(m.group(1));
            total = total.plus(switch (m.group(2)) {
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                default -> Duration.ofDays(n);
            });
            end = m.end();
        }
        if (end == 0 || end != text.length()) {
            throw new UsageException("not a duration: '" + text + "' (examples: 90s, 15m, 24h, 1h30m, 7d)");
        }
        return total;
    }

    /** "3d", "5h", "12m", "40s": the largest unit, as tables show ages. */
    static String age(Timestamp since, Instant now) {
        if (since.getSeconds() == 0) {
            return "-";
        }
        Duration d = Duration.between(Instant.ofEpochSecond(since.getSeconds()), now);
        if (d.isNegative()) {
            d = Duration.ZERO;
        }
        if (d.toDays() > 0) {
            return d.toDays() + "d";
        }
        if (d.toHours() > 0) {
            return d.toHours() + "h";
        }
        if (d.toMinutes() > 0) {
            return d.toMinutes() + "m";
        }
        return d.toSeconds() + "s";
    }
}
