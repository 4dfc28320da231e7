package dev.edgeplane.storage;

import dev.edgeplane.storage.backend.Backend;
import dev.edgeplane.storage.backend.BtrfsBackend;
import dev.edgeplane.storage.backend.LoopDevices;
import dev.edgeplane.storage.backend.LoopfsBackend;
import dev.edgeplane.storage.csi.ControllerService;
import dev.edgeplane.storage.csi.DriverState;
import dev.edgeplane.storage.csi.IdentityService;
import dev.edgeplane.storage.csi.NodeService;
import dev.edgeplane.storage.csi.Reconciler;
import dev.edgeplane.storage.host.Commands;
import dev.edgeplane.storage.metadata.BackendKind;
import dev.edgeplane.storage.metadata.MetadataStore;
import dev.edgeplane.storage.mount.MountTable;
import dev.edgeplane.storage.mount.Mounter;
import io.grpc.BindableService;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;

/**
 * The driver as a library: builds the three CSI services from a config, after reconciling the
 * host with the saved metadata. The agent can add {@link #services()} to its own gRPC server
 * (or an in-process one); {@link StorageDriverServer} serves them on a unix socket. One instance
 * per state dir at a time: {@link #open} holds an exclusive lock on it until {@link #close}.
 */
public final class StorageDriver implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(StorageDriver.class.getName());
    private final StorageDriverConfig config;
    private final IdentityService identity;
    private final ControllerService controller;
    private final NodeService node;
    private final StateDirLock lock;

    private StorageDriver(StorageDriverConfig config, DriverState state, StateDirLock lock) {
        this.config = config;
        this.lock = lock;
        this.identity = new IdentityService(state);
        this.controller = new ControllerService(state);
        this.node = new NodeService(state);
    }

    /** Prepares the state dir and backends, reconciles, and returns a driver ready to serve. */
    public static StorageDriver open(StorageDriverConfig config) {
        StateDirLock lock = StateDirLock.acquire(config.stateDir());
        try {
            return open(config, lock);
        } catch (RuntimeException e) {
            lock.close();
            throw e;
        }
    }

    private static StorageDriver open(StorageDriverConfig config, StateDirLock lock) {
        Commands commands = new Commands();
        Mounter mounter = new Mounter(commands, new MountTable());
        MetadataStore store = new MetadataStore(config.stateDir());
        Map<BackendKind, Backend> backends = new EnumMap<>(BackendKind.class);
        backends.put(BackendKind.LOOPFS, new LoopfsBackend(config.loopfsDir(), config.loopfsCapacityBytes(), commands,
                new LoopDevices(commands), mounter, config.hook()));
        if (config.btrfsPool() != null) {
            backends.put(BackendKind.BTRFS, new BtrfsBackend(config.btrfsPool(), commands, mounter));
        }
        DriverState state = new DriverState(config, store, backends, mounter);
        long started = System.nanoTime();
        new Reconciler(state).run();
        LOG.info(() -> String.format("storage driver %s on node %s: state %s, backends %s, reconciled in %d ms",
                config.driverName(), config.nodeId(), config.stateDir(), backends.keySet(),
                (System.nanoTime() - started) / 1_000_000));
        return new StorageDriver(config, state, lock);
    }

    /** Releases the state dir for another instance; volumes stay attached and mounted. */
    @Override
    public void close() {
        lock.close();
    }

    public StorageDriverConfig config() {
        return config;
    }

    public IdentityService identity() {
        return identity;
    }

    public ControllerService controller() {
        return controller;
    }

    public NodeService node() {
        return node;
    }

    public List<BindableService> services() {
        return List.of(identity, controller, node);
    }
}
