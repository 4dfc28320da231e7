package dev.edgeplane.controlplane.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Bad remote-write settings stop the start with every problem named by its property; remote-write off checks nothing. */
class RemoteWriteConfigTest {
    private record Settings(Optional<String> url, int queueCapacity, int maxSamplesPerSend, Duration batchSendDeadline,
                            Duration timeout, Duration minBackoff, Duration maxBackoff, Optional<Path> bearerTokenFile,
                            Duration flushOnShutdown) implements RemoteWriteConfig {
        static Settings defaults(String url) {
            return new Settings(Optional.ofNullable(url), 1_000_000, 2000, Duration.ofSeconds(5), Duration.ofSeconds(30),
                    Duration.ofMillis(30), Duration.ofSeconds(5), Optional.empty(), Duration.ofSeconds(5));
        }
    }

    @Test
    void theDefaultsWithAnHttpUrlAreFine() {
        assertEquals(List.of(), RemoteWriteConfig.problems(Settings.defaults("http://prometheus:9090/api/v1/write")));
        assertEquals(List.of(), RemoteWriteConfig.problems(Settings.defaults("https://mimir.example/api/v1/push")));
    }

    @Test
    void everyBadValueIsNamedByItsProperty() {
        Settings bad = new Settings(Optional.of("prometheus:9090/api/v1/write"), 0, 1_000_000, Duration.ZERO, Duration.ofSeconds(-1),
                Duration.ofSeconds(10), Duration.ofSeconds(5), Optional.of(Path.of("/nonexistent/token")), Duration.ofSeconds(-1));
        List<String> problems = RemoteWriteConfig.problems(bad);
        for (String property : List.of("url", "queue-capacity", "max-samples-per-send", "batch-send-deadline", "timeout",
                "min-backoff", "bearer-token-file", "flush-on-shutdown")) {
            assertTrue(problems.stream().anyMatch(p -> p.startsWith("edgeplane.remote-write." + property + ":")), property + " in " + problems);
        }
        assertEquals(8, problems.size(), problems.toString());
        assertTrue(RemoteWriteConfig.problems(Settings.defaults("http://[::1")).get(0).startsWith("edgeplane.remote-write.url: not a URI"));
        assertTrue(RemoteWriteConfig.problems(Settings.defaults("file:///etc/passwd")).get(0).contains("http:// or https://"));
    }

    @Test
    void theWriterRefusesToStartMisconfiguredButIgnoresSettingsWhenOff() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new RemoteWriter(
                new Settings(Optional.of("http://tsdb/write"), -5, 2000, Duration.ofSeconds(5), Duration.ofSeconds(30),
                        Duration.ofMillis(30), Duration.ofSeconds(5), Optional.empty(), Duration.ofSeconds(5)), new SimpleMeterRegistry()));
        assertTrue(e.getMessage().contains("edgeplane.remote-write.queue-capacity: must be 1 to 100000000 samples; got -5"), e.getMessage());
        RemoteWriter off = new RemoteWriter(new Settings(Optional.empty(), -5, 0, Duration.ZERO, Duration.ZERO, Duration.ZERO,
                Duration.ZERO, Optional.empty(), Duration.ZERO), new SimpleMeterRegistry());
        assertTrue(!off.enabled());
    }
}
