package dev.edgeplane.agent.cli;

import dev.edgeplane.agent.identity.StateDir;
import dev.edgeplane.agent.pods.ReconcilerSettings;
import dev.edgeplane.agent.run.Agent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Logger;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "run", mixinStandardHelpOptions = true,
        description = "Run the agent until SIGTERM: start workloads from the local journal first, then sync with the "
                + "control plane. Containers keep running when the agent stops.")
final class RunCommand implements Callable<Integer> {
    private static final Logger LOG = Logger.getLogger(RunCommand.class.getName());

    @Option(names = "--state-dir", defaultValue = StateDir.DEFAULT, description = "Identity and journal (default: ${DEFAULT-VALUE}).")
    Path stateDir;

    @Option(names = "--cri-endpoint", defaultValue = "unix:///run/containerd/containerd.sock",
            description = "The CRI runtime's socket (default: ${DEFAULT-VALUE}).")
    String criEndpoint;

    @Option(names = "--log-dir", defaultValue = "/var/log/edge-agent/pods", description = "Container logs (default: ${DEFAULT-VALUE}).")
    Path logDir;

    @Option(names = "--sync-endpoint", description = "Override the sync endpoint recorded at join (HOST:PORT).")
    String syncEndpoint;

    @Option(names = "--sync-period", defaultValue = "3s", converter = DurationConverter.class,
            description = "The reconciler runs at least this often (default: ${DEFAULT-VALUE}).")
    Duration syncPeriod;

    @Option(names = "--heartbeat", defaultValue = "10s", converter = DurationConverter.class,
            description = "Heartbeat period (default: ${DEFAULT-VALUE}).")
    Duration heartbeat;

    @Option(names = "--backoff-initial", defaultValue = "10s", converter = DurationConverter.class,
            description = "First crash-loop back-off (default: ${DEFAULT-VALUE}).")
    Duration backoffInitial;

    @Option(names = "--backoff-max", defaultValue = "5m", converter = DurationConverter.class,
            description = "Crash-loop back-off cap (default: ${DEFAULT-VALUE}).")
    Duration backoffMax;

    @Option(names = "--backoff-reset", defaultValue = "10m", converter = DurationConverter.class,
            description = "Running this long resets a container's back-off (default: ${DEFAULT-VALUE}).")
    Duration backoffReset;

    @Override
    public Integer call() throws Exception {
        ReconcilerSettings reconciler = new ReconcilerSettings("", logDir, syncPeriod, backoffInitial, backoffMax, backoffReset, 4);
        Agent agent = Agent.start(new Agent.Settings(stateDir, criEndpoint, logDir, reconciler, heartbeat,
                Optional.ofNullable(syncEndpoint)));
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            LOG.info("stopping (signal)");
            agent.close();
            // JUL's own shutdown hook may already have closed the log handlers: say it directly.
            System.err.println(java.time.Instant.now() + " INFO    edge-agent stopped; containers keep running");
            System.err.flush();
            stopped.countDown();
        }, "shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        stopped.await();
        return 0;
    }
}
