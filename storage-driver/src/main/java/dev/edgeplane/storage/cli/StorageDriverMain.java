package dev.edgeplane.storage.cli;

import dev.edgeplane.storage.StepHook;
import dev.edgeplane.storage.StorageDriver;
import dev.edgeplane.storage.StorageDriverConfig;
import dev.edgeplane.storage.StorageDriverServer;
import dev.edgeplane.storage.metadata.BackendKind;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.logging.Logger;

/** {@code java -jar storage-driver.jar --endpoint unix:///run/edgeplane/csi.sock ...}; every flag also from env. */
@Command(name = "edgeplane-storage-driver", mixinStandardHelpOptions = true, version = "0.1.0",
        description = "Edgeplane CSI v1 plugin: loop-device (ext4/xfs) and btrfs volumes with snapshots.")
public final class StorageDriverMain implements Callable<Integer> {
    private static final Logger LOG = Logger.getLogger(StorageDriverMain.class.getName());

    @Option(names = "--endpoint", defaultValue = "${env:EDGEPLANE_CSI_ENDPOINT:-unix:///run/edgeplane/csi.sock}",
            description = "CSI socket (env EDGEPLANE_CSI_ENDPOINT; also honours CSI_ENDPOINT). Default: ${DEFAULT-VALUE}")
    String endpoint;

    @Option(names = "--state-dir", defaultValue = "${env:EDGEPLANE_CSI_STATE_DIR:-/var/lib/edgeplane-csi}",
            description = "Metadata directory (env EDGEPLANE_CSI_STATE_DIR). Default: ${DEFAULT-VALUE}")
    Path stateDir;

    @Option(names = "--node-id", defaultValue = "${env:EDGEPLANE_CSI_NODE_ID}",
            description = "Node ID reported to the CO (env EDGEPLANE_CSI_NODE_ID). Default: the host name")
    String nodeId;

    @Option(names = "--driver-name", defaultValue = "${env:EDGEPLANE_CSI_DRIVER_NAME:-csi.edgeplane.dev}",
            description = "CSI plugin name (env EDGEPLANE_CSI_DRIVER_NAME). Default: ${DEFAULT-VALUE}")
    String driverName;

    @Option(names = "--loopfs-dir", defaultValue = "${env:EDGEPLANE_CSI_LOOPFS_DIR}",
            description = "Where loopfs volume files live (env EDGEPLANE_CSI_LOOPFS_DIR). Default: <state-dir>/loopfs")
    Path loopfsDir;

    @Option(names = "--loopfs-capacity", defaultValue = "${env:EDGEPLANE_CSI_LOOPFS_CAPACITY:-0}",
            description = "loopfs pool size, e.g. 50G (env EDGEPLANE_CSI_LOOPFS_CAPACITY). 0 = host free space")
    String loopfsCapacity;

    @Option(names = "--btrfs-pool", defaultValue = "${env:EDGEPLANE_CSI_BTRFS_POOL}",
            description = "Directory on a btrfs filesystem for the btrfs backend (env EDGEPLANE_CSI_BTRFS_POOL). "
                    + "Unset: btrfs backend off")
    Path btrfsPool;

    @Option(names = "--default-backend", defaultValue = "${env:EDGEPLANE_CSI_DEFAULT_BACKEND:-loopfs}",
            description = "Backend when a storage class names none: loopfs or btrfs (env EDGEPLANE_CSI_DEFAULT_BACKEND)")
    String defaultBackend;

    public static void main(String[] args) {
        // grpc-netty asks for SO_KEEPALIVE on every accepted connection, which unix sockets lack:
        // Netty would log a warning per CSI call.
        Logger.getLogger("io.netty.bootstrap").setLevel(java.util.logging.Level.SEVERE);
        System.exit(new CommandLine(new StorageDriverMain()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        if (System.getenv("CSI_ENDPOINT") != null && System.getenv("EDGEPLANE_CSI_ENDPOINT") == null
                && endpoint.equals("unix:///run/edgeplane/csi.sock")) {
            endpoint = System.getenv("CSI_ENDPOINT"); // the name Kubernetes CSI deployments use
        }
        BackendKind backend = BackendKind.fromParameter(defaultBackend.toLowerCase(Locale.ROOT)).orElseThrow(
                () -> new CommandLine.ParameterException(new CommandLine(this), "unknown backend " + defaultBackend));
        StorageDriverConfig config = new StorageDriverConfig(driverName,
                nodeId == null || nodeId.isBlank() ? InetAddress.getLocalHost().getHostName() : nodeId,
                stateDir, loopfsDir, parseBytes(loopfsCapacity), btrfsPool, backend, pauseHookFromEnv());
        StorageDriver driver = StorageDriver.open(config);
        StorageDriverServer server = StorageDriverServer.start(driver, StorageDriverServer.socketPath(endpoint));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            driver.close();
        }, "csi-shutdown"));
        server.awaitTermination();
        return 0;
    }

    /** "512M", "10G", "1T" or plain bytes. */
    static long parseBytes(String s) {
        String v = s.strip().toUpperCase(Locale.ROOT);
        if (v.endsWith("B")) {
            v = v.substring(0, v.length() - 1);
        }
        long unit = 1;
        if (!v.isEmpty() && "KMGT".indexOf(v.charAt(v.length() - 1)) >= 0) {
            unit = 1L << (10 * ("KMGT".indexOf(v.charAt(v.length() - 1)) + 1));
            v = v.substring(0, v.length() - 1);
        }
        return Long.parseLong(v) * unit;
    }

    /**
     * Fault injection for crash tests only: with EDGEPLANE_CSI_PAUSE_AT=<step> the driver writes
     * EDGEPLANE_CSI_PAUSE_FILE when it reaches that step and then stalls there, so a test can kill -9
     * it at that exact point.
     */
    static StepHook pauseHookFromEnv() {
        String step = System.getenv("EDGEPLANE_CSI_PAUSE_AT");
        String file = System.getenv("EDGEPLANE_CSI_PAUSE_FILE");
        if (step == null || step.isBlank() || file == null) {
            return StepHook.NONE;
        }
        LOG.warning("test fault injection on: the driver stalls at step " + step);
        return (reached, id) -> {
            if (!reached.equals(step)) {
                return;
            }
            try {
                Files.writeString(Path.of(file), reached + " " + id + "\n");
                while (true) {
                    Thread.sleep(60_000);
                }
            } catch (IOException e) {
                throw new IllegalStateException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
    }
}
