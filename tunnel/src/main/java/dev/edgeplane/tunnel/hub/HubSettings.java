package dev.edgeplane.tunnel.hub;

import java.time.Duration;

/**
 * Limits of the cloud side.
 *
 * @param dialTimeout        how long an agent has to open the Tunnel stream of a session
 * @param idleTimeout        a session with no bytes either way for this long is closed
 * @param maxSessionsPerNode sessions open at once to one node
 * @param grantLifetime      how long a grant stays valid for the agent to open its session
 */
public record HubSettings(Duration dialTimeout, Duration idleTimeout, int maxSessionsPerNode, Duration grantLifetime) {
    public static HubSettings defaults() {
        return new HubSettings(Duration.ofSeconds(10), Duration.ofMinutes(30), 64, Duration.ofSeconds(60));
    }

    public HubSettings withIdleTimeout(Duration idle) {
        return new HubSettings(dialTimeout, idle, maxSessionsPerNode, grantLifetime);
    }

    public HubSettings withDialTimeout(Duration dial) {
        return new HubSettings(dial, idleTimeout, maxSessionsPerNode, grantLifetime);
    }
}
