package dev.edgeplane.controlplane.controllers.autoscaler;

import dev.edgeplane.api.schedule.CronSchedule;
import dev.edgeplane.api.v1.AutoscalerSpec;
import dev.edgeplane.api.v1.ScheduledBounds;
import java.time.Instant;
import java.util.Optional;

/**
 * The min/max an Autoscaler's computation clamps to at a time: the spec's, or those of the first
 * listed schedule whose window is open. A window opens at each time of its cron schedule and lasts
 * duration_seconds; whether one is open is a single {@link CronSchedule#next} from now - duration, so
 * a restarted or new leader knows without any state. Schedules only set bounds: the HPA computation
 * still decides the count within them (unlike Alibaba's cronhpa, which writes replicas).
 */
public final class AutoscalerBounds {
    private AutoscalerBounds() {}

    /** @param schedule the active schedule's name, "" for the spec's own bounds */
    public record Bounds(int min, int max, String schedule) {}

    /** The spec's min_replicas with the HPA's default (1). */
    public static int specMin(AutoscalerSpec spec) {
        return spec.getMinReplicas() <= 0 ? 1 : spec.getMinReplicas();
    }

    public static Bounds effective(AutoscalerSpec spec, Instant now) {
        for (ScheduledBounds s : spec.getSchedulesList()) {
            if (active(s, now)) {
                return merged(spec, s);
            }
        }
        return new Bounds(specMin(spec), spec.getMaxReplicas(), "");
    }

    /** The spec's bounds with the schedule's set ones in their place. */
    public static Bounds merged(AutoscalerSpec spec, ScheduledBounds s) {
        return new Bounds(s.hasMinReplicas() ? s.getMinReplicas() : specMin(spec),
                s.hasMaxReplicas() ? s.getMaxReplicas() : spec.getMaxReplicas(), s.getName());
    }

    static boolean active(ScheduledBounds s, Instant now) {
        try {
            CronSchedule cron = CronSchedule.parse(s.getSchedule(), s.getTimeZone());
            Optional<Instant> start = cron.next(now.minusSeconds(s.getDurationSeconds()));
            return start.isPresent() && !start.get().isAfter(now);
        } catch (IllegalArgumentException e) {
            return false; // refused by the API; a stored one that no longer parses is simply never active
        }
    }
}
