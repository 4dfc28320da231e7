package dev.edgeplane.agent.status;

import com.google.protobuf.Timestamp;
import dev.edgeplane.agent.journal.DesiredState;
import dev.edgeplane.api.v1.ImagePullReport;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.api.v1.VolumeReport;
import dev.edgeplane.api.v1.VolumeSnapshotReport;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The replica statuses the agent has observed, and which of them the control plane has not heard
 * yet. Pod workers {@link #update} it; the sync client takes changes (or everything after a
 * reconnect). A status only counts as changed when something other than its update time changed.
 * The state of the node's volumes and snapshots ({@link #updateVolume}, {@link #updateSnapshot})
 * travels in the same reports, and so does the progress of image pull entries ({@link #updateImagePull}).
 */
public final class StatusManager {
    /** What changed since the last take. */
    public record Changes(List<ReplicaStatus> changed, List<String> removed, List<VolumeReport> volumes,
                          List<VolumeSnapshotReport> snapshots, List<ImagePullReport> imagePulls,
                          List<dev.edgeplane.api.v1.CronJobRunReport> cronJobRuns) {
        public Changes(List<ReplicaStatus> changed, List<String> removed) {
            this(changed, removed, List.of(), List.of(), List.of(), List.of());
        }

        public boolean isEmpty() {
            return changed.isEmpty() && removed.isEmpty() && volumes.isEmpty() && snapshots.isEmpty() && imagePulls.isEmpty()
                    && cronJobRuns.isEmpty();
        }
    }

    private final Clock clock;
    private final Map<String, ReplicaStatus> statuses = new TreeMap<>();
    private final Set<String> dirty = new LinkedHashSet<>();
    private final Set<String> removed = new LinkedHashSet<>();
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private final Map<String, VolumeReport> volumes = new TreeMap<>();
    private final Set<String> dirtyVolumes = new LinkedHashSet<>();
    private final Map<String, VolumeSnapshotReport> snapshots = new TreeMap<>();
    private final Set<String> dirtySnapshots = new LinkedHashSet<>();
    private final Map<String, ImagePullReport> imagePulls = new TreeMap<>();
    private final Set<String> dirtyImagePulls = new LinkedHashSet<>();
    /** run_on_edge CronJob runs the node keeps (by namespace/replica), reported until forgotten. */
    private final Map<String, dev.edgeplane.api.v1.CronJobRunReport> cronJobRuns = new TreeMap<>();
    private final Set<String> dirtyCronJobRuns = new LinkedHashSet<>();

    public StatusManager(Clock clock) {
        this.clock = clock;
    }

    /** Starts from the statuses last recorded in the journal (reported in the first full report). */
    public synchronized void seed(List<ReplicaStatus> lastKnown) {
        for (ReplicaStatus status : lastKnown) {
            statuses.putIfAbsent(DesiredState.key(status.getNamespace(), status.getName()), status);
        }
    }

    public void addListener(Runnable listener) {
        listeners.add(listener);
    }

    public void update(String key, ReplicaStatus status) {
        boolean changed;
        synchronized (this) {
            ReplicaStatus previous = statuses.get(key);
            changed = previous == null || !withoutTime(previous).equals(withoutTime(status));
            if (changed) {
                Instant now = clock.instant();
                Timestamp stamp = Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()).build();
                // Kubernetes' lastTransitionTime of the Ready condition: kept until `ready` flips.
                Timestamp readySince = previous != null && previous.getReady() == status.getReady() && previous.hasReadyTransitionTime()
                        ? previous.getReadyTransitionTime() : stamp;
                statuses.put(key, status.toBuilder().setUpdateTime(stamp).setReadyTransitionTime(readySince).build());
                dirty.add(key);
                removed.remove(key);
            }
        }
        if (changed) {
            listeners.forEach(Runnable::run);
        }
    }

    public void remove(String key) {
        boolean changed;
        synchronized (this) {
            changed = statuses.remove(key) != null;
            dirty.remove(key);
            if (changed) {
                removed.add(key);
            }
        }
        if (changed) {
            listeners.forEach(Runnable::run);
        }
    }

    /** Drops statuses of replicas that are neither desired nor running (e.g. seeded from an old journal). */
    public synchronized void retainOnly(Set<String> keys) {
        for (String key : new ArrayList<>(statuses.keySet())) {
            if (!keys.contains(key)) {
                statuses.remove(key);
                dirty.remove(key);
                removed.add(key);
            }
        }
    }

    public synchronized ReplicaStatus get(String key) {
        return statuses.get(key);
    }

    public synchronized List<ReplicaStatus> all() {
        return List.copyOf(statuses.values());
    }

    /** Everything, for a full report; clears the pending changes. */
    public synchronized List<ReplicaStatus> takeAll() {
        dirty.clear();
        removed.clear();
        return List.copyOf(statuses.values());
    }

    /** The report after (re)connecting: every replica (full), volume and snapshot; clears the pending changes. */
    public synchronized StatusReport takeFullReport() {
        dirtyVolumes.clear();
        dirtySnapshots.clear();
        dirtyImagePulls.clear();
        dirtyCronJobRuns.clear();
        return StatusReport.newBuilder().addAllReplicas(takeAll()).setFull(true)
                .addAllVolumes(volumes.values()).addAllSnapshots(snapshots.values()).addAllImagePulls(imagePulls.values())
                .addAllCronJobRuns(cronJobRuns.values()).build();
    }

    /** What the node's storage driver did with a Volume (keyed by namespace/name; changes only). */
    public synchronized void updateVolume(VolumeReport report) {
        String key = DesiredState.key(report.getNamespace(), report.getName());
        VolumeReport previous = volumes.get(key);
        if (previous == null || !withoutTime(previous).equals(withoutTime(report))) {
            volumes.put(key, report);
            dirtyVolumes.add(key);
        }
    }

    /** What the node's storage driver did with a VolumeSnapshot (keyed by namespace/name; changes only). */
    public synchronized void updateSnapshot(VolumeSnapshotReport report) {
        String key = DesiredState.key(report.getNamespace(), report.getName());
        if (!report.equals(snapshots.get(key))) {
            snapshots.put(key, report);
            dirtySnapshots.add(key);
        }
    }

    /** How an image pull entry (namespace/name of its ImagePrefetch) is getting on (changes only). */
    public void updateImagePull(ImagePullReport report) {
        boolean changed;
        synchronized (this) {
            String key = DesiredState.key(report.getNamespace(), report.getName());
            changed = !report.equals(imagePulls.get(key));
            if (changed) {
                imagePulls.put(key, report);
                dirtyImagePulls.add(key);
            }
        }
        if (changed) {
            listeners.forEach(Runnable::run);
        }
    }

    /** A run_on_edge CronJob run that started or changed (changes only). */
    public void updateCronJobRun(dev.edgeplane.api.v1.CronJobRunReport report) {
        boolean changed;
        synchronized (this) {
            String key = DesiredState.key(report.getNamespace(), report.getReplica());
            changed = !report.equals(cronJobRuns.get(key));
            if (changed) {
                cronJobRuns.put(key, report);
                dirtyCronJobRuns.add(key);
            }
        }
        if (changed) {
            listeners.forEach(Runnable::run);
        }
    }

    /** A run the node no longer keeps (beyond the history limits, or its CronJob gone): nothing more to say. */
    public synchronized void forgetCronJobRun(String namespace, String replica) {
        String key = DesiredState.key(namespace, replica);
        cronJobRuns.remove(key);
        dirtyCronJobRuns.remove(key);
    }

    /** An image pull entry gone from the desired state: nothing more to say about it. */
    public synchronized void forgetImagePull(String namespace, String name) {
        String key = DesiredState.key(namespace, name);
        imagePulls.remove(key);
        dirtyImagePulls.remove(key);
    }

    /** A snapshot deleted on the node: nothing more to say about it. */
    public synchronized void forgetSnapshot(String namespace, String name) {
        String key = DesiredState.key(namespace, name);
        snapshots.remove(key);
        dirtySnapshots.remove(key);
    }

    /** A volume deleted on the node and removed by the control plane: nothing more to say about it. */
    public synchronized void forgetVolume(String namespace, String name) {
        String key = DesiredState.key(namespace, name);
        volumes.remove(key);
        dirtyVolumes.remove(key);
    }

    private static VolumeReport withoutTime(VolumeReport report) {
        return report.toBuilder().setStatus(report.getStatus().toBuilder().clearUpdateTime()).build();
    }

    public synchronized Changes takeChanges() {
        List<ReplicaStatus> changed = new ArrayList<>();
        for (String key : dirty) {
            ReplicaStatus status = statuses.get(key);
            if (status != null) {
                changed.add(status);
            }
        }
        Changes changes = new Changes(changed, List.copyOf(removed),
                dirtyVolumes.stream().map(volumes::get).filter(java.util.Objects::nonNull).toList(),
                dirtySnapshots.stream().map(snapshots::get).filter(java.util.Objects::nonNull).toList(),
                dirtyImagePulls.stream().map(imagePulls::get).filter(java.util.Objects::nonNull).toList(),
                dirtyCronJobRuns.stream().map(cronJobRuns::get).filter(java.util.Objects::nonNull).toList());
        dirtyCronJobRuns.clear();
        dirty.clear();
        dirtyImagePulls.clear();
        removed.clear();
        dirtyVolumes.clear();
        dirtySnapshots.clear();
        return changes;
    }

    /** Replica changes waiting for the next report (agent_queue_length{queue=status}). */
    public synchronized int pending() {
        return dirty.size() + removed.size();
    }

    public synchronized int running() {
        return (int) statuses.values().stream().filter(s -> s.getPhase() == ReplicaStatus.Phase.RUNNING).count();
    }

    private static ReplicaStatus withoutTime(ReplicaStatus status) {
        return status.toBuilder().clearUpdateTime().clearReadyTransitionTime().build();
    }
}
