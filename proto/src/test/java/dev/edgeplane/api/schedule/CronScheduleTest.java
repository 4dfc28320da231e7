package dev.edgeplane.api.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class CronScheduleTest {

    private static Instant utc(String localDateTime) {
        return LocalDateTime.parse(localDateTime).atZone(ZoneId.of("UTC")).toInstant();
    }

    private static Instant at(String localDateTime, String zone) {
        return LocalDateTime.parse(localDateTime).atZone(ZoneId.of(zone)).toInstant();
    }

    /** The next {@code n} fire times after {@code start}, as wall times of the schedule's zone with their offsets. */
    private static List<String> fires(String cron, String zone, Instant start, int n) {
        CronSchedule schedule = CronSchedule.parse(cron, zone);
        List<String> out = new ArrayList<>();
        Instant t = start;
        for (int i = 0; i < n; i++) {
            t = schedule.next(t).orElseThrow();
            out.add(ZonedDateTime.ofInstant(t, schedule.zone()).toOffsetDateTime().toString());
        }
        return out;
    }

    private static String message(String cron) {
        return assertThrows(CronSchedule.InvalidCronException.class, () -> CronSchedule.parse(cron, "UTC")).getMessage();
    }

    @Test
    void everyMinuteFiresAtTheNextWholeMinuteStrictlyAfter() {
        assertEquals(List.of("2026-03-01T10:01Z", "2026-03-01T10:02Z"),
                fires("* * * * *", "UTC", utc("2026-03-01T10:00:00"), 2));
        assertEquals(List.of("2026-03-01T10:01Z"), fires("* * * * *", "", utc("2026-03-01T10:00:59.999"), 1));
    }

    @Test
    void rangesStepsAndLists() {
        assertEquals(List.of("2026-03-01T10:00Z", "2026-03-01T10:20Z", "2026-03-01T10:40Z", "2026-03-01T11:00Z"),
                fires("*/20 * * * *", "UTC", utc("2026-03-01T09:59:00"), 4));
        assertEquals(List.of("2026-03-01T09:05Z", "2026-03-01T09:35Z", "2026-03-01T17:05Z", "2026-03-01T17:35Z",
                        "2026-03-02T09:05Z"),
                fires("5,35 9-17/8 * * *", "UTC", utc("2026-03-01T00:00:00"), 5));
        // a/n: from a to the maximum
        assertEquals(List.of("2026-03-01T00:50Z", "2026-03-01T01:50Z"), fires("50/20 * * * *", "UTC", utc("2026-03-01T00:00:00"), 2));
        assertEquals(List.of("2026-03-01T00:10Z", "2026-03-01T00:11Z", "2026-03-01T00:12Z", "2026-03-01T00:40Z"),
                fires("10-12,40 0 * * *", "UTC", utc("2026-03-01T00:00:00"), 4));
    }

    @Test
    void monthAndDayNamesAndSundayAsSeven() {
        // 2026-01-05 is a Monday
        assertEquals(List.of("2026-01-05T08:00Z", "2026-01-07T08:00Z", "2026-01-12T08:00Z"),
                fires("0 8 * JAN mon,Wed", "UTC", utc("2026-01-01T00:00:00"), 3));
        assertEquals(List.of("2026-01-04T00:00Z", "2026-01-11T00:00Z"), fires("0 0 * * 7", "UTC", utc("2026-01-01T00:00:00"), 2));
        assertEquals(List.of("2026-01-04T00:00Z"), fires("0 0 * * SUN", "UTC", utc("2026-01-01T00:00:00"), 1));
        assertEquals(List.of("2026-06-01T00:00Z", "2026-07-01T00:00Z", "2026-08-01T00:00Z", "2027-06-01T00:00Z"),
                fires("0 0 1 jun-aug *", "UTC", utc("2026-01-01T00:00:00"), 4));
    }

    @Test
    void dayOfMonthAndDayOfWeekBothRestrictedMatchEither() {
        // the 13th OR any Friday (2026-02-06 and 2026-02-13 are Fridays)
        assertEquals(List.of("2026-02-06T00:00Z", "2026-02-13T00:00Z", "2026-02-20T00:00Z", "2026-02-27T00:00Z",
                        "2026-03-06T00:00Z", "2026-03-13T00:00Z"),
                fires("0 0 13 * FRI", "UTC", utc("2026-02-01T00:00:00"), 6));
        // one starred: both must hold (a Friday the 13th: February and March 2026)
        assertEquals(List.of("2026-02-06T00:00Z", "2026-02-13T00:00Z"), fires("0 0 * * FRI", "UTC", utc("2026-02-01T00:00:00"), 2));
        assertEquals(List.of("2026-02-13T00:00Z", "2026-03-13T00:00Z"), fires("0 0 13 * *", "UTC", utc("2026-02-01T00:00:00"), 2));
        // ? is * in the day fields
        assertEquals(List.of("2026-02-13T00:00Z"), fires("0 0 13 * ?", "UTC", utc("2026-02-01T00:00:00"), 1));
    }

    @Test
    void february29FiresInLeapYearsOnly() {
        assertEquals(List.of("2028-02-29T12:00Z", "2032-02-29T12:00Z"), fires("0 12 29 2 *", "UTC", utc("2026-03-01T00:00:00"), 2));
        // 2100 is not a leap year
        assertEquals(List.of("2096-02-29T00:00Z", "2104-02-29T00:00Z"), fires("0 0 29 FEB *", "UTC", utc("2095-01-01T00:00:00"), 2));
        // the 31st skips short months
        assertEquals(List.of("2026-01-31T00:00Z", "2026-03-31T00:00Z", "2026-05-31T00:00Z"),
                fires("0 0 31 * *", "UTC", utc("2026-01-01T00:00:00"), 3));
    }

    @Test
    void secondsFieldAndMacros() {
        assertEquals(List.of("2026-03-01T10:00:10Z", "2026-03-01T10:00:20Z", "2026-03-01T10:00:30Z"),
                fires("*/10 * * * * *", "UTC", utc("2026-03-01T10:00:05"), 3));
        assertTrue(CronSchedule.parse("*/10 * * * * *", "UTC").hasSeconds());
        assertEquals(List.of("2026-03-02T00:00Z"), fires("@daily", "UTC", utc("2026-03-01T10:00:00"), 1));
        assertEquals(List.of("2026-03-01T11:00Z"), fires("@hourly", "UTC", utc("2026-03-01T10:00:00"), 1));
        assertEquals(List.of("2027-01-01T00:00Z"), fires("@yearly", "UTC", utc("2026-03-01T10:00:00"), 1));
        assertEquals(List.of("2026-04-01T00:00Z"), fires("@monthly", "UTC", utc("2026-03-01T10:00:00"), 1));
        assertEquals(List.of("2026-03-08T00:00Z"), fires("@weekly", "UTC", utc("2026-03-01T10:00:00"), 1));
    }

    @Test
    void timeZoneShiftsTheWallClock() {
        assertEquals(List.of("2026-01-15T09:00+01:00"), fires("0 9 * * *", "Europe/Berlin", utc("2026-01-15T07:00:00"), 1));
        assertEquals(List.of("2026-07-15T09:00+02:00"), fires("0 9 * * *", "Europe/Berlin", utc("2026-07-15T06:00:00"), 1));
    }

    @Test
    void aSkippedWallTimeFiresOnceAtTheJump() {
        // Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST
        assertEquals(List.of("2026-03-28T02:30+01:00", "2026-03-29T03:00+02:00", "2026-03-30T02:30+02:00"),
                fires("30 2 * * *", "Europe/Berlin", at("2026-03-28T00:00", "Europe/Berlin"), 3));
        // every 20 minutes: 01:40, then the whole skipped hour collapses into one firing at 03:00
        assertEquals(List.of("2026-03-29T01:40+01:00", "2026-03-29T03:00+02:00", "2026-03-29T03:20+02:00"),
                fires("*/20 * * * *", "Europe/Berlin", at("2026-03-29T01:30", "Europe/Berlin"), 3));
    }

    @Test
    void aRepeatedWallTimeFiresOnceForAFixedHourAndTwiceForEveryHour() {
        // Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice
        assertEquals(List.of("2026-10-25T02:30+02:00", "2026-10-26T02:30+01:00"),
                fires("30 2 * * *", "Europe/Berlin", at("2026-10-25T00:00", "Europe/Berlin"), 2));
        assertEquals(List.of("2026-10-25T02:00+02:00", "2026-10-25T02:30+02:00", "2026-10-25T02:00+01:00",
                        "2026-10-25T02:30+01:00", "2026-10-25T03:00+01:00"),
                fires("*/30 * * * *", "Europe/Berlin", at("2026-10-25T01:45", "Europe/Berlin"), 5));
        // fire times never go backwards through the overlap, one by one
        CronSchedule every10 = CronSchedule.parse("*/10 * * * *", "Europe/Berlin");
        Instant t = at("2026-10-25T01:00", "Europe/Berlin");
        for (int i = 0; i < 30; i++) {
            Instant next = every10.next(t).orElseThrow();
            assertEquals(600, next.getEpochSecond() - t.getEpochSecond(), "after " + t);
            t = next;
        }
    }

    @Test
    void badInputNamesTheFieldAndPart() {
        assertTrue(message("61 * * * *").contains("minute field part \"61\": value 61 is out of range 0-59"), message("61 * * * *"));
        assertTrue(message("* 24 * * *").contains("hour field part \"24\""));
        assertTrue(message("* * 0 * *").contains("day-of-month field part \"0\""));
        assertTrue(message("* * * 13 *").contains("month field part \"13\""));
        assertTrue(message("* * * FOO *").contains("month field part \"FOO\": \"FOO\" is not a number or one of JAN"));
        assertTrue(message("* * * * 8").contains("day-of-week field part \"8\""));
        assertTrue(message("*/0 * * * *").contains("minute field part \"*/0\": step 0 is out of range"));
        assertTrue(message("5-2 * * * *").contains("range 5-2 runs backwards"));
        assertTrue(message("1,,2 * * * *").contains("empty list element"));
        assertTrue(message("* * * *").contains("has 4 fields"));
        assertTrue(message("* * * * * * *").contains("has 7 fields"));
        assertTrue(message("").contains("schedule is empty"));
        assertTrue(message("@sometimes").contains("unknown macro"));
        assertTrue(message("0 0 30 2 *").contains("day-of-month field \"30\" never occurs"));
        assertTrue(message("x".repeat(300)).contains("at most 256"));
        CronSchedule.InvalidCronException zone = assertThrows(CronSchedule.InvalidCronException.class,
                () -> CronSchedule.parse("* * * * *", "Mars/Olympus"));
        assertEquals("time_zone", zone.field());
        assertEquals("second", assertThrows(CronSchedule.InvalidCronException.class,
                () -> CronSchedule.parse("60 * * * * *", "UTC")).field());
    }
}
