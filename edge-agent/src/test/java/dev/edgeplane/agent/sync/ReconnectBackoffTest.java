package dev.edgeplane.agent.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;

/** Pure: the reconnect back-off and the honouring of a server's RetryInfo, with a fixed "random". */
class ReconnectBackoffTest {
    /** Always the largest value under the bound: shows each window's upper edge. */
    private static final RandomGenerator HIGHEST = new RandomGenerator() {
        @Override
        public long nextLong() {
            return Long.MAX_VALUE;
        }

        @Override
        public long nextLong(long bound) {
            return bound - 1;
        }
    };

    private static final RandomGenerator LOWEST = new RandomGenerator() {
        @Override
        public long nextLong() {
            return 0;
        }

        @Override
        public long nextLong(long bound) {
            return 0;
        }
    };

    @Test
    void windowsDoubleFromTheBaseUpToTheCap() {
        ReconnectBackoff backoff = new ReconnectBackoff(Duration.ofSeconds(2), Duration.ofSeconds(30), HIGHEST);
        List<Long> windows = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            windows.add(backoff.next().toMillis());
        }
        assertEquals(List.of(2_000L, 4_000L, 8_000L, 16_000L, 30_000L, 30_000L, 30_000L), windows);
    }

    @Test
    void fullJitterMayRetryAtOnce() {
        ReconnectBackoff backoff = new ReconnectBackoff(Duration.ofSeconds(2), Duration.ofSeconds(30), LOWEST);
        assertEquals(Duration.ZERO, backoff.next());
        assertEquals(Duration.ZERO, backoff.next());
    }

    @Test
    void resetStartsOverFromTheFirstWindow() {
        ReconnectBackoff backoff = new ReconnectBackoff(Duration.ofSeconds(2), Duration.ofSeconds(30), HIGHEST);
        for (int i = 0; i < 10; i++) {
            backoff.next();
        }
        backoff.reset();
        assertEquals(Duration.ofSeconds(2), backoff.next());
    }

    @Test
    void theAgentDefaultsSpreadTheFirstAttemptOverTwoSecondsAndCapAtFifteen() {
        SyncClient.Settings defaults = SyncClient.Settings.defaults("cp:7443");
        assertEquals(Duration.ofSeconds(2), defaults.retryBase());
        assertEquals(Duration.ofSeconds(15), defaults.retryCap());
    }

    @Test
    void aServersRetryDelayIsKeptWithAtMostTenPercentOrOneSecondMore() {
        assertEquals(Duration.ofMillis(500), SyncClient.honour(Duration.ofMillis(500), LOWEST));
        assertEquals(Duration.ofMillis(550), SyncClient.honour(Duration.ofMillis(500), HIGHEST));
        assertEquals(Duration.ofMillis(41_000), SyncClient.honour(Duration.ofSeconds(40), HIGHEST), "1 s at most on a long delay");
    }
}
