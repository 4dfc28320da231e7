package dev.edgeplane.agent.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The on-disk offline ring: restart, ack, torn tail, byte bound (wraparound), retention. */
class MetricsRingTest {
    private static final Series LOAD = Series.gauge("node_load1");
    private static final Series CPU = Series.gauge("container_cpu_usage_cores", "namespace", "shop", "app", "pos",
            "replica", "pos-0", "container", "main");
    private static final long T0 = 1_800_000_000_000L;

    @TempDir
    Path dir;
    private final Clock clock = Clock.fixed(Instant.ofEpochMilli(T0 + 3_600_000), ZoneOffset.UTC);

    private static Frame frame(int i) {
        return new Frame(T0 + i * 60_000L, Map.of(LOAD, i * 0.5, CPU, i * 0.01));
    }

    private MetricsRing open(long bytes) throws IOException {
        return MetricsRing.open(dir, bytes, Duration.ofHours(24), clock);
    }

    @Test
    void survivesARestartAndForgetsOnlyWhatWasAcked() throws Exception {
        try (MetricsRing ring = open(1 << 20)) {
            for (int i = 0; i < 10; i++) {
                ring.append(frame(i));
            }
            assertEquals(10, ring.pending());
            List<MetricsRing.Record> first = ring.readAfter(0, 4);
            assertEquals(List.of(frame(0), frame(1), frame(2), frame(3)), first.stream().map(MetricsRing.Record::frame).toList(),
                    "oldest first, series, labels, values and timestamps intact");
            ring.ackThrough(first.get(3).id());
            assertEquals(6, ring.pending());
        }
        try (MetricsRing ring = open(1 << 20)) {
            assertEquals(6, ring.pending(), "acked records stay forgotten after a restart");
            List<MetricsRing.Record> rest = ring.readAfter(0, 100);
            assertEquals(frame(4), rest.get(0).frame());
            assertEquals(6, rest.size());
            long id = ring.append(frame(10));
            assertTrue(id > rest.get(5).id(), "ids keep growing across restarts");
            ring.ackThrough(id);
            assertEquals(0, ring.pending());
            assertEquals(0, ring.dropped());
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertTrue(files.noneMatch(p -> p.toString().endsWith(".seg") && sizeOf(p) > 0), "fully acked segments are deleted");
        }
    }

    @Test
    void tornTailIsCutOffNotFatal() throws Exception {
        try (MetricsRing ring = open(1 << 20)) {
            for (int i = 0; i < 5; i++) {
                ring.append(frame(i));
            }
        }
        Path segment = segments().get(0);
        long size = Files.size(segment);
        // A crash in the middle of the last record, then garbage from a half-written block.
        try (FileChannel ch = FileChannel.open(segment, StandardOpenOption.WRITE)) {
            ch.truncate(size - 7);
        }
        Files.write(segment, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29},
                StandardOpenOption.APPEND);
        try (MetricsRing ring = open(1 << 20)) {
            assertEquals(4, ring.pending(), "the torn record is skipped, the four before it kept");
            ring.append(frame(5));
            assertEquals(List.of(frame(0), frame(1), frame(2), frame(3), frame(5)),
                    ring.readAfter(0, 100).stream().map(MetricsRing.Record::frame).toList());
        }
        try (MetricsRing ring = open(1 << 20)) {
            assertEquals(5, ring.pending(), "appends after the cut survive the next restart");
        }
    }

    @Test
    void aFlippedBitEndsItsSegmentButNotTheRing() throws Exception {
        try (MetricsRing ring = open(1 << 20)) {
            for (int i = 0; i < 3; i++) {
                ring.append(frame(i));
            }
        }
        Path segment = segments().get(0);
        byte[] bytes = Files.readAllBytes(segment);
        bytes[bytes.length - 3] ^= 0x40; // inside the last record's payload: its checksum fails
        Files.write(segment, bytes);
        try (MetricsRing ring = open(1 << 20)) {
            assertEquals(List.of(frame(0), frame(1)), ring.readAfter(0, 100).stream().map(MetricsRing.Record::frame).toList());
        }
    }

    @Test
    void boundedInBytesOldestDroppedAndCounted() throws Exception {
        long bound = 64 * 1024;
        try (MetricsRing ring = open(bound)) {
            int n = 700;
            for (int i = 0; i < n; i++) {
                ring.append(frame(i));
                assertTrue(ring.bytes() <= bound, "within the bound after every append: " + ring.bytes());
            }
            long pending = ring.pending();
            assertTrue(pending > 100 && pending < n, "pending " + pending);
            assertEquals(n, pending + ring.dropped(), "every frame is either kept or counted as dropped");
            List<MetricsRing.Record> kept = ring.readAfter(0, n);
            assertEquals(pending, kept.size());
            assertEquals(frame(n - 1), kept.get(kept.size() - 1).frame(), "the newest survive");
            for (int i = 1; i < kept.size(); i++) {
                assertEquals(kept.get(i - 1).id() + 1, kept.get(i).id(), "no hole in what is kept");
            }
        }
    }

    @Test
    void olderThanRetentionIsDropped() throws Exception {
        Clock later = Clock.offset(clock, Duration.ofHours(2));
        try (MetricsRing ring = MetricsRing.open(dir, 1 << 20, Duration.ofHours(1), clock)) {
            ring.append(new Frame(clock.millis() - 10_000, Map.of(LOAD, 1.0)));
            assertEquals(1, ring.pending());
        }
        try (MetricsRing ring = MetricsRing.open(dir, 1 << 20, Duration.ofHours(1), later)) {
            assertEquals(0, ring.pending(), "two hours later, an hour's retention has let it go");
            assertEquals(1, ring.dropped());
        }
    }

    private List<Path> segments() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.toString().endsWith(".seg")).sorted().toList();
        }
    }

    private static long sizeOf(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return 0;
        }
    }
}
