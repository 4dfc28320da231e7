package dev.edgeplane.agent.volumes;

import com.google.protobuf.Timestamp;
import dev.edgeplane.agent.io.DurableFiles;
import dev.edgeplane.agent.journal.DesiredState;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.api.PolicySnapshots;
import dev.edgeplane.api.schedule.CronSchedule;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.PolicySnapshotLedger;
import dev.edgeplane.api.v1.PolicySnapshotOrigin;
import dev.edgeplane.api.v1.PolicyVolume;
import dev.edgeplane.api.v1.VolumeSnapshotPolicyTask;
import dev.edgeplane.api.v1.VolumeSnapshotReport;
import dev.edgeplane.csi.v1.Snapshot;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * Runs the node's VolumeSnapshotPolicies (Assignment.volume_snapshot_policy) from its journal, online
 * or not: a scheduler thread computes each (policy, volume)'s next slot from the cron in the policy's
 * time zone ({@link CronSchedule}), sleeps until the earliest, takes the CSI snapshot, records it in
 * {@code <volumes-dir>/policy-snapshots.pb} ({@link PolicySnapshotLedger}) and reports it; then prunes
 * that volume's policy snapshots beyond keep_count or older than keep_age_seconds and reports them
 * deleted. Everything in the ledger is reported again at start, so what was taken or pruned offline,
 * or before a restart, reaches the control plane once it is connected.
 *
 * <p>Slots: the ledger keeps the last slot handled per (namespace, policy uid, volume), written before
 * the report goes out, so a restart never fires a slot twice (and the CSI name is derived from the slot,
 * so even a crash between CreateSnapshot and the ledger write yields the same snapshot, not a second).
 * A policy first seen starts from now (its first slot is the next one). Catch-up: a missed slot is fired
 * late only while the slot after it has not come yet (so at most the latest missed slot, within one
 * period of it); older missed slots are skipped. A suspended policy skips its slots (they are not made up).
 *
 * <p>Ownership: a policy's snapshots of a volume live while the node's entry for the policy lists the
 * volume; once a complete desired state no longer does (the policy was deleted, the volume no longer
 * selected), the node deletes them and reports them deleted. Snapshots taken by hand
 * ({@link VolumeSnapshots}) are never touched here.
 */
