package dev.edgeplane.agent.cli;

import dev.edgeplane.agent.identity.StateDir;
import dev.edgeplane.agent.host.NodeConditions;
import dev.edgeplane.agent.images.ImageGc;
import dev.edgeplane.agent.metrics.MetricsSettings;
import dev.edgeplane.agent.pods.ReconcilerSettings;
import dev.edgeplane.agent.run.Agent;
import dev.edgeplane.agent.volumes.VolumeSettings;
import dev.edgeplane.tunnel.policy.Allowlist;
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

    @Option(names = "--heartbeat", defaultValue = "60s", converter = DurationConverter.class,
            description = "Longest gap between two heartbeats (live replica counts; a change is sent within 10 s) "
                    + "(default: ${DEFAULT-VALUE}).")
    Duration heartbeat;

    @Option(names = "--certificate-check-period", defaultValue = "1m", converter = DurationConverter.class,
            description = "How often the node certificate is checked; it is renewed at a random point between 70% and 90% "
                    + "of its lifetime (default: ${DEFAULT-VALUE}).")
    Duration certificateCheckPeriod;

    @Option(names = "--backoff-initial", defaultValue = "10s", converter = DurationConverter.class,
            description = "First crash-loop back-off (default: ${DEFAULT-VALUE}).")
    Duration backoffInitial;

    @Option(names = "--backoff-max", defaultValue = "5m", converter = DurationConverter.class,
            description = "Crash-loop back-off cap (default: ${DEFAULT-VALUE}).")
    Duration backoffMax;

    @Option(names = "--backoff-reset", defaultValue = "10m", converter = DurationConverter.class,
            description = "Running this long resets a container's back-off (default: ${DEFAULT-VALUE}).")
    Duration backoffReset;

    @Option(names = "--probe-threads", defaultValue = "" + ReconcilerSettings.DEFAULT_PROBE_THREADS,
            description = "Container probes checked at once; each takes at most its timeout (default: ${DEFAULT-VALUE}).")
    int probeThreads;

    @Option(names = "--allow-privileged", defaultValue = "false", arity = "1",
            description = "Run containers that ask to be privileged; the control plane cannot widen this (default: ${DEFAULT-VALUE}).")
    boolean allowPrivileged;

    @Option(names = "--allow-host-paths", split = ",", paramLabel = "PATH",
            description = "Absolute paths under which hostPath volumes may be, comma-separated (default: none; a hostPath of / "
                    + "would be root on this host); the control plane cannot widen this.")
    java.util.List<java.nio.file.Path> allowHostPaths = new java.util.ArrayList<>();

    @Option(names = "--container-log-max-size", defaultValue = "10485760",
            description = "Rotate a container's log file past this many bytes (default: ${DEFAULT-VALUE}, 10 MiB).")
    long containerLogMaxSize;

    @Option(names = "--container-log-max-files", defaultValue = "5",
            description = "Log files kept per container, the live one included (default: ${DEFAULT-VALUE}).")
    int containerLogMaxFiles;

    @Option(names = "--eviction-memory-available", defaultValue = "104857600",
            description = "Below this many bytes of available memory the node reports MemoryPressure and takes no new replicas; 0: never (default: ${DEFAULT-VALUE}, 100 MiB).")
    long evictionMemoryAvailable;

    @Option(names = "--eviction-disk-free-percent", defaultValue = "10",
            description = "Below this share of free disk the node reports DiskPressure and takes no new replicas; 0: never (default: ${DEFAULT-VALUE}).")
    int evictionDiskFreePercent;

    @Option(names = "--image-gc-high-threshold", defaultValue = "85",
            description = "Disk use (percent) at which unused images are removed, least recently used first (default: ${DEFAULT-VALUE}).")
    int imageGcHigh;

    @Option(names = "--image-gc-low-threshold", defaultValue = "80",
            description = "Disk use (percent) image garbage collection frees down to (default: ${DEFAULT-VALUE}).")
    int imageGcLow;

    @Option(names = "--prefetch-pulls", defaultValue = "2",
            description = "At most this many image prefetch entries (ImagePrefetch) pull at once; pods' own pulls are not limited by it (default: ${DEFAULT-VALUE}).")
    int prefetchPulls;

    @Option(names = "--eviction-disk-path", description = "A path on the container runtime's disk (default: /var/lib/containerd, else /).")
    Path evictionDiskPath;

    // The ops tunnel's local allowlist: the control plane's grants can narrow it, never widen it.
    @Option(names = "--tunnel-ports", defaultValue = "", description = "Host TCP ports (loopback) port-forward may reach, e.g. 8080,9100 (default: none).")
    String tunnelPorts;

    @Option(names = "--tunnel-pod-ports", defaultValue = "*", description = "Replica ports port-forward may reach, among those the replica declares: * or a list (default: ${DEFAULT-VALUE}).")
    String tunnelPodPorts;

    @Option(names = "--tunnel-http-ports", defaultValue = "", description = "Host ports the HTTP proxy may call, e.g. 9100 (default: none).")
    String tunnelHttpPorts;

    @Option(names = "--tunnel-exec", defaultValue = "false", arity = "1", description = "Allow exec into containers (default: ${DEFAULT-VALUE}).")
    boolean tunnelExec;

    @Option(names = "--tunnel-ssh", defaultValue = "false", arity = "1", description = "Allow shell sessions to the host's sshd (default: ${DEFAULT-VALUE}).")
    boolean tunnelSsh;

    @Option(names = "--tunnel-ssh-port", defaultValue = "22", description = "Where the host's sshd listens on loopback (default: ${DEFAULT-VALUE}).")
    int tunnelSshPort;

    @Option(names = "--tunnel-logs", defaultValue = "true", arity = "1", description = "Allow reading container logs (default: ${DEFAULT-VALUE}).")
    boolean tunnelLogs;

    @Option(names = "--tunnel-max-sessions", defaultValue = "64", description = "Ops sessions served at once (default: ${DEFAULT-VALUE}).")
    int tunnelMaxSessions;

    @Option(names = "--audit-log", description = "Append one line per ops session here (besides the log).")
    Path auditLog;

    @Option(names = "--volumes-dir", description = "Pod volumes: emptyDirs, CSI staging and publish targets (default: STATE_DIR/volumes).")
    Path volumesDir;

    @Option(names = "--csi-socket", description = "Use the CSI driver on this unix socket instead of hosting one in process.")
    Path csiSocket;

    @Option(names = "--csi-state-dir", description = "State dir of the in-process CSI driver; its loopfs files live there (default: STATE_DIR/csi).")
    Path csiStateDir;

    @Option(names = "--csi-btrfs-pool", description = "A directory on btrfs for the in-process driver's btrfs backend (default: off).")
    Path csiBtrfsPool;

    @Option(names = "--volumes", defaultValue = "true", arity = "1", description = "Serve named volumes through CSI (default: ${DEFAULT-VALUE}).")
    boolean volumesEnabled;

    @Option(names = "--event-buffer", defaultValue = "256",
            description = "Event records kept on disk while the control plane cannot take them; the oldest are dropped (and counted) beyond it (default: ${DEFAULT-VALUE}).")
    int eventBuffer;

    @Option(names = "--metrics", defaultValue = "true", arity = "1", description = "Sample and report metrics (default: ${DEFAULT-VALUE}).")
    boolean metricsEnabled;

    @Option(names = "--metrics-interval", defaultValue = "10s", converter = DurationConverter.class,
            description = "One metrics sample this often (default: ${DEFAULT-VALUE}).")
    Duration metricsInterval;

    @Option(names = "--metrics-flush", defaultValue = "60s", converter = DurationConverter.class,
            description = "Samples go to the control plane as one batch this often (default: ${DEFAULT-VALUE}).")
    Duration metricsFlush;

    @Option(names = "--metrics-ring-retention", defaultValue = "24h", converter = DurationConverter.class,
            description = "History kept on disk while offline (default: ${DEFAULT-VALUE}).")
    Duration metricsRingRetention;

    @Option(names = "--metrics-ring-resolution", defaultValue = "1m", converter = DurationConverter.class,
            description = "Offline samples are merged to this resolution: gauges averaged, counters last (default: ${DEFAULT-VALUE}).")
    Duration metricsRingResolution;

    @Option(names = "--metrics-ring-bytes", defaultValue = "16777216",
            description = "Bound of the offline ring on disk; the oldest samples are dropped (and counted) beyond it (default: ${DEFAULT-VALUE}).")
    long metricsRingBytes;

    @Option(names = "--metrics-gzip", defaultValue = "true", arity = "1",
            description = "Compress the metrics stream (default: ${DEFAULT-VALUE}).")
    boolean metricsGzip;

    @Option(names = "--metrics-precision-bits", defaultValue = "12",
            description = "Significant bits of a gauge sent (the control plane's edgeplane.metrics.precision-bits keeps 12 by default; "
                    + "53 = lossless; 0 = every value as a double, as agents before coded values) (default: ${DEFAULT-VALUE}).")
    int metricsPrecisionBits;

    @Option(names = "--metrics-dir", description = "The offline metrics ring and batch sequence (default: STATE_DIR/metrics).")
    Path metricsDir;

    private VolumeSettings volumeSettings() {
        VolumeSettings defaults = VolumeSettings.defaults(stateDir);
        return new VolumeSettings(volumesDir != null ? volumesDir : defaults.volumesDir(), Optional.ofNullable(csiSocket),
                csiStateDir != null ? csiStateDir : defaults.csiStateDir(), Optional.ofNullable(csiBtrfsPool), volumesEnabled);
    }

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    private java.util.List<java.nio.file.Path> hostPaths() {
        for (java.nio.file.Path path : allowHostPaths) {
            if (!path.isAbsolute()) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--allow-host-paths: " + path + " is not an absolute path");
            }
        }
        return allowHostPaths;
    }

    @Override
    public Integer call() throws Exception {
        ReconcilerSettings reconciler = new ReconcilerSettings("", logDir, syncPeriod, backoffInitial, backoffMax, backoffReset, 4,
                Math.max(1, probeThreads), new dev.edgeplane.agent.pods.HostPolicy(allowPrivileged, hostPaths()),
                Math.max(4096, containerLogMaxSize), Math.max(2, containerLogMaxFiles));
        boolean anyPodPort = tunnelPodPorts.trim().equals("*");
        Allowlist allowlist = new Allowlist(Allowlist.ports(tunnelPorts), anyPodPort ? java.util.Set.of() : Allowlist.ports(tunnelPodPorts),
                anyPodPort, Allowlist.ports(tunnelHttpPorts), tunnelExec, tunnelSsh, tunnelSshPort, tunnelLogs);
        Agent agent = Agent.start(new Agent.Settings(stateDir, criEndpoint, logDir, reconciler, heartbeat,
                Optional.ofNullable(syncEndpoint), new NodeConditions.Thresholds(Math.max(0, evictionMemoryAvailable),
                        Math.max(0, Math.min(100, evictionDiskFreePercent)),
                        evictionDiskPath != null ? evictionDiskPath : NodeConditions.Thresholds.defaultDiskPath()),
                new ImageGc.Settings(Math.max(0, Math.min(100, imageGcHigh)), Math.max(0, Math.min(imageGcHigh, imageGcLow)),
                        java.time.Duration.ofMinutes(2), evictionDiskPath != null ? evictionDiskPath : NodeConditions.Thresholds.defaultDiskPath()),
                dev.edgeplane.agent.identity.CertificateRotation.Settings.defaults().withCheckEvery(certificateCheckPeriod),
                Math.max(1, prefetchPulls)),
                new Agent.TunnelSettings(allowlist, tunnelMaxSessions, Optional.ofNullable(auditLog)),
                volumeSettings(), new dev.edgeplane.agent.events.EventSettings(stateDir.resolve("events"), eventBuffer,
                        java.time.Duration.ofSeconds(1)),
                new MetricsSettings(metricsEnabled, metricsInterval, metricsFlush, metricsDir != null ? metricsDir : stateDir.resolve("metrics"),
                        metricsRingRetention, metricsRingResolution, metricsRingBytes, metricsGzip, metricsPrecisionBits));
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
