package dev.edgeplane.api.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.CronJobNames;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The firing decisions of CronJobs, pure: Kubernetes' CronJob controller v2 rules and the node's catch-up rule. */
class CronJobSlotsTest {
    private static final CronSchedule EVERY_5_MIN = CronSchedule.parse("*/5 * * * *", "");
    private static final Instant T = Instant.parse("2026-03-01T10:00:00Z");

    @Test
    void nextTimeIsWaitedForWhenNothingIsDue() {
        CronJobSlots.Plan plan = CronJobSlots.plan(EVERY_5_MIN, T.plusSeconds(1), T.plusSeconds(60), null, false);
        assertEquals(Optional.empty(), plan.start());
        assertEquals(Optional.of(T.plusSeconds(300)), plan.next());
        assertEquals(Optional.of(Duration.ofSeconds(240)), plan.wait(T.plusSeconds(60)));
    }

    @Test
    void aDueTimeStartsOnce() {
        CronJobSlots.Plan plan = CronJobSlots.plan(EVERY_5_MIN, T.minusSeconds(1), T.plusMillis(200), null, false);
        assertEquals(Optional.of(T), plan.start());
        assertEquals(Optional.of(T), plan.handled());
        assertEquals(0, plan.missed());
        assertEquals(Optional.empty(), CronJobSlots.plan(EVERY_5_MIN, T, T.plusSeconds(5), null, false).start(), "handled: not again");
    }

    @Test
    void missedRunsStartOnlyTheMostRecent() {
        CronJobSlots.Plan plan = CronJobSlots.plan(EVERY_5_MIN, T, T.plus(Duration.ofMinutes(17)), null, false);
        assertEquals(Optional.of(T.plus(Duration.ofMinutes(15))), plan.start());
        assertEquals(2, plan.missed(), "10:05 and 10:10 missed");
    }

    @Test
    void manyMissedRunsAreCountedUpToTheCap() {
        CronSchedule everySecond = CronSchedule.parse("* * * * * *", "");
        CronJobSlots.Plan plan = CronJobSlots.plan(everySecond, T.minus(Duration.ofDays(3)), T, null, false);
        assertEquals(Optional.of(T), plan.start(), "the most recent, however many were missed");
        assertEquals(CronJobSlots.TOO_MANY_MISSED, plan.missed());
    }

    @Test
    void startingDeadlineSkipsATimeTooLate() {
        CronJobSlots.Plan late = CronJobSlots.plan(EVERY_5_MIN, T.minusSeconds(1), T.plusSeconds(61), 60L, false);
        assertEquals(Optional.empty(), late.start());
        assertEquals(Optional.of(T), late.skipped());
        assertEquals(Optional.of(T), late.handled());
        CronJobSlots.Plan inTime = CronJobSlots.plan(EVERY_5_MIN, T.minusSeconds(1), T.plusSeconds(59), 60L, false);
        assertEquals(Optional.of(T), inTime.start());
    }

    @Test
    void withoutADeadlineTheCloudStartsLateButANodeOnlyWithinOnePeriod() {
        Instant now = T.plus(Duration.ofMinutes(7)); // 10:05 is the most recent; 10:10 not yet
        assertEquals(Optional.of(T.plusSeconds(300)), CronJobSlots.plan(EVERY_5_MIN, T, now, null, true).start());
        Instant muchLater = T.plus(Duration.ofMinutes(4)).plusSeconds(59);
        assertEquals(Optional.of(T), CronJobSlots.plan(EVERY_5_MIN, T.minusSeconds(1), muchLater, null, true).start(),
                "within one period: started");
        // The most recent missed time is by definition within one period of now: both start it.
        CronSchedule hourly = CronSchedule.parse("0 * * * *", "");
        Instant afterNext = T.plus(Duration.ofMinutes(61));
        assertEquals(Optional.of(T.plusSeconds(3600)), CronJobSlots.plan(hourly, T.minusSeconds(1), afterNext, null, false).start());
        assertEquals(Optional.of(T.plusSeconds(3600)), CronJobSlots.plan(hourly, T.minusSeconds(1), afterNext, null, true).start(),
                "the most recent (11:00) is within its period");
    }

    @Test
    void forbidSkipsReplaceReplacesAllowStarts() {
        assertEquals(CronJobSlots.Action.START, CronJobSlots.onDue(CronJobSlots.Concurrency.FORBID, 0));
        assertEquals(CronJobSlots.Action.SKIP, CronJobSlots.onDue(CronJobSlots.Concurrency.FORBID, 1));
        assertEquals(CronJobSlots.Action.REPLACE_THEN_START, CronJobSlots.onDue(CronJobSlots.Concurrency.REPLACE, 1));
        assertEquals(CronJobSlots.Action.START, CronJobSlots.onDue(CronJobSlots.Concurrency.ALLOW, 3));
    }

    @Test
    void historyPruningDropsTheOldestBeyondTheLimit() {
        List<String> newestFirst = List.of("j5", "j4", "j3", "j2");
        assertEquals(List.of("j2"), CronJobSlots.beyondLimit(newestFirst, 3));
        assertEquals(newestFirst, CronJobSlots.beyondLimit(newestFirst, 0));
        assertEquals(List.of(), CronJobSlots.beyondLimit(newestFirst, 4));
    }

    @Test
    void timeZonesDecideTheWallClock() {
        CronSchedule berlin = CronSchedule.parse("0 9 * * *", "Europe/Berlin");
        CronJobSlots.Plan plan = CronJobSlots.plan(berlin, Instant.parse("2026-03-01T07:00:00Z"), Instant.parse("2026-03-01T08:00:01Z"), null, false);
        assertEquals(Optional.of(Instant.parse("2026-03-01T08:00:00Z")), plan.start(), "09:00 in Berlin (CET) is 08:00 UTC");
    }

    @Test
    void namesAreDeterministicAndShortenedPast63() {
        assertEquals("backup-29537880", CronJobNames.scheduledJob("backup", Instant.ofEpochSecond(29537880L * 60), false));
        assertEquals("backup-1772359200", CronJobNames.scheduledJob("backup", Instant.ofEpochSecond(1772359200L), true));
        String longName = "a".repeat(52);
        String job = CronJobNames.edgeJob(longName, "node-with-a-rather-long-name", Instant.ofEpochSecond(1772359200L));
        assertTrue(job.length() <= 63, job);
        assertTrue(job.endsWith("-1772359200"), job);
        assertEquals(job, CronJobNames.edgeJob(longName, "node-with-a-rather-long-name", Instant.ofEpochSecond(1772359200L)));
        assertTrue(!job.equals(CronJobNames.edgeJob(longName, "node-with-a-rather-long-nam2", Instant.ofEpochSecond(1772359200L))));
        assertTrue(CronJobNames.runReplica("tick", Instant.ofEpochSecond(5)).startsWith("cronrun."), "a dot: never an assigned replica");
    }
}
