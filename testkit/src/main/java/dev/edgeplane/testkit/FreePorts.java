package dev.edgeplane.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;

/** Free TCP ports on loopback, for components a test starts. */
public final class FreePorts {
    private FreePorts() {}

    /** A port that was free a moment ago (the OS picks it; there is a small race until it is bound). */
    public static int next() {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            socket.setReuseAddress(true);
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("no free port on loopback", e);
        }
    }

    /**
     * A free port below the kernel's ephemeral range (ip_local_port_range), for a server that must be
     * able to bind its port again while thousands of clients hold outgoing connections: a port picked
     * by {@link #next()} is in that range, and a reconnect storm can take it as a source port while the
     * server restarts (seen: a control plane restarted under 10,000 reconnecting agents could not bind).
     * Ports picked a moment ago but not bound yet are free too: pass them as {@code notThese} (seen: a
     * control plane's API and agent ports drawn the same, and the second bind failed).
     */
    public static int belowEphemeralRange(int... notThese) {
        int low = 32768;
        try {
            // Line by line: Files.readString trusts the size procfs reports and reads one byte of it.
            String range = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/sys/net/ipv4/ip_local_port_range")).get(0).trim();
            low = Math.max(2048, Integer.parseInt(range.split("\\s+")[0]));
        } catch (IOException | RuntimeException e) {
            // not Linux or not readable: the usual default
        }
        int from = Math.max(1024, low - 12_000);
        java.util.random.RandomGenerator random = java.util.concurrent.ThreadLocalRandom.current();
        for (int attempt = 0; attempt < 200; attempt++) {
            int port = from + random.nextInt(Math.max(1, low - from));
            if (java.util.Arrays.stream(notThese).anyMatch(taken -> taken == port)) {
                continue;
            }
            try (ServerSocket socket = new ServerSocket()) {
                socket.setReuseAddress(true);
                socket.bind(new java.net.InetSocketAddress(port), 1);
                return port;
            } catch (IOException taken) {
                // try another
            }
        }
        throw new IllegalStateException("no free port in [" + from + ", " + low + ")");
    }
}
