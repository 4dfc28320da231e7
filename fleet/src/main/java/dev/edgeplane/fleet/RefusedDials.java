package dev.edgeplane.fleet;

import java.net.ConnectException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Whether an endpoint refused a dial a moment ago, shared by the simulated agents of one JVM. While
 * nothing listens there (a control plane killed and not restarted yet), every agent's dial ends in the
 * kernel's RST: the control plane process never sees it, but each one costs the simulator a gRPC
 * transport, a Netty channel and an exception (~1.3 of the two cores at 10,000 agents, taken from the
 * restarting control plane). An agent whose dial comes within {@link #WINDOW_NANOS} of a refusal by
 * the same endpoint counts that refusal as its own and backs off as a refused dial would: the control
 * plane's input is the same, and the only error is against the bench (a dial skipped in the first
 * moment the port listens again waits for the agent's next attempt).
 */
final class RefusedDials {
    static final long WINDOW_NANOS = 20_000_000L;

    private final LongSupplier nanoTime;
    /** endpoint (host:port) -> when it last refused; as many entries as endpoints the agents dial. */
    private final Map<String, Long> lastRefused = new ConcurrentHashMap<>();

    RefusedDials(LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
    }

    /** Records {@code error} if it is a refused TCP connect to {@code endpoint} (nothing listening). */
    void observe(String endpoint, Throwable error) {
        for (Throwable t = error; t != null; t = t.getCause()) {
            if (t instanceof ConnectException && t.getMessage() != null && t.getMessage().contains("Connection refused")) {
                lastRefused.put(endpoint, nanoTime.getAsLong());
                return;
            }
        }
    }

    /** True while the endpoint's last refusal is younger than the window: a dial now would be refused too. */
    boolean wouldRefuse(String endpoint) {
        Long at = lastRefused.get(endpoint);
        return at != null && nanoTime.getAsLong() - at < WINDOW_NANOS;
    }
}
