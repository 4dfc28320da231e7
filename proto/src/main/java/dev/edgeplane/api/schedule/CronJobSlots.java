package dev.edgeplane.api.schedule;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * When a CronJob fires: Kubernetes' CronJob controller v2 decisions, pure, shared by the control
 * plane (cloud CronJobs) and the agent (run_on_edge ones).
 *
 * <p>Of the scheduled times after the last one handled and up to now, only the most recent is a
 * candidate (Kubernetes: with many missed times, "too many missed start times", it still starts only
 * the most recent); the older ones are missed. The candidate starts if it is within
 * starting_deadline_seconds of now; with no deadline the cloud starts it however late (Kubernetes),
 * while a node ({@code withinOnePeriod}) starts it only while the time after it has not come yet.
 */
public final class CronJobSlots {
    /** Kubernetes warns past this many missed times. */
    public static final int TOO_MANY_MISSED = 100;
    /** Windows searched, smallest first, for the most recent time: the search is bounded whatever the gap. */
    private static final List<Duration> WINDOWS = List.of(Duration.ofMinutes(2), Duration.ofHours(2), Duration.ofDays(2),
            Duration.ofDays(40), Duration.ofDays(400), Duration.ofDays(4000), Duration.ofDays(40_000));
    private static final int MAX_STEPS = 200_000;

    private CronJobSlots() {}

    /**
     * What to do now.
     *
     * @param start   the time to start now, if any
     * @param skipped a due time not started because it was past its deadline (or, on a node, the next time has come)
     * @param missed  how many times in (since, now] are not started (older ones, plus a skipped one); at least
     *                {@link #TOO_MANY_MISSED} means "too many"
     * @param handled the newest time that is now decided (started or skipped): the new "last handled" cursor
     * @param next    the first time after now, if the schedule has one
     */
    public record Plan(Optional<Instant> start, Optional<Instant> skipped, int missed, Optional<Instant> handled, Optional<Instant> next) {
        /** How long until {@link #next} (at least 1 ms), for a requeue-after. */
        public Optional<Duration> wait(Instant now) {
            return next.map(n -> {
                Duration d = Duration.between(now, n);
                return d.toMillis() < 1 ? Duration.ofMillis(1) : d;
            });
        }
    }

    /**
     * @param since           the last scheduled time handled, or the CronJob's creation time
     * @param deadlineSeconds starting_deadline_seconds, or null for none
     * @param withinOnePeriod with no deadline, start a late time only while the following time has not come
     */
    public static Plan plan(CronSchedule schedule, Instant since, Instant now, Long deadlineSeconds, boolean withinOnePeriod) {
        Optional<Instant> next = schedule.next(now);
        Recent recent = mostRecent(schedule, since, now);
        if (recent.time == null) {
            return new Plan(Optional.empty(), Optional.empty(), 0, Optional.empty(), next);
        }
        Instant t = recent.time;
        boolean late;
        if (deadlineSeconds != null) {
            late = t.isBefore(now.minusSeconds(deadlineSeconds));
        } else {
            late = withinOnePeriod && next.isPresent() && schedule.next(t).map(after -> !after.isAfter(now)).orElse(false);
        }
        int missed = recent.older + (late ? 1 : 0);
        return late ? new Plan(Optional.empty(), Optional.of(t), missed, Optional.of(t), next)
                : new Plan(Optional.of(t), Optional.empty(), missed, Optional.of(t), next);
    }

    /** The first time after {@code since} (Kubernetes' next schedule for a CronJob that has never run). */
    public static Optional<Instant> nextAfter(CronSchedule schedule, Instant since) {
        return schedule.next(since);
    }

    private record Recent(Instant time, int older) {}

    /** The newest time in (since, now], and how many older ones there are (capped at {@link #TOO_MANY_MISSED}). */
    private static Recent mostRecent(CronSchedule schedule, Instant since, Instant now) {
        if (!since.isBefore(now)) {
            return new Recent(null, 0);
        }
        for (Duration window : WINDOWS) {
            Instant from = now.minus(window).isAfter(since) ? now.minus(window) : since;
            Instant last = null;
            int count = 0;
            Instant cursor = from;
            for (int steps = 0; steps < MAX_STEPS; steps++) {
                Optional<Instant> t = schedule.next(cursor);
                if (t.isEmpty() || t.get().isAfter(now)) {
                    break;
                }
                last = t.get();
                count++;
                cursor = last;
            }
            if (last != null) {
                int older = count - 1;
                for (Instant c = since; older < TOO_MANY_MISSED; ) { // the times before the window, counted up to the cap
                    Optional<Instant> t = schedule.next(c);
                    if (t.isEmpty() || t.get().isAfter(from)) {
                        break;
                    }
                    older++;
                    c = t.get();
                }
                return new Recent(last, Math.min(older, TOO_MANY_MISSED));
            }
            if (from.equals(since)) {
                break;
            }
        }
        return new Recent(null, 0);
    }

    /** Kubernetes' concurrency policies. */
    public enum Concurrency { ALLOW, FORBID, REPLACE }

    /** What a due time does given its CronJob's active runs. */
    public enum Action { START, SKIP, REPLACE_THEN_START }

    public static Action onDue(Concurrency policy, int active) {
        if (active == 0 || policy == Concurrency.ALLOW) {
            return Action.START;
        }
        return policy == Concurrency.FORBID ? Action.SKIP : Action.REPLACE_THEN_START;
    }

    /**
     * History limits: of the finished runs of one outcome, newest first, those beyond {@code limit}
     * (to delete, oldest last).
     */
    public static <T> List<T> beyondLimit(List<T> finishedNewestFirst, int limit) {
        return finishedNewestFirst.size() <= limit ? List.of() : List.copyOf(finishedNewestFirst.subList(Math.max(0, limit), finishedNewestFirst.size()));
    }
}
