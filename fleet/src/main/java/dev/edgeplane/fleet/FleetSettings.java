package dev.edgeplane.fleet;

import java.time.Duration;
import java.util.Optional;

/**
 * One simulator JVM's agents and how they behave.
 *
 * @param joinAddress     host:port of the control plane's agent endpoint (Join; Sync goes where Join says)
 * @param token           a join token with enough uses for every agent
 * @param agents          agents in this JVM
 * @param offset          the first agent's number: agents are named prefix-(offset+i), so JVMs do not collide
 * @param prefix          name prefix
 * @param sourceAddress   local address to dial from (127.0.0.2, ...): each source address has its own
 *                        ephemeral ports, so many JVMs of agents do not run out of them
 * @param joinConcurrency Join RPCs in flight at once (each on its own TLS connection, as separate hosts)
 * @param metrics         report metrics from the start (also switchable at run time)
 * @param metricsHistory  when metrics start, first upload this much past (simulated time) at 10 s resolution
 * @param events          send a few events on ReportEvents (agent start, replica started)
 * @param eventLoops      threads of the one epoll event loop group all agents share
 * @param timings         the agent's periods and back-off
 */
public record FleetSettings(String joinAddress, String token, int agents, int offset, String prefix,
                            Optional<String> sourceAddress, int joinConcurrency, boolean metrics, Duration metricsHistory,
                            boolean events, int eventLoops, AgentTimings timings) {
    public FleetSettings {
        if (agents < 1) {
            throw new IllegalArgumentException("--agents must be at least 1");
        }
        if (offset < 0) {
            throw new IllegalArgumentException("--offset must not be negative");
        }
        if (!prefix.matches("[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?")) {
            throw new IllegalArgumentException("--prefix must be a short DNS label, not " + prefix);
        }
        if (joinConcurrency < 1 || eventLoops < 1) {
            throw new IllegalArgumentException("--join-concurrency and --event-loops must be at least 1");
        }
    }

    public String nameOf(int i) {
        return prefix + "-" + (offset + i);
    }
}
