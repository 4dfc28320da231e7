package dev.edgeplane.fleet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.metrics.MetricsSettings;
import dev.edgeplane.agent.run.Agent;
import dev.edgeplane.agent.sync.ReconnectBackoff;
import dev.edgeplane.agent.sync.SyncClient;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The simulated agents load the control plane as real agents do only while they keep the agent's timings. */
class AgentTimingsTest {
    @Test
    void simulatedAgentsKeepTheRealAgentsSyncAndMetricsDefaults() {
        SyncClient.Settings sync = SyncClient.Settings.defaults("127.0.0.1:7443");
        MetricsSettings metrics = MetricsSettings.defaults(Path.of("/tmp/unused"));
        AgentTimings sim = AgentTimings.AGENT;
        assertEquals(sync.heartbeat(), sim.heartbeat(), "heartbeat period");
        assertEquals(sync.keepAlive(), sim.keepAlive(), "keepalive ping period");
        assertEquals(sync.retryBase(), sim.retryBase(), "reconnect back-off base");
        assertEquals(sync.retryCap(), sim.retryCap(), "reconnect back-off cap");
        assertEquals(metrics.interval(), sim.metricsInterval(), "metrics sample interval");
        assertEquals(metrics.flush(), sim.metricsFlush(), "metrics flush period");
        assertEquals(metrics.gzip(), sim.metricsGzip(), "metrics gzip");
        assertEquals(Agent.TLS_SESSION_LIFETIME, sim.tlsSessionLifetime(), "TLS session lifetime (resumption after a restart)");
    }

    @Test
    void reconnectDelaysHaveTheAgentsFullJitterBounds() {
        ReconnectBackoff agent = new ReconnectBackoff(AgentTimings.AGENT.retryBase(), AgentTimings.AGENT.retryCap(), new Random(1));
        for (int attempt = 0; attempt < 12; attempt++) {
            long ceiling = Math.min(30_000, AgentTimings.AGENT.retryBase().toMillis() << attempt);
            long sim = AgentTimings.AGENT.retryDelayMillis(attempt, new Random(attempt));
            long real = agent.next().toMillis();
            assertTrue(sim >= 0 && sim <= ceiling, "attempt " + attempt + ": " + sim + " ms outside [0, " + ceiling + "]");
            assertTrue(real >= 0 && real <= ceiling, "the agent's own attempt " + attempt + ": " + real + " ms outside [0, " + ceiling + "]");
        }
    }
}
