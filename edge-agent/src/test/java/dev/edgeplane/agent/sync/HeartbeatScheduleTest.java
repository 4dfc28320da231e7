package dev.edgeplane.agent.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class HeartbeatScheduleTest {
    private static final Instant T0 = Instant.parse("2026-12-04T12:00:00Z");

    @Test
    void theFirstCheckSendsAHeartbeat() {
        assertTrue(new HeartbeatSchedule(Duration.ofSeconds(60)).due(T0, 0, 0));
    }

    @Test
    void anIdleNodeSendsOneHeartbeatAPeriod() {
        HeartbeatSchedule schedule = new HeartbeatSchedule(Duration.ofSeconds(60));
        schedule.sent(T0, 3, 3);
        int sent = 0;
        // Checks every 10 s for ten minutes, counts unchanged.
        for (int s = 10; s <= 600; s += 10) {
            Instant now = T0.plusSeconds(s);
            if (schedule.due(now, 3, 3)) {
                schedule.sent(now, 3, 3);
                sent++;
            }
        }
        assertEquals(10, sent, "one heartbeat a minute");
    }

    @Test
    void aChangeOfCountsIsSentAtTheNextCheck() {
        HeartbeatSchedule schedule = new HeartbeatSchedule(Duration.ofSeconds(60));
        schedule.sent(T0, 3, 3);
        assertFalse(schedule.due(T0.plusSeconds(10), 3, 3));
        assertTrue(schedule.due(T0.plusSeconds(10), 2, 3), "a replica stopped");
        assertTrue(schedule.due(T0.plusSeconds(10), 3, 4), "a replica was assigned");
    }

    @Test
    void aShortPeriodIsCheckedAtItsOwnPace() {
        assertEquals(Duration.ofSeconds(2), HeartbeatSchedule.checkEvery(Duration.ofSeconds(2)));
        assertEquals(Duration.ofSeconds(10), HeartbeatSchedule.checkEvery(Duration.ofMinutes(1)));
        HeartbeatSchedule schedule = new HeartbeatSchedule(Duration.ofSeconds(2));
        schedule.sent(T0, 1, 1);
        assertTrue(schedule.due(T0.plusSeconds(2), 1, 1));
    }

    @Test
    void acknowledgedMetricsStandInForHeartbeatsUpToFivePeriods() {
        HeartbeatSchedule schedule = new HeartbeatSchedule(Duration.ofSeconds(60));
        schedule.sent(T0, 3, 3);
        int sent = 0;
        // A metrics batch acked every minute at :30; checks every 10 s for twenty minutes.
        for (int s = 10; s <= 1200; s += 10) {
            Instant now = T0.plusSeconds(s);
            if (s % 60 == 30) {
                schedule.heard(now);
            }
            if (schedule.due(now, 3, 3)) {
                schedule.sent(now, 3, 3);
                sent++;
            }
        }
        assertEquals(4, sent, "one heartbeat every five minutes");
        assertTrue(schedule.due(T0.plusSeconds(1210), 2, 3), "a change is still told at the next check");
    }

    @Test
    void heartbeatsComeBackAPeriodAfterTheLastAcknowledgedBatch() {
        HeartbeatSchedule schedule = new HeartbeatSchedule(Duration.ofSeconds(60));
        schedule.sent(T0, 3, 3);
        schedule.heard(T0.plusSeconds(50));
        assertFalse(schedule.due(T0.plusSeconds(100), 3, 3), "the batch at 50 s was heard");
        assertFalse(schedule.due(T0.plusSeconds(110), 3, 3), "its successor may be on its way: half a check's grace");
        assertTrue(schedule.due(T0.plusSeconds(120), 3, 3), "nothing heard since: a period and half a check after it");
    }

    @Test
    void batchesAckedJustAfterTheCheckStillStandIn() {
        // Seen on a real agent: the metrics flush and the heartbeat check run on timers started together,
        // so each batch's ack came a few ms after a check; heartbeats were sent every minute regardless.
        HeartbeatSchedule schedule = new HeartbeatSchedule(Duration.ofSeconds(60));
        schedule.sent(T0, 3, 3);
        int sent = 0;
        for (int s = 10; s <= 1200; s += 10) {
            Instant now = T0.plusSeconds(s);
            if (schedule.due(now, 3, 3)) {
                schedule.sent(now, 3, 3);
                sent++;
            }
            if (s % 60 == 0) {
                schedule.heard(now.plusMillis(15));
            }
        }
        assertEquals(4, sent, "one heartbeat every five minutes");
    }
}
