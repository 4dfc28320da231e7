package dev.edgeplane.controlplane.volumes;

import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.StorageClass;
import dev.edgeplane.api.v1.StorageClassSpec;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.Function;
import org.jboss.logging.Logger;

/**
 * The StorageClass resources (/edgeplane/storageclasses/&lt;name&gt;) as the rest of the control plane
 * looks them up: which class a Volume gets, its CSI CreateVolume parameters, whether it may grow.
 * The built-in classes are created at start when absent; after that they are ordinary resources.
 */
@ApplicationScoped
public class StorageClasses {
    private static final Logger LOG = Logger.getLogger(StorageClasses.class);
    /** The default class when no stored class is marked default_class. */
    public static final String DEFAULT = "loopfs";
    /** The driver's smallest volume (xfs needs more, which the driver itself enforces). */
    public static final long MIN_BYTES = 16L << 20;
    /** What the edge storage driver serves out of the box: loop-device files (ext4, xfs) and btrfs subvolumes. */
    public static final List<StorageClass> BUILT_IN = List.of(
            builtIn("loopfs", "loopfs", "ext4", true),
            builtIn("loopfs-xfs", "loopfs", "xfs", false),
            builtIn("btrfs", "btrfs", "", false));

    private final EtcdStore store;
    private final StateCaches caches;

    public StorageClasses(EtcdStore store, StateCaches caches) {
        this.store = store;
        this.caches = caches;
    }

    private static StorageClass builtIn(String name, String backend, String fsType, boolean isDefault) {
        return StorageClass.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name).putLabels("edgeplane.dev/built-in", "true"))
                .setSpec(StorageClassSpec.newBuilder().setBackend(backend).setFsType(fsType).setDefaultClass(isDefault)
                        .setVolumeBindingMode(StorageClassSpec.VolumeBindingMode.WAIT_FOR_FIRST_CONSUMER)
                        .setAllowVolumeExpansion(true)) // the driver grows loopfs and btrfs volumes alike
                .build();
    }

    /**
     * Creates each built-in class that is absent, Kubernetes' addon manager's EnsureExists: a create-if-absent
     * each, so replicas starting together do not clash, and an operator's changes stay.
     */
    public void ensureBuiltIns() {
        for (StorageClass c : BUILT_IN) {
            StorageClass stored = c.toBuilder().setMetadata(c.getMetadata().toBuilder().setUid(UUID.randomUUID().toString())
                    .setCreateTime(Joiner.timestamp(Instant.now())).setGeneration(1)).build();
            if (store.create(Keys.storageClass(c.getMetadata().getName()), stored.toByteArray()).isPresent()) {
                LOG.infof("created the built-in storage class \"%s\"", c.getMetadata().getName());
            }
        }
    }

    /** A built-in class by name ("": the built-in default): for pure code that has no stored classes to look at. */
    public static Optional<StorageClass> builtIn(String name) {
        String wanted = name.isEmpty() ? DEFAULT : name;
        return BUILT_IN.stream().filter(c -> c.getMetadata().getName().equals(wanted)).findFirst();
    }

    /** CSI CreateVolume parameters of a class: its backend, fs type and extra parameters. */
    public static Map<String, String> parameters(StorageClass storageClass) {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("backend", storageClass.getSpec().getBackend());
        if (!storageClass.getSpec().getFsType().isEmpty()) {
            p.put("fsType", storageClass.getSpec().getFsType());
        }
        p.putAll(storageClass.getSpec().getParametersMap());
        return p;
    }

    /** The class named, as stored now ("": the default class). Read from etcd: a class created a moment ago counts. */
    public Optional<StorageClass> read(String name) {
        String wanted = name.isEmpty() ? defaultName() : name;
        return store.get(Keys.storageClass(wanted), StorageClass.parser()).map(Entry::value);
    }

    /** The class named, as the watch has it (the scheduler's view; "": the default class). */
    public Optional<StorageClass> cached(String name) {
        Entry<StorageClass> e = caches.storageClasses().get(Keys.storageClass(name.isEmpty() ? defaultName() : name));
        return e == null ? Optional.empty() : Optional.of(e.value());
    }

    /** {@link #cached} as a function, for pure code. */
    public Function<String, Optional<StorageClass>> lookup() {
        return this::cached;
    }

    /**
     * Whether a Volume of the class may grow: UpdateVolume's check for a larger size_bytes.
     * An unknown class allows nothing.
     */
    public boolean allowsExpansion(String className) {
        return read(className).map(c -> c.getSpec().getAllowVolumeExpansion()).orElse(false);
    }

    /** The class of Volumes that name none: the newest one marked default_class (Kubernetes' rule), else "loopfs". */
    public String defaultName() {
        return defaultOf(caches.storageClasses().all().stream().map(Entry::value).toList());
    }

    static String defaultOf(List<StorageClass> classes) {
        return classes.stream().filter(c -> c.getSpec().getDefaultClass())
                .max(Comparator.comparingLong((StorageClass c) -> c.getMetadata().getCreateTime().getSeconds())
                        .thenComparingInt(c -> c.getMetadata().getCreateTime().getNanos())
                        .thenComparing(c -> c.getMetadata().getName()))
                .map(c -> c.getMetadata().getName()).orElse(DEFAULT);
    }

    /** The names of the known classes, sorted, for an error message. */
    public String names() {
        TreeSet<String> names = new TreeSet<>();
        caches.storageClasses().all().forEach(e -> names.add(e.value().getMetadata().getName()));
        return String.join(", ", names);
    }
}