public final class VolumeSnapshotPolicies implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(VolumeSnapshotPolicies.class.getName());
    /** Pruned snapshots kept for reporting again after a reconnect; the oldest are dropped beyond this. */
    static final int MAX_TOMBSTONES = 1000;
    /** Missed slots skipped one by one at most this many times, then the cursor jumps to now. */
    private static final int MAX_SKIPS = 100_000;
    /** Look again at least this often (age retention, clock changes), and this soon after a busy driver. */
    private static final Duration IDLE = Duration.ofSeconds(30);
    private static final Duration BUSY_RETRY = Duration.ofMillis(500);

    /**
     * One firing, for the jitter benchmark and tests: the slot, when the node started taking the
     * snapshot (CSI CreateSnapshot called) and when it had it.
     */
    public record Firing(String namespace, String policy, String volume, Instant scheduled, Instant started, Instant taken) {}

    private final PodVolumes volumes;
    private final DesiredStateStore desired;
    private final Consumer<VolumeSnapshotReport> reports;
    private final Path ledgerFile;
    private final Clock clock;
    private final Object signal = new Object();
    private final Thread thread;
    private final List<Consumer<Firing>> firingListeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile boolean running;
    private volatile boolean closed;
    private boolean pending;
    /** Owned by the scheduler thread (and the constructor). */
    private PolicySnapshotLedger.Builder ledger;

    public VolumeSnapshotPolicies(PodVolumes volumes, DesiredStateStore desired, Consumer<VolumeSnapshotReport> reports,
                                  Path volumesDir, Clock clock) {
        this.volumes = volumes;
        this.desired = desired;
        this.reports = reports;
        this.ledgerFile = volumesDir.resolve("policy-snapshots.pb");
        this.clock = clock;
        this.ledger = readLedger();
        this.thread = new Thread(this::run, "volume-snapshot-policies");
        this.thread.setDaemon(true);
        desired.addListener(this::trigger);
    }

    /** The CSI snapshot name of a policy firing: unique per policy (uid), volume and slot. */
    public static String csiName(String namespace, String snapshotName, String policyUid) {
        return namespace + "-" + snapshotName + "-" + policyUid;
    }

    public void start() {
        ledger.getSnapshotsList().forEach(reports); // what was taken or pruned before: reported (again) when connected
        running = true;
        thread.start();
    }

    public void trigger() {
        synchronized (signal) {
            pending = true;
            signal.notifyAll();
        }
    }

    /** Tells {@code listener} of every firing (benchmarks, tests). */
    public void onFiring(Consumer<Firing> listener) {
        firingListeners.add(listener);
    }

    /** The policy snapshots on the node now (not pruned), oldest first. */
    public synchronized List<VolumeSnapshotReport> held() {
        return ledger.getSnapshotsList().stream().filter(r -> !r.getDeleted())
                .sorted(Comparator.comparing(r -> r.getPolicy().getScheduledTime().getSeconds())).toList();
    }

    private void run() {
        while (running) {
            Duration wait;
            try {
                wait = passOnce();
            } catch (RuntimeException e) {
                LOG.warning("snapshot policy pass failed: " + e);
                wait = IDLE;
            }
            synchronized (signal) {
                if (!pending && running && !wait.isNegative() && !wait.isZero()) {
                    try {
                        long millis = Math.max(1, wait.toMillis());
                        signal.wait(millis);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
                pending = false;
            }
        }
    }

    /** One pass: fire what is due, prune, drop what is no longer ours; returns how long until the next slot. */
    synchronized Duration passOnce() {
        DesiredState state = desired.current();
        Instant now = clock.instant();
        Instant wake = now.plus(IDLE);
        Set<String> targets = new HashSet<>();
        for (Assignment entry : state.snapshotPolicies().values()) {
            VolumeSnapshotPolicyTask task = entry.getVolumeSnapshotPolicy();
            // Listed volumes stay this policy's even when it cannot fire: only the control plane's word removes them.
            task.getVolumesList().forEach(v -> targets.add(cursorKey(entry.getNamespace(), task.getUid(), v.getName())));
            CronSchedule schedule;
            try {
                schedule = CronSchedule.parse(task.getSchedule(), task.getTimeZone());
            } catch (CronSchedule.InvalidCronException e) {
                LOG.warning("snapshot policy " + entry.getNamespace() + "/" + task.getName() + ": " + e.getMessage() + "; not fired");
                continue;
            }
            for (PolicyVolume volume : task.getVolumesList()) {
                if (closed) {
                    return Duration.ZERO;
                }
                Instant next = handle(entry.getNamespace(), task, volume, schedule);
                if (next == null) {
                    wake = now.plus(BUSY_RETRY);
                } else if (next.isBefore(wake)) {
                    wake = next;
                }
            }
        }
        if (state.complete()) {
            release(targets);
        }
        return Duration.between(clock.instant(), wake);
    }

    private static String cursorKey(String namespace, String policyUid, String volume) {
        return namespace + "/" + policyUid + "/" + volume;
    }

    /**
     * Fires the volume's due slot if any, prunes; returns the next slot to wake for (null: the driver
     * was busy, look again soon).
     */
    private Instant handle(String namespace, VolumeSnapshotPolicyTask task, PolicyVolume volume, CronSchedule schedule) {
        String key = cursorKey(namespace, task.getUid(), volume.getName());
        Instant now = clock.instant();
        if (!ledger.containsLastSlots(key)) {
            ledger.putLastSlots(key, now.getEpochSecond()); // first seen: from the next slot on
            persist();
        }
        Instant cursor = Instant.ofEpochSecond(ledger.getLastSlotsOrThrow(key));
        int skips = 0;
        while (true) {
            Optional<Instant> slot = schedule.next(cursor);
            if (slot.isEmpty()) {
                advance(key, cursor);
                return now.plus(IDLE);
            }
            if (slot.get().isAfter(now)) {
                advance(key, cursor); // skipped slots, if any
                prune(namespace, task, volume, now);
                return slot.get();
            }
            Optional<Instant> following = schedule.next(slot.get());
            boolean stale = following.isPresent() && !following.get().isAfter(now); // the next slot has come too
            if (stale || task.getSuspend()) {
                cursor = ++skips >= MAX_SKIPS ? now : slot.get();
                continue;
            }
            advance(key, cursor);
            Boolean taken = fire(namespace, task, volume, slot.get());
            if (taken == null) {
                return null;
            }
            advance(key, slot.get()); // taken or given up: never fired again
            cursor = slot.get();
            skips = 0;
            now = clock.instant();
        }
    }

    private void advance(String key, Instant slot) {
        if (ledger.getLastSlotsOrDefault(key, Long.MIN_VALUE) < slot.getEpochSecond()) {
            ledger.putLastSlots(key, slot.getEpochSecond());
            persist();
        }
    }

    /** Takes the slot's snapshot: true when taken, false when the driver failed (the slot is given up), null when busy. */
    private Boolean fire(String namespace, VolumeSnapshotPolicyTask task, PolicyVolume volume, Instant slot) {
        String name = PolicySnapshots.name(task.getName(), volume.getName(), slot);
        String uid = PolicySnapshots.uid(task.getUid(), volume.getName(), slot);
        String csiName = csiName(namespace, name, task.getUid());
        if (!volumes.hasDriver()) {
            LOG.warning("snapshot policy " + namespace + "/" + task.getName() + ": this agent has no storage driver");
            return false;
        }
        try {
            Instant started = clock.instant();
            Snapshot snapshot = volumes.createSnapshot(csiName, volume.getVolumeId());
            Instant taken = clock.instant();
            VolumeSnapshotReport.Builder report = VolumeSnapshotReport.newBuilder().setNamespace(namespace).setName(name).setUid(uid)
                    .setReadyToUse(snapshot.getReadyToUse()).setSnapshotId(snapshot.getSnapshotId()).setSizeBytes(snapshot.getSizeBytes())
                    .setPolicy(PolicySnapshotOrigin.newBuilder().setPolicy(task.getName()).setPolicyUid(task.getUid())
                            .setVolume(volume.getName()).setScheduledTime(timestamp(slot)).setStorageClass(volume.getStorageClass()));
            if (snapshot.hasCreationTime()) {
                report.setCreationTime(snapshot.getCreationTime());
            }
            record(report.build());
            LOG.info(() -> "snapshot policy " + namespace + "/" + task.getName() + " took " + name + " of volume " + volume.getName()
                    + " as " + snapshot.getSnapshotId() + " (slot " + slot + ", " + Duration.between(slot, taken).toMillis() + " ms late)");
            Firing firing = new Firing(namespace, task.getName(), volume.getName(), slot, started, taken);
            firingListeners.forEach(l -> l.accept(firing));
            return true;
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == io.grpc.Status.Code.ABORTED) {
                return null; // another operation on the volume (its pod being set up): try again shortly
            }
            LOG.warning("snapshot policy " + namespace + "/" + task.getName() + ": volume " + volume.getName() + " slot " + slot
                    + " not taken: storage driver " + e.getStatus().getCode() + " " + e.getStatus().getDescription());
            return false;
        }
    }

    /** Deletes the volume's policy snapshots beyond keep_count (oldest first) or older than keep_age_seconds. */
    private void prune(String namespace, VolumeSnapshotPolicyTask task, PolicyVolume volume, Instant now) {
        List<VolumeSnapshotReport> mine = new ArrayList<>();
        for (VolumeSnapshotReport r : ledger.getSnapshotsList()) {
            if (!r.getDeleted() && r.getNamespace().equals(namespace) && r.getPolicy().getPolicyUid().equals(task.getUid())
                    && r.getPolicy().getVolume().equals(volume.getName())) {
                mine.add(r);
            }
        }
        mine.sort(Comparator.comparing((VolumeSnapshotReport r) -> r.getPolicy().getScheduledTime().getSeconds()).reversed());
        for (int i = 0; i < mine.size(); i++) {
            VolumeSnapshotReport r = mine.get(i);
            boolean beyondCount = task.getKeepCount() > 0 && i >= task.getKeepCount();
            boolean tooOld = task.getKeepAgeSeconds() > 0
                    && r.getPolicy().getScheduledTime().getSeconds() < now.getEpochSecond() - task.getKeepAgeSeconds();
            if (beyondCount || tooOld) {
                delete(r, beyondCount ? "beyond keep_count " + task.getKeepCount() : "older than keep_age_seconds " + task.getKeepAgeSeconds());
            }
        }
    }

    /** A complete desired state no longer lists these volumes for their policies: their snapshots go. */
    private void release(Set<String> targets) {
        for (VolumeSnapshotReport r : List.copyOf(ledger.getSnapshotsList())) {
            if (!r.getDeleted() && !targets.contains(cursorKey(r.getNamespace(), r.getPolicy().getPolicyUid(), r.getPolicy().getVolume()))) {
                delete(r, "its policy " + r.getPolicy().getPolicy() + " no longer covers volume " + r.getPolicy().getVolume() + " here");
            }
        }
        boolean dropped = false;
        for (String key : List.copyOf(ledger.getLastSlotsMap().keySet())) {
            if (!targets.contains(key)) {
                ledger.removeLastSlots(key);
                dropped = true;
            }
        }
        if (dropped) {
            persist();
        }
    }

    private void delete(VolumeSnapshotReport r, String why) {
        try {
            volumes.deleteSnapshot(r.getSnapshotId());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != io.grpc.Status.Code.NOT_FOUND) {
                LOG.warning("cannot delete policy snapshot " + r.getNamespace() + "/" + r.getName() + ": " + e.getStatus() + "; retrying");
                return;
            }
        }
        VolumeSnapshotReport tombstone = r.toBuilder().setDeleted(true).setReadyToUse(false).build();
        record(tombstone);
        LOG.info(() -> "deleted policy snapshot " + r.getNamespace() + "/" + r.getName() + " (" + r.getSnapshotId() + "): " + why);
    }

    /** Puts the report in the ledger (replacing the same snapshot's), durably, then reports it. */
    private void record(VolumeSnapshotReport report) {
        List<VolumeSnapshotReport> kept = new ArrayList<>();
        for (VolumeSnapshotReport r : ledger.getSnapshotsList()) {
            if (!(r.getNamespace().equals(report.getNamespace()) && r.getName().equals(report.getName()))) {
                kept.add(r);
            }
        }
        kept.add(report);
        List<VolumeSnapshotReport> tombstones = kept.stream().filter(VolumeSnapshotReport::getDeleted)
                .sorted(Comparator.comparing(r -> r.getPolicy().getScheduledTime().getSeconds())).toList();
        if (tombstones.size() > MAX_TOMBSTONES) {
            kept.removeAll(tombstones.subList(0, tombstones.size() - MAX_TOMBSTONES));
        }
        ledger.clearSnapshots().addAllSnapshots(kept);
        persist();
        reports.accept(report);
    }

    private static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder().setSeconds(instant.getEpochSecond()).setNanos(instant.getNano()).build();
    }

    private PolicySnapshotLedger.Builder readLedger() {
        if (Files.exists(ledgerFile)) {
            try (InputStream in = Files.newInputStream(ledgerFile)) {
                return PolicySnapshotLedger.parseFrom(in).toBuilder();
            } catch (IOException e) {
                LOG.severe("cannot read " + ledgerFile + " (" + e.getMessage() + "): policy snapshots start from an empty record");
            }
        }
        return PolicySnapshotLedger.newBuilder();
    }

    /** Writes the ledger durably: a crash leaves the old or the new one. */
    private void persist() {
        try {
            Files.createDirectories(ledgerFile.getParent());
            DurableFiles.writeAtomically(ledgerFile, ledger.build().toByteArray(), DurableFiles.OWNER_ONLY);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot write " + ledgerFile, e);
        }
    }

    @Override
    public void close() {
        closed = true;
        running = false;
        trigger();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
