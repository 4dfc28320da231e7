package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ConnectionLogTest {
    private final List<LogRecord> records = new CopyOnWriteArrayList<>();
    private final Logger logger = Logger.getLogger(ConnectionLog.class.getName());
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord record) {
            records.add(record);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };
    private final ScheduledThreadPoolExecutor timers = new ScheduledThreadPoolExecutor(1);
    private Level levelBefore;

    @BeforeEach
    void capture() {
        levelBefore = logger.getLevel();
        logger.setLevel(Level.ALL);
        capture.setLevel(Level.ALL);
        logger.addHandler(capture);
    }

    @AfterEach
    void release() {
        logger.removeHandler(capture);
        logger.setLevel(levelBefore);
        timers.shutdownNow();
    }

    @Test
    void aFewConnectionsAreLoggedOneByOneAndNoSummaryFollows() {
        ConnectionLog log = new ConnectionLog(timers, Duration.ofHours(1), 20);
        log.connected("edge-1", 0, 12);
        log.disconnected("edge-1", 12);
        log.summarize();

        assertEquals(List.of("node edge-1 connected (last applied revision 0, resuming from 12)", "node edge-1 disconnected (acked revision 12)"),
                info());
    }

    @Test
    void aStormIsLoggedUpToTheLimitThenCountedInOneSummary() {
        ConnectionLog log = new ConnectionLog(timers, Duration.ofSeconds(10), 20);
        for (int i = 0; i < 25; i++) {
            log.connected("edge-" + i, 100, 100);
        }
        log.disconnected("edge-0", 100);

        assertEquals(20, info().size(), "the first 20 at INFO");
        assertEquals(6, records.stream().filter(r -> r.getLevel().intValue() < Level.INFO.intValue()).count(), "the rest at DEBUG");
        log.summarize();
        String summary = info().get(info().size() - 1);
        assertEquals("25 nodes connected and 1 disconnected in the last 10 s (the first 20 logged one by one, the rest at DEBUG)", summary);

        // A new interval logs one by one again, and an interval within the limit has no summary.
        log.connected("edge-late", 100, 100);
        log.summarize();
        assertEquals("node edge-late connected (last applied revision 100, resuming from 100)", info().get(info().size() - 1));
        assertEquals(1, info().stream().filter(line -> line.contains("nodes connected and")).count());
    }

    private List<String> info() {
        return records.stream().filter(r -> r.getLevel().intValue() >= Level.INFO.intValue())
                .map(ConnectionLogTest::formatted).toList();
    }

    /** The message as logged (JBoss Logging's printf style through its log manager, or plain JUL). */
    private static String formatted(LogRecord record) {
        return record instanceof org.jboss.logmanager.ExtLogRecord ext ? ext.getFormattedMessage()
                : new java.util.logging.SimpleFormatter().formatMessage(record);
    }
}
