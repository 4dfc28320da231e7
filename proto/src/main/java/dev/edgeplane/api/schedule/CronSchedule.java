package dev.edgeplane.api.schedule;

import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.time.zone.ZoneOffsetTransition;
import java.time.zone.ZoneRules;
import java.util.BitSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * A cron schedule in a time zone, and its next fire time: pure code shared by the control plane
 * (validation), the agent (snapshot policies fire on the node) and, later, CronJobs.
 *
 * <p>Syntax: the standard five fields {@code minute hour day-of-month month day-of-week}, or six with a
 * leading {@code second} field (as Spring and Quartz accept: {@code "*&#47;10 * * * * *"} is every ten
 * seconds). Each field is {@code *}, a value, a range {@code a-b}, a step {@code *&#47;n}, {@code a-b/n}
 * or {@code a/n} (a to the field's maximum), or a comma list of those. Months take JAN..DEC, days of
 * week SUN..SAT (0 and 7 are Sunday); {@code ?} is {@code *} in the day fields. Macros: {@code @yearly}
 * ({@code @annually}), {@code @monthly}, {@code @weekly}, {@code @daily} ({@code @midnight}), {@code @hourly}.
 * As in cron, when both day-of-month and day-of-week are restricted (neither starts with {@code *})
 * a day matches if EITHER does; otherwise both must.
 *
 * <p>Fields are matched against the wall-clock time of the zone. Daylight saving time:
 * <ul>
 *   <li>a wall time the clock skips (spring forward, 02:30 when 02:00-03:00 does not exist) fires once,
 *       at the instant of the jump (03:00 local);</li>
 *   <li>a wall time the clock passes twice (fall back, 02:30 twice) fires at its first occurrence; it
 *       fires at the second as well only when the hour field starts with {@code *} (a schedule of
 *       every so many minutes keeps its rhythm through the repeated hour, a daily one runs once),
 *       as Vixie cron does.</li>
 * </ul>
 */
public final class CronSchedule {
    /** How far ahead {@link #next} looks: a 29 February on a given weekday can be years away, never this far. */
    private static final int SEARCH_YEARS = 30;
    private static final List<String> MONTHS =
            List.of("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC");
    private static final List<String> DAYS = List.of("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT");
    /** Longest expression accepted: every input is bounded. */
    public static final int MAX_LENGTH = 256;

    private final String expression;
    private final ZoneId zone;
    private final boolean hasSeconds;
    private final BitSet seconds;
    private final BitSet minutes;
    private final BitSet hours;
    private final BitSet daysOfMonth;
    private final BitSet months;
    private final BitSet daysOfWeek;
    private final boolean dayOfMonthStar;
    private final boolean dayOfWeekStar;
    private final boolean hourStar;

    /** A field part that cannot be read; the message names the field, the part and why. */
    public static final class InvalidCronException extends IllegalArgumentException {
        private final String field;

        InvalidCronException(String field, String message) {
            super(message);
            this.field = field;
        }

        /** "schedule", "time_zone", or the cron field: "second", "minute", "hour", "day-of-month", "month", "day-of-week". */
        public String field() {
            return field;
        }
    }

    private CronSchedule(String expression, ZoneId zone, String[] f) {
        this.expression = expression;
        this.zone = zone;
        this.hasSeconds = f.length == 6;
        int i = hasSeconds ? 1 : 0;
        this.seconds = hasSeconds ? parseField("second", f[0], 0, 59, List.of(), 0) : single(0);
        this.minutes = parseField("minute", f[i], 0, 59, List.of(), 0);
        this.hours = parseField("hour", f[i + 1], 0, 23, List.of(), 0);
        this.daysOfMonth = parseField("day-of-month", question(f[i + 2]), 1, 31, List.of(), 0);
        this.months = parseField("month", f[i + 3], 1, 12, MONTHS, 1);
        BitSet dow = parseField("day-of-week", question(f[i + 4]), 0, 7, DAYS, 0);
        if (dow.get(7)) {
            dow.set(0); // 7 is Sunday too
            dow.clear(7);
        }
        this.daysOfWeek = dow;
        this.dayOfMonthStar = question(f[i + 2]).startsWith("*");
        this.dayOfWeekStar = question(f[i + 4]).startsWith("*");
        this.hourStar = f[i + 1].startsWith("*");
        if (!dayOfWeekStar && !dayOfMonthStar) {
            return; // OR rule: some weekday always comes
        }
        if (!dayOfMonthStar) {
            int longest = 0;
            for (int m = months.nextSetBit(1); m >= 0; m = months.nextSetBit(m + 1)) {
                longest = Math.max(longest, java.time.Month.of(m).maxLength());
            }
            if (daysOfMonth.nextSetBit(1) > longest) {
                throw new InvalidCronException("day-of-month", "day-of-month field \"" + f[i + 2]
                        + "\" never occurs in the months of month field \"" + f[i + 3] + "\" (the longest has " + longest + " days)");
            }
        }
    }

    /**
     * Reads {@code expression} in {@code timeZone} (an IANA name such as "Europe/Berlin"; "" is UTC).
     *
     * @throws InvalidCronException naming the bad field and part
     */
    public static CronSchedule parse(String expression, String timeZone) {
        ZoneId zone = zone(timeZone);
        if (expression == null || expression.isBlank()) {
            throw new InvalidCronException("schedule", "schedule is empty: give five fields (minute hour day-of-month month "
                    + "day-of-week), six with a leading second field, or a macro such as @daily");
        }
        if (expression.length() > MAX_LENGTH) {
            throw new InvalidCronException("schedule", "schedule is " + expression.length() + " characters long, at most "
                    + MAX_LENGTH + " are accepted");
        }
        String trimmed = expression.trim();
        String expanded = macro(trimmed);
        String[] fields = expanded.split("\\s+");
        if (fields.length != 5 && fields.length != 6) {
            throw new InvalidCronException("schedule", "schedule \"" + trimmed + "\" has " + fields.length
                    + " fields: give five (minute hour day-of-month month day-of-week) or six (a leading second field)");
        }
        return new CronSchedule(trimmed, zone, fields);
    }

    /** The zone of {@code timeZone} ("" is UTC). */
    public static ZoneId zone(String timeZone) {
        if (timeZone == null || timeZone.isEmpty()) {
            return ZoneOffset.UTC;
        }
        if (timeZone.length() > 64) {
            throw new InvalidCronException("time_zone", "time_zone is " + timeZone.length() + " characters long, at most 64");
        }
        try {
            return ZoneId.of(timeZone);
        } catch (DateTimeException e) {
            throw new InvalidCronException("time_zone", "time_zone \"" + timeZone
                    + "\" is not a known time zone: give an IANA name such as \"Europe/Berlin\" or \"UTC\"");
        }
    }

    private static String macro(String expression) {
        if (!expression.startsWith("@")) {
            return expression;
        }
        switch (expression.toLowerCase(Locale.ROOT)) {
            case "@yearly":
            case "@annually":
                return "0 0 1 1 *";
            case "@monthly":
                return "0 0 1 * *";
            case "@weekly":
                return "0 0 * * 0";
            case "@daily":
            case "@midnight":
                return "0 0 * * *";
            case "@hourly":
                return "0 * * * *";
            default:
                throw new InvalidCronException("schedule", "unknown macro \"" + expression
                        + "\" (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)");
        }
    }

    private static String question(String field) {
        return field.equals("?") ? "*" : field;
    }

    private static BitSet single(int value) {
        BitSet set = new BitSet();
        set.set(value);
        return set;
    }

    private static BitSet parseField(String name, String text, int min, int max, List<String> names, int nameBase) {
        BitSet set = new BitSet();
        for (String part : text.split(",", -1)) {
            if (part.isEmpty()) {
                throw new InvalidCronException(name, name + " field \"" + text + "\" has an empty list element");
            }
            String range = part;
            int step = 1;
            int slash = part.indexOf('/');
            if (slash >= 0) {
                range = part.substring(0, slash);
                step = number(name, part, part.substring(slash + 1), 1, max - min + 1, List.of(), 0, "step");
            }
            int from;
            int to;
            if (range.equals("*")) {
                from = min;
                to = max;
            } else {
                int dash = range.indexOf('-');
                if (dash >= 0) {
                    from = number(name, part, range.substring(0, dash), min, max, names, nameBase, "value");
                    to = number(name, part, range.substring(dash + 1), min, max, names, nameBase, "value");
                    if (to < from) {
                        throw new InvalidCronException(name, name + " field part \"" + part + "\": range " + from + "-" + to
                                + " runs backwards");
                    }
                } else {
                    from = number(name, part, range, min, max, names, nameBase, "value");
                    to = slash >= 0 ? max : from; // "a/n": from a to the maximum
                }
            }
            for (int v = from; v <= to; v += step) {
                set.set(v);
            }
        }
        return set;
    }

    private static int number(String name, String part, String text, int min, int max, List<String> names, int nameBase,
                              String what) {
        int index = names.indexOf(text.toUpperCase(Locale.ROOT));
        if (index >= 0 && what.equals("value")) {
            return index + nameBase;
        }
        if (text.isEmpty() || text.length() > 4 || !text.chars().allMatch(Character::isDigit)) {
            throw new InvalidCronException(name, name + " field part \"" + part + "\": \"" + text + "\" is not a number"
                    + (names.isEmpty() || !what.equals("value") ? "" : " or one of " + String.join(",", names)));
        }
        int value = Integer.parseInt(text);
        if (value < min || value > max) {
            throw new InvalidCronException(name, name + " field part \"" + part + "\": " + what + " " + value
                    + " is out of range " + min + "-" + max);
        }
        return value;
    }

    public String expression() {
        return expression;
    }

    public ZoneId zone() {
        return zone;
    }

    /** True when the schedule has a leading second field. */
    public boolean hasSeconds() {
        return hasSeconds;
    }

    /** The first fire time strictly after {@code after}; empty if none comes within 30 years. */
    public Optional<Instant> next(Instant after) {
        ZoneRules rules = zone.getRules();
        ZoneOffset offset = rules.getOffset(after);
        LocalDateTime local = LocalDateTime.ofInstant(after, zone).truncatedTo(ChronoUnit.SECONDS).plusSeconds(1);
        // `after` in the first pass of a repeated hour: the second pass of that hour (if this schedule fires in it)
        // comes before anything after the hour.
        ZoneOffsetTransition fallBack = rules.nextTransition(after);
        if (hourStar && fallBack != null && fallBack.isOverlap() && offset.equals(fallBack.getOffsetBefore())
                && !LocalDateTime.ofInstant(after, zone).isBefore(fallBack.getDateTimeAfter())) {
            Optional<LocalDateTime> first = matchFrom(local);
            if (first.isPresent() && first.get().isBefore(fallBack.getDateTimeBefore())) {
                return Optional.of(first.get().toInstant(fallBack.getOffsetBefore()));
            }
            Optional<LocalDateTime> second = matchFrom(fallBack.getDateTimeAfter());
            if (second.isPresent() && second.get().isBefore(fallBack.getDateTimeBefore())) {
                return Optional.of(second.get().toInstant(fallBack.getOffsetAfter()));
            }
            local = fallBack.getDateTimeBefore();
        }
        int lastYear = local.getYear() + SEARCH_YEARS;
        while (true) {
            Optional<LocalDateTime> match = matchFrom(local);
            if (match.isEmpty() || match.get().getYear() > lastYear) {
                return Optional.empty();
            }
            LocalDateTime m = match.get();
            List<ZoneOffset> offsets = rules.getValidOffsets(m);
            if (offsets.isEmpty()) {
                return Optional.of(rules.getTransition(m).getInstant()); // skipped wall time: at the jump
            }
            Instant first = m.toInstant(offsets.get(0));
            if (first.isAfter(after)) {
                return Optional.of(first);
            }
            if (offsets.size() == 2 && hourStar) {
                Instant second = m.toInstant(offsets.get(1));
                if (second.isAfter(after)) {
                    return Optional.of(second);
                }
            }
            local = m.plusSeconds(1);
        }
    }

    /** The first wall time at or after {@code from} that the fields match. */
    private Optional<LocalDateTime> matchFrom(LocalDateTime from) {
        LocalDateTime t = from.truncatedTo(ChronoUnit.SECONDS);
        int lastYear = from.getYear() + SEARCH_YEARS;
        while (t.getYear() <= lastYear) {
            if (!months.get(t.getMonthValue())) {
                t = t.toLocalDate().withDayOfMonth(1).plusMonths(1).atStartOfDay();
            } else if (!dayMatches(t.toLocalDate())) {
                t = t.toLocalDate().plusDays(1).atStartOfDay();
            } else if (!hours.get(t.getHour())) {
                t = t.truncatedTo(ChronoUnit.HOURS).plusHours(1);
            } else if (!minutes.get(t.getMinute())) {
                t = t.truncatedTo(ChronoUnit.MINUTES).plusMinutes(1);
            } else if (!seconds.get(t.getSecond())) {
                int nextSecond = seconds.nextSetBit(t.getSecond());
                t = nextSecond >= 0 ? t.withSecond(nextSecond) : t.truncatedTo(ChronoUnit.MINUTES).plusMinutes(1);
            } else {
                return Optional.of(t);
            }
        }
        return Optional.empty();
    }

    private boolean dayMatches(LocalDate date) {
        boolean dom = daysOfMonth.get(date.getDayOfMonth());
        boolean dow = daysOfWeek.get(date.getDayOfWeek().getValue() % 7);
        if (dayOfMonthStar || dayOfWeekStar) {
            return dom && dow;
        }
        return dom || dow;
    }

    @Override
    public String toString() {
        return expression + " (" + zone + ")";
    }
}
