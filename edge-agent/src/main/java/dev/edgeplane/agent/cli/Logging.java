package dev.edgeplane.agent.cli;

import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

/** One line per log record, unless the user configured java.util.logging themselves. */
final class Logging {
    // JUL holds loggers weakly: keep the ones whose level we set. grpc-netty logs an INFO line about
    // epoll on every start, which is noise on a command line whose stderr should say one clear thing.
    private static final List<Logger> QUIETED = List.of(Logger.getLogger("io.grpc.netty.TcpMetrics"));

    private Logging() {}

    static void configure() {
        if (System.getProperty("java.util.logging.config.file") == null
                && System.getProperty("java.util.logging.SimpleFormatter.format") == null) {
            System.setProperty("java.util.logging.SimpleFormatter.format", "%1$tFT%1$tT.%1$tLZ %4$-7s %3$s: %5$s%6$s%n");
        }
        QUIETED.forEach(logger -> logger.setLevel(Level.WARNING));
    }
}
