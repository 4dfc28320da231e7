package dev.edgeplane.agent.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.AgentEventRecord;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.EventReport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EventSpoolTest {
    @TempDir Path dir;

    /** A clock the test moves by hand. */
    private static final class ManualClock extends Clock {
        Instant now = Instant.parse("2026-01-01T00:00:00Z");

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    private final ManualClock clock = new ManualClock();

    @Test
    void repeatsOfOneObjectAndReasonAggregateIntoOneRecordUntilTaken() throws Exception {
        try (EventSpool spool = EventSpool.open(dir, 16, clock)) {
            var web = EventRecorder.replica("default", "web-0");
            spool.warning(web, "BackOff", "back-off 10s");
            clock.now = clock.now.plusSeconds(5);
            spool.warning(web, "BackOff", "back-off 20s");
            spool.info(web, "Started", "started container main");
            spool.warning(EventRecorder.replica("default", "web-1"), "BackOff", "back-off 10s");

            EventReport report = spool.next().orElseThrow();
            assertEquals(3, report.getEventsCount());
            AgentEventRecord backOff = report.getEvents(0);
            assertEquals("BackOff", backOff.getReason());
            assertEquals(2, backOff.getCount());
            assertEquals("back-off 20s", backOff.getMessage(), "the latest message");
            assertEquals(Instant.parse("2026-01-01T00:00:00Z").getEpochSecond(), backOff.getFirstTime().getSeconds());
            assertEquals(clock.now.getEpochSecond(), backOff.getLastTime().getSeconds());

            // Taken: a new occurrence starts a new record, the one in flight is not touched.
            spool.warning(web, "BackOff", "back-off 40s");
            assertEquals(report, spool.next().orElseThrow(), "unacked: the same report again, same sequence");
            spool.ack(report.getSequence());
            EventReport second = spool.next().orElseThrow();
            assertEquals(report.getSequence() + 1, second.getSequence());
            assertEquals(1, second.getEventsCount());
            assertEquals(1, second.getEvents(0).getCount());
            spool.ack(second.getSequence());
            assertTrue(spool.next().isEmpty());
        }
    }

    @Test
    void survivesARestartWithTheReportInFlightAndThePendingRecords() throws Exception {
        EventReport inFlight;
        try (EventSpool spool = EventSpool.open(dir, 16, clock)) {
            spool.warning(EventRecorder.node("n1"), "JournalCorrupt", "bad journal");
            inFlight = spool.next().orElseThrow(); // sent, never acked: the link died
            spool.info(EventRecorder.replica("default", "a-0"), "Pulled", "pulled image x");
            spool.info(EventRecorder.replica("default", "a-0"), "Pulled", "pulled image x");
        }
        try (EventSpool spool = EventSpool.open(dir, 16, clock)) {
            assertEquals(inFlight, spool.next().orElseThrow(), "re-sent with its sequence after the restart");
            spool.ack(inFlight.getSequence());
            EventReport rest = spool.next().orElseThrow();
            assertEquals(inFlight.getSequence() + 1, rest.getSequence());
            assertEquals(List.of("Pulled"), rest.getEventsList().stream().map(AgentEventRecord::getReason).toList());
            assertEquals(2, rest.getEvents(0).getCount());
            spool.ack(rest.getSequence());
        }
        try (EventSpool spool = EventSpool.open(dir, 16, clock)) {
            assertTrue(spool.next().isEmpty(), "acked records are gone for good");
        }
    }

    @Test
    void tornOrCorruptFileIsSetAsideAndReported() throws Exception {
        try (EventSpool spool = EventSpool.open(dir, 16, clock)) {
            spool.info(EventRecorder.replica("default", "a-0"), "Started", "started");
            spool.persist();
        }
        Path file = dir.resolve("events.bin");
        byte[] bytes = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(bytes, bytes.length - 7)); // torn: a crash mid-write without rename

        clock.now = clock.now.plus(Duration.ofMinutes(1));
        try (EventSpool spool = EventSpool.open(dir, 16, clock)) {
            assertTrue(Files.exists(dir.resolve("events.bin.corrupt")));
            EventReport report = spool.next().orElseThrow();
            assertEquals(List.of("EventSpoolCorrupt"), report.getEventsList().stream().map(AgentEventRecord::getReason).toList());
            assertEquals(EventLevel.WARNING, report.getEvents(0).getLevel());
            assertTrue(report.getSequence() >= clock.now.toEpochMilli() * 1000, "a fresh spool never reuses a sequence");
            spool.ack(report.getSequence());
        }

        bytes = Files.readAllBytes(file);
        bytes[bytes.length / 2] ^= 0x5a; // a flipped bit: the checksum catches it
        Files.write(file, bytes);
        try (EventSpool spool = EventSpool.open(dir, 16, clock)) {
            assertEquals("EventSpoolCorrupt", spool.next().orElseThrow().getEvents(0).getReason());
        }
    }

    @Test
    void boundedTheOldestRecordsAreDroppedAndCounted() throws Exception {
        try (EventSpool spool = EventSpool.open(dir, 4, clock)) {
            for (int i = 0; i < 10; i++) {
                clock.now = clock.now.plusSeconds(1);
                spool.info(EventRecorder.replica("default", "r-" + i), "Started", "started");
                spool.info(EventRecorder.replica("default", "r-" + i), "Started", "started");
            }
            assertEquals(4, spool.size());
            assertEquals(12, spool.droppedNotReported(), "6 dropped records of 2 occurrences each");
            EventReport first = spool.next().orElseThrow();
            assertEquals(12, first.getDropped());
            assertEquals(List.of("r-6", "r-7"), first.getEventsList().stream().map(e -> e.getInvolvedObject().getName()).toList(),
                    "the newest survive, oldest first, at most half the capacity per report");
            // While that report is in flight, it counts against the bound too: r-8 goes.
            spool.info(EventRecorder.replica("default", "r-10"), "Started", "started");
            assertEquals(4, spool.size());
            spool.ack(first.getSequence());
            EventReport second = spool.next().orElseThrow();
            assertEquals(2, second.getDropped(), "r-8's two occurrences");
            assertEquals(List.of("r-9", "r-10"), second.getEventsList().stream().map(e -> e.getInvolvedObject().getName()).toList());
            assertFalse(second.getEventsList().isEmpty());
        }
    }
}
