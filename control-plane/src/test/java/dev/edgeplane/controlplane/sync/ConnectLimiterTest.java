package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ConnectLimiterTest {
    @Test
    void admitsABurstThenAsksTheRestToComeBackLater() {
        AtomicLong now = new AtomicLong();
        ConnectLimiter limiter = new ConnectLimiter(10, now::get);
        for (int i = 0; i < 10; i++) {
            assertTrue(limiter.admit().isEmpty(), "burst of one second's worth");
        }
        Duration wait = limiter.admit().orElseThrow();
        assertTrue(wait.compareTo(Duration.ofSeconds(1)) >= 0 && wait.compareTo(Duration.ofSeconds(30)) <= 0, wait.toString());
        now.addAndGet(Duration.ofMillis(500).toNanos());
        int admitted = 0;
        for (int i = 0; i < 10; i++) {
            admitted += limiter.admit().isEmpty() ? 1 : 0;
        }
        assertTrue(admitted == 5, "half a second refills half the bucket: " + admitted);
        assertTrue(new ConnectLimiter(0, now::get).admit().isEmpty(), "0 means no limit");
    }
}
