package dev.edgeplane.controlplane.metrics;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** One downsampling tier: points at {@code resolution}, kept for {@code retention}. */
public record Tier(Duration resolution, Duration retention) {
    public Tier {
        if (resolution.isNegative() || resolution.isZero() || retention.compareTo(resolution) < 0) {
            throw new IllegalArgumentException("a tier needs resolution > 0 and retention >= resolution: " + resolution + " for " + retention);
        }
        if (retention.dividedBy(resolution) > 1_000_000) {
            throw new IllegalArgumentException("a tier may hold at most 1,000,000 points per series: " + resolution + " for " + retention);
        }
    }

    /**
     * Whether this tier, when it is the finest, keeps raw points (each slot's last sample with its own
     * millisecond time): below a minute. A finest tier of a minute or more keeps per-slot aggregates
     * like the coarser ones (means of gauges, last of counters), which is what every query step (1m
     * and up) reads, and costs a bit a point less for its time than jittered milliseconds do.
     */
    public boolean keepsRawPoints() {
        return resolution.compareTo(Duration.ofMinutes(1)) < 0;
    }

    public int slots() {
        return (int) retention.dividedBy(resolution);
    }

    /**
     * Parses "10s:1h,1m:24h,5m:7d" (resolution:retention, finest first; each coarser and longer than
     * the one before).
     */
    public static List<Tier> parseAll(String spec) {
        List<Tier> tiers = new ArrayList<>();
        for (String part : spec.split(",")) {
            String[] rr = part.trim().split(":");
            if (rr.length != 2) {
                throw new IllegalArgumentException("tier \"" + part.trim() + "\" is not resolution:retention (e.g. 10s:1h)");
            }
            Tier tier = new Tier(parseDuration(rr[0]), parseDuration(rr[1]));
            if (!tiers.isEmpty()) {
                Tier previous = tiers.get(tiers.size() - 1);
                if (tier.resolution.compareTo(previous.resolution) <= 0 || tier.retention.compareTo(previous.retention) <= 0) {
                    throw new IllegalArgumentException("tiers must get coarser and longer: " + spec);
                }
            }
            tiers.add(tier);
        }
        return List.copyOf(tiers);
    }

    /** "500ms", "10s", "1m", "24h", "7d". */
    public static Duration parseDuration(String text) {
        String s = text.trim();
        int unitStart = 0;
        while (unitStart < s.length() && Character.isDigit(s.charAt(unitStart))) {
            unitStart++;
        }
        if (unitStart == 0 || unitStart == s.length()) {
            throw new IllegalArgumentException("\"" + text + "\" is not a duration such as 10s, 1m, 24h or 7d");
        }
        long n = Long.parseLong(s.substring(0, unitStart));
        return switch (s.substring(unitStart)) {
            case "ms" -> Duration.ofMillis(n);
            case "s" -> Duration.ofSeconds(n);
            case "m" -> Duration.ofMinutes(n);
            case "h" -> Duration.ofHours(n);
            case "d" -> Duration.ofDays(n);
            default -> throw new IllegalArgumentException("\"" + text + "\" is not a duration such as 10s, 1m, 24h or 7d");
        };
    }
}
