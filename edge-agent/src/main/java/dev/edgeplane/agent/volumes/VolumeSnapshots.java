package dev.edgeplane.agent.volumes;

import dev.edgeplane.agent.io.DurableFiles;
import dev.edgeplane.agent.journal.DesiredState;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.loop.PassLoop;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.VolumeSnapshotReport;
import dev.edgeplane.api.v1.VolumeSnapshotTask;
import dev.edgeplane.csi.v1.Snapshot;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * The node's volume snapshots, level-triggered like the pod reconciler: every snapshot task of the
 * desired state is taken through CSI CreateSnapshot (idempotent by name, so asking again after a
 * restart or a failure is safe) and reported; a snapshot this agent took whose task is gone from a
 * complete desired state is deleted through CSI DeleteSnapshot. {@code <volumes-dir>/snapshots.properties}
 * records what it took (CSI name = snapshot id, namespace/name), so deletions survive restarts.
 */
public final class VolumeSnapshots implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(VolumeSnapshots.class.getName());

    private final PodVolumes volumes;
    private final DesiredStateStore desired;
    private final Consumer<VolumeSnapshotReport> reports;
    private final BiConsumer<String, String> forget;
    private final Path recordFile;
    private final PassLoop loop;
    private final Map<String, String> lastError = new HashMap<>();
    /** The driver was busy with a volume (ABORTED): look again soon rather than after a whole period. */
    private volatile boolean retrySoon;

    /**
     * @param reports where each snapshot's state goes (the agent's status reports)
     * @param forget  told (namespace, name) once a snapshot is deleted on the node
     */
    public VolumeSnapshots(PodVolumes volumes, DesiredStateStore desired, Consumer<VolumeSnapshotReport> reports,
                           BiConsumer<String, String> forget, Path volumesDir, Duration period) {
        this.volumes = volumes;
        this.desired = desired;
        this.reports = reports;
        this.forget = forget;
        this.recordFile = volumesDir.resolve("snapshots.properties");
        this.loop = new PassLoop("volume-snapshots", period, Duration.ofMillis(500), () -> {
            syncOnce();
            return retrySoon;
        });
        desired.addListener(this::trigger);
    }

    /** The CSI snapshot name of a task: stable per VolumeSnapshot resource. */
    public static String csiName(String namespace, VolumeSnapshotTask task) {
        return namespace + "-" + task.getName() + "-" + task.getUid();
    }

    public void start() {
        loop.start();
    }

    public void trigger() {
        loop.trigger();
    }

    /** One pass: take what is desired, delete what this agent took and is no longer desired. */
    void syncOnce() {
        retrySoon = false;
        DesiredState state = desired.current();
        Properties taken = readRecords();
        Map<String, Assignment> wanted = new HashMap<>();
        for (Assignment entry : state.volumeSnapshots().values()) {
            wanted.put(csiName(entry.getNamespace(), entry.getVolumeSnapshot()), entry);
        }
        for (Map.Entry<String, Assignment> e : wanted.entrySet()) {
            if (!loop.isRunning()) {
                return;
            }
            take(e.getKey(), e.getValue(), taken);
        }
        if (!state.complete()) {
            return; // never delete on the strength of a partial desired state
        }
        for (String name : taken.stringPropertyNames()) {
            if (!loop.isRunning() || wanted.containsKey(name)) {
                continue;
            }
            String[] record = taken.getProperty(name).split(",", 2);
            try {
                volumes.deleteSnapshot(record[0]);
                taken.remove(name);
                writeRecords(taken);
                LOG.info(() -> "deleted snapshot " + record[0] + " (" + name + "): no longer desired");
                if (record.length > 1 && record[1].contains("/")) {
                    String[] who = record[1].split("/", 2);
                    forget.accept(who[0], who[1]);
                }
            } catch (StatusRuntimeException | IllegalStateException | IOException e) {
                LOG.warning("cannot delete snapshot " + record[0] + " (" + name + "): " + e.getMessage() + "; retrying");
            }
        }
    }

    private void take(String name, Assignment entry, Properties taken) {
        VolumeSnapshotTask task = entry.getVolumeSnapshot();
        VolumeSnapshotReport.Builder report = VolumeSnapshotReport.newBuilder().setNamespace(entry.getNamespace())
                .setName(task.getName()).setUid(task.getUid());
        if (!volumes.hasDriver()) {
            reports.accept(report.setError("this agent has no storage driver").build());
            return;
        }
        try {
            long started = System.nanoTime();
            Snapshot snapshot = volumes.createSnapshot(name, task.getSourceVolumeId());
            String record = snapshot.getSnapshotId() + "," + entry.getNamespace() + "/" + task.getName();
            if (!record.equals(taken.getProperty(name))) {
                taken.setProperty(name, record);
                writeRecords(taken);
                LOG.info(() -> "snapshot " + entry.getNamespace() + "/" + task.getName() + " of volume " + task.getVolume()
                        + " taken as " + snapshot.getSnapshotId() + " (" + snapshot.getSizeBytes() + " bytes) in "
                        + (System.nanoTime() - started) / 1_000_000 + " ms");
            }
            lastError.remove(name);
            report.setReadyToUse(snapshot.getReadyToUse()).setSnapshotId(snapshot.getSnapshotId())
                    .setSizeBytes(snapshot.getSizeBytes());
            if (snapshot.hasCreationTime()) {
                report.setCreationTime(snapshot.getCreationTime());
            }
            reports.accept(report.build());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == io.grpc.Status.Code.ABORTED) {
                retrySoon = true; // another operation on the volume (e.g. its pod being set up): not an error
                return;
            }
            String message = "storage driver: " + e.getStatus().getCode() + " "
                    + (e.getStatus().getDescription() == null ? "" : e.getStatus().getDescription());
            if (!message.equals(lastError.put(name, message))) {
                LOG.warning("snapshot " + entry.getNamespace() + "/" + task.getName() + ": " + message);
            }
            reports.accept(report.setError(message).build());
        } catch (IOException e) {
            LOG.warning("cannot record snapshot " + name + " in " + recordFile + ": " + e.getMessage());
        }
    }

    private Properties readRecords() {
        Properties records = new Properties();
        if (Files.exists(recordFile)) {
            try (InputStream in = Files.newInputStream(recordFile)) {
                records.load(in);
            } catch (IOException e) {
                LOG.warning("cannot read " + recordFile + ": " + e.getMessage());
            }
        }
        return records;
    }

    private void writeRecords(Properties records) throws IOException {
        Files.createDirectories(recordFile.getParent());
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        records.store(out, "CSI snapshots this agent took: csi-name=snapshot-id,namespace/name");
        // Durable: a snapshot the agent took but forgot after a power cut would be leaked on the storage.
        DurableFiles.writeAtomically(recordFile, out.toByteArray(), DurableFiles.OWNER_ONLY);
    }

    @Override
    public void close() {
        loop.close(Duration.ofSeconds(10));
    }
}
